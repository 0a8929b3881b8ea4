//! [`Client`]: one terminal's connection to the server, re-established on demand.

use std::time::Duration;

use fieldlink_protocol::frame;
use fieldlink_protocol::io::read_frame;
use fieldlink_protocol::pb::{self, request::Body, response};
use prost::Message;
use tokio::sync::Mutex;

use crate::config::{ClientConfig, Credentials};
use crate::connection::{self, read_error, stream_error, Session, RESPONSE_FRAME_BYTES_MAX};
use crate::Error;

/// A terminal's client.
///
/// Each request travels on its own QUIC stream; many may be in flight at once
/// (`Client` is `Sync`, share it behind an `Arc`). When the connection drops,
/// the next request reconnects (signing in with the session token), and a
/// request whose answer was lost is resent with exactly the same bytes: the
/// server answers a resend with the original receipt.
pub struct Client {
    config: ClientConfig,
    quic: quinn::ClientConfig,
    endpoint: quinn::Endpoint,
    state: Mutex<State>,
}

struct State {
    credentials: Credentials,
    session: Option<Session>,
}

impl Client {
    /// Connects and signs in. Fails without retrying when the handshake or
    /// the sign-in is refused.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), fieldlink_client::Error> {
    /// use fieldlink_client::{Client, ClientConfig, Credentials};
    /// use std::path::Path;
    ///
    /// let config = ClientConfig::from_files(
    ///     "127.0.0.1:4433".parse().unwrap(),
    ///     "localhost",
    ///     Path::new("certs-dev/ca.pem"),
    ///     Path::new("certs-dev/device-001.pem"),
    ///     Path::new("certs-dev/device-001.key"),
    ///     Credentials::Password { officer_id: "officer-01".into(), password: "demo-password".into() },
    /// )?;
    /// let client = Client::connect(config).await?;
    /// let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    /// let receipt = client.submit_inspection(&record).await?;
    /// println!("stored as #{}", receipt.server_seq);
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let quic = connection::quic_client_config(&config)?;
        let endpoint = connection::client_endpoint(config.server_addr, config.udp_buffer_bytes)?;
        let client = Self {
            state: Mutex::new(State {
                credentials: config.credentials.clone(),
                session: None,
            }),
            config,
            quic,
            endpoint,
        };
        client.connection().await?;
        Ok(client)
    }

    /// The server's welcome on the current (or last) session: officer profile and limits.
    pub async fn welcome(&self) -> Option<pb::Welcome> {
        self.state
            .lock()
            .await
            .session
            .as_ref()
            .map(|s| s.welcome.clone())
    }

    /// Stores an inspection record; returns its receipt once it is durably stored.
    ///
    /// The record is encoded once; retries after a lost connection resend the
    /// same bytes, so the receipt (and its SHA-256) is that of the first
    /// stored copy (`replayed` is then true).
    pub async fn submit_inspection(&self, record: &pb::InspectionRecord) -> Result<pb::Receipt, Error> {
        let request = pb::Request {
            body: Some(Body::SubmitInspection(record.clone())),
        };
        self.send_with_retry(&frame::encode(&request)).await
    }

    /// Closes the current connection (e.g. the app knows its network went
    /// away). The next request connects again.
    pub async fn disconnect(&self) {
        if let Some(session) = self.state.lock().await.session.take() {
            session.connection.close(
                fieldlink_protocol::close_code::NORMAL.into(),
                b"client disconnect",
            );
        }
    }

    /// Closes the connection and waits until the server has been told.
    pub async fn close(self) {
        self.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }

    async fn send_with_retry(&self, request_frame: &[u8]) -> Result<pb::Receipt, Error> {
        let policy = self.config.retry;
        let mut backoff = policy.backoff_initial;
        let mut attempt = 1;
        loop {
            let error = match self.send_once(request_frame).await {
                Ok(receipt) => return Ok(receipt),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= policy.attempts_max {
                return Err(error);
            }
            let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
            let wait = error.retry_after().unwrap_or(backoff).max(backoff / 2) + jitter;
            tracing::debug!(%error, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(policy.backoff_max);
            attempt += 1;
        }
    }

    async fn send_once(&self, request_frame: &[u8]) -> Result<pb::Receipt, Error> {
        let connection = self.connection().await?;
        let exchange = async {
            let (mut send, mut recv) = connection
                .open_bi()
                .await
                .map_err(|e| stream_error(&connection, e))?;
            send.write_all(request_frame)
                .await
                .map_err(|e| stream_error(&connection, e))?;
            send.finish().map_err(|e| stream_error(&connection, e))?;
            let body = read_frame(&mut recv, RESPONSE_FRAME_BYTES_MAX)
                .await
                .map_err(|e| read_error(&connection, e))?;
            let response =
                pb::Response::decode(body.as_slice()).map_err(|e| Error::Protocol(e.to_string()))?;
            match response.result {
                Some(response::Result::Receipt(receipt)) => Ok(receipt),
                Some(response::Result::Error(status)) => Err(Error::Rejected(Box::new(status))),
                None => Err(Error::Protocol("empty response".into())),
            }
        };
        let result = match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout("no response within the request timeout")),
        };
        if matches!(result, Err(Error::Connection(_) | Error::Timeout(_))) {
            self.forget(&connection).await;
        }
        result
    }

    /// The live connection, connecting (and signing in) if there is none.
    async fn connection(&self) -> Result<quinn::Connection, Error> {
        let mut state = self.state.lock().await;
        if let Some(session) = &state.session {
            if session.connection.close_reason().is_none() {
                return Ok(session.connection.clone());
            }
        }
        state.session = None;
        let session = tokio::time::timeout(
            self.config.connect_timeout,
            connection::open_session(&self.endpoint, &self.quic, &self.config, &state.credentials),
        )
        .await
        .map_err(|_| Error::Timeout("no session within the connect timeout"))??;
        if !session.welcome.session_token.is_empty() {
            // From now on reconnect with the token; the password is dropped.
            state.credentials = Credentials::Token(session.welcome.session_token.clone());
        }
        let connection = session.connection.clone();
        state.session = Some(session);
        Ok(connection)
    }

    async fn forget(&self, connection: &quinn::Connection) {
        let mut state = self.state.lock().await;
        if state
            .session
            .as_ref()
            .is_some_and(|s| s.connection.stable_id() == connection.stable_id())
        {
            state.session = None;
        }
    }
}
