//! What a terminal needs to connect: where, whom to trust, who it is, who signs in.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::Error;

/// How the officer signs in.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Officer id and password (the first sign-in of a shift). After the
    /// server answers, the SDK keeps only the session token it issued.
    Password {
        /// Directory id.
        officer_id: String,
        /// Password.
        password: String,
    },
    /// A session token from an earlier sign-in on this device.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Credentials::Password { officer_id, .. } => write!(f, "Password({officer_id}, ***)"),
            Credentials::Token(_) => write!(f, "Token(***)"),
        }
    }
}

/// Retries of one request after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts_max: u32,
    /// Wait before the second attempt; doubles each time (with jitter).
    pub backoff_initial: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts_max: 6,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Which transport a terminal uses to reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// QUIC first; TCP beside it when no QUIC handshake completes within
    /// [`ClientConfig::tcp_fallback_after`] (happy eyeballs). The one that
    /// worked is remembered per network, and QUIC is tried again after
    /// [`ClientConfig::quic_retry_after`].
    #[default]
    Auto,
    /// QUIC only.
    Quic,
    /// TLS 1.3 and HTTP/2 on TCP only.
    Tcp,
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Transport::Auto),
            "quic" => Ok(Transport::Quic),
            "tcp" => Ok(Transport::Tcp),
            other => Err(format!("unknown transport {other:?} (auto, quic or tcp)")),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Auto => "auto",
            Transport::Quic => "quic",
            Transport::Tcp => "tcp",
        })
    }
}

/// Connection settings of a terminal.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's UDP address.
    pub server_addr: SocketAddr,
    /// The name on the server's certificate (e.g. `localhost`).
    pub server_name: String,
    /// The agency CA certificate(s), PEM.
    pub ca_pem: Vec<u8>,
    /// This device's certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// This device's private key, PEM.
    pub key_pem: Vec<u8>,
    /// The officer's sign-in.
    pub credentials: Credentials,
    /// Retries after retryable failures.
    pub retry: RetryPolicy,
    /// Deadline for the QUIC handshake plus hello.
    pub connect_timeout: Duration,
    /// Deadline for one request's answer.
    pub request_timeout: Duration,
    /// Keep-alive interval, so NAT bindings and the idle timeout don't close a quiet session.
    pub keep_alive: Duration,
    /// Idle timeout the terminal proposes.
    pub idle_timeout: Duration,
    /// UDP socket send and receive buffer, bytes.
    pub udp_buffer_bytes: usize,
    /// Other addresses of the same service, tried in order when the current
    /// one cannot be reached (several server nodes).
    pub fallback_addrs: Vec<SocketAddr>,
    /// QUIC, TCP, or QUIC with a TCP fallback (the default).
    pub transport: Transport,
    /// The server's TCP address (fieldlink/1 over TLS and HTTP/2). None:
    /// the same address and port as `server_addr` (and each fallback's own).
    pub tcp_addr: Option<SocketAddr>,
    /// How long a QUIC handshake may go unanswered before TCP is tried
    /// beside it (with [`Transport::Auto`]).
    pub tcp_fallback_after: Duration,
    /// While on TCP, how long before QUIC is tried again (with
    /// [`Transport::Auto`]); until then a network where QUIC failed goes
    /// straight to TCP.
    pub quic_retry_after: Duration,
    /// For simulations and tests: drop this share (0.0–1.0) of outgoing UDP
    /// datagrams, as a lossy radio link would. 0 in real use.
    pub simulated_send_loss: f64,
    /// The transparency log to trust: its verifier key and origin. Without
    /// it, [`crate::Client::inclusion_proof`] refuses to run.
    pub log: Option<LogTrust>,
    /// Sign every item with the device key (a capture signature,
    /// docs/protocol.md §10b). On by default; the key must be ECDSA P-256
    /// or Ed25519.
    pub sign_captures: bool,
}

/// The transparency log a terminal trusts (the server's `log-key` output
/// and its `log_origin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTrust {
    /// The log's signed-note verifier key (`name+id+base64`).
    pub verifier_key: String,
    /// The log's origin, the first line of its checkpoints.
    pub origin: String,
    /// Witnesses (cosignature verifier keys) whose cosignature every
    /// checkpoint must carry (docs/operations.md, "Witnesses"); none by
    /// default.
    pub witnesses: Vec<String>,
}

impl LogTrust {
    /// Reads the verifier key from a file (e.g. certs-dev/log.pub).
    pub fn from_file(verifier_key: &Path, origin: &str) -> Result<Self, Error> {
        let text = std::fs::read_to_string(verifier_key)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", verifier_key.display())))?;
        Ok(Self {
            verifier_key: text.trim().to_owned(),
            origin: origin.to_owned(),
            witnesses: Vec::new(),
        })
    }

    /// Also requires the cosignature of the witness whose verifier key is
    /// in `witness_key` (a file, e.g. the witness's `witness.pub`).
    pub fn require_witness(mut self, witness_key: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(witness_key)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", witness_key.display())))?;
        fieldlink_protocol::cosignature::CosignatureVerifier::new(text.trim())
            .map_err(|e| Error::Config(format!("{}: {e}", witness_key.display())))?;
        self.witnesses.push(text.trim().to_owned());
        Ok(self)
    }
}

impl ClientConfig {
    /// A configuration from PEM files on disk, with default timeouts and retries.
    pub fn from_files(
        server_addr: SocketAddr,
        server_name: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
        credentials: Credentials,
    ) -> Result<Self, Error> {
        let read =
            |path: &Path| std::fs::read(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())));
        Ok(Self {
            server_addr,
            server_name: server_name.to_owned(),
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            credentials,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            udp_buffer_bytes: 4 * 1024 * 1024,
            fallback_addrs: Vec::new(),
            transport: Transport::Auto,
            tcp_addr: None,
            tcp_fallback_after: Duration::from_secs(1),
            quic_retry_after: Duration::from_secs(300),
            simulated_send_loss: 0.0,
            log: None,
            sign_captures: true,
        })
    }
}
