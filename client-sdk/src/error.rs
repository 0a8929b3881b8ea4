//! The SDK's one error type. Every error says whether retrying can help.

use fieldlink_protocol::pb;

/// Why an SDK call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable (unreadable certificate, bad key). Fix it; retrying won't help.
    #[error("configuration: {0}")]
    Config(String),
    /// The TLS handshake was refused: the device certificate is missing,
    /// unknown, revoked, or the server's certificate is not trusted. Retrying won't help.
    #[error("authentication refused during the TLS handshake: {0}")]
    Authentication(String),
    /// The server refused the officer's sign-in (wrong password, expired or
    /// revoked token, unsupported protocol version). Not retryable as is.
    #[error("sign-in refused: {0}")]
    SignInRefused(Box<pb::Status>),
    /// The server refused the request with a typed status. Retryable when the status says so.
    #[error("refused by server: {0}")]
    Rejected(Box<pb::Status>),
    /// The connection could not be made or was lost. Retrying can help.
    #[error("connection: {0}")]
    Connection(String),
    /// No server answered the connection attempt within the connect
    /// timeout: it is down, or the network is (offline, UDP blocked).
    /// Retrying later can help; [`crate::Client::network_changed`] says
    /// when it is worth trying again sooner.
    #[error("no server reachable: {0}")]
    Unreachable(String),
    /// A connected server gave no answer within the deadline. Retrying (the
    /// same item id) can help.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The server broke the protocol (undecodable answer). Not retryable.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A log proof or checkpoint did not verify (bad signature, a proof
    /// that does not lead to the root). Not retryable.
    #[error("the transparency log's proof does not verify: {0}")]
    LogProof(String),
    /// The server's log forked or shrank: a checkpoint does not extend the
    /// newest one this client verified. Evidence of tampering; not retryable.
    #[error("the transparency log was rewritten: {0}")]
    LogForked(String),
    /// The checkpoint lacks the cosignature of a witness this client
    /// requires ([`crate::LogTrust::witnesses`]). Witnesses cosign within
    /// seconds of a checkpoint: retry later. If it persists, a witness has
    /// refused the log (see the server's `fieldlink_witness_refusals_total`).
    #[error("the checkpoint is not cosigned by a required witness: {0}")]
    NotCosigned(String),
}

impl Error {
    /// Whether sending the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connection(_) | Error::Unreachable(_) | Error::Timeout(_) | Error::NotCosigned(_) => true,
            Error::Rejected(status) => status.retryable,
            Error::Config(_)
            | Error::Authentication(_)
            | Error::SignInRefused(_)
            | Error::Protocol(_)
            | Error::LogProof(_)
            | Error::LogForked(_) => false,
        }
    }

    /// The server's status, when the server refused.
    pub fn status(&self) -> Option<&pb::Status> {
        match self {
            Error::SignInRefused(status) | Error::Rejected(status) => Some(status),
            _ => None,
        }
    }

    /// How long the server asked us to wait before retrying, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.status()
            .filter(|s| s.retry_after_ms > 0)
            .map(|s| std::time::Duration::from_millis(s.retry_after_ms))
    }
}

/// Classifies a lost connection: a TLS alert (QUIC crypto error
/// 0x100-0x1ff, RFC 9001 §4.8) means the handshake was refused.
pub(crate) fn from_connection_error(error: &quinn::ConnectionError) -> Error {
    let crypto_code = |code: u64| (0x100..0x200).contains(&code);
    match error {
        quinn::ConnectionError::ConnectionClosed(close) if crypto_code(u64::from(close.error_code)) => {
            Error::Authentication(format!("the server refused the handshake ({close})"))
        }
        quinn::ConnectionError::TransportError(transport) if crypto_code(u64::from(transport.code)) => {
            Error::Authentication(format!("the handshake failed ({transport})"))
        }
        quinn::ConnectionError::TimedOut => Error::Connection("timed out".into()),
        other => Error::Connection(other.to_string()),
    }
}
