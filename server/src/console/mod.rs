//! The supervisor console: an HTTP API (JSON; live updates as server-sent
//! events) and a page served from the binary itself, for the command center
//! (综合信息指挥室) to dispatch and watch assignments, officers and evidence.
//!
//! - [`sessions`]: supervisor sign-in, the session cookie and CSRF token.
//! - [`api`]: the JSON routes; they call the same services as the QUIC
//!   protocol, so rules and errors are the same (codes and reasons from
//!   [`crate::error`]).
//! - [`events`]: `GET /api/events`, resumable with `Last-Event-ID`.
//! - [`incident_evidence`]: an incident's reports with their images.
//! - [`views`]: what both show (evidence summaries, flag names).
//! - `page/index.html`: the page (zh-CN first, English switch), no build step.
//! - `/healthz`, `/readyz`, `/metrics`: without authentication, answered
//!   only to loopback peers.
//!
//! The API is described by `docs/console-openapi.json` (served at
//! `/api/openapi.json`).

pub mod admin;
pub mod api;
pub mod cases;
pub mod events;
pub mod extract;
pub mod incident_evidence;
pub mod item_view;
pub mod map_tiles;
pub mod positions;
pub mod request;
pub mod sessions;
pub mod stats;
pub mod terms;
pub mod views;

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldlink_protocol::pb::{self, Code};
use fieldlink_protocol::status::reason;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;
use crate::state::AppState;

/// The page, built into the binary.
pub const PAGE: &str = include_str!("page/index.html");

/// The page's script, served as `/console.js`.
pub const SCRIPT: &str = include_str!("page/console.js");
pub use terms::TERMS;

/// The page's styles, served as `/console.css`.
pub const STYLES: &str = include_str!("page/console.css");

/// The OpenAPI document of the API (also checked in under docs/).
pub const OPENAPI: &str = include_str!("../../../docs/console-openapi.json");

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    /// The server's state.
    pub app: AppState,
    /// Signed-in supervisors.
    pub sessions: sessions::ConsoleSessions,
    /// Whether cookies carry `Secure` (not on plain loopback HTTP in dev).
    pub secure_cookies: bool,
}

/// Binds the console's listener. Plain HTTP is allowed only on loopback in
/// development; anything else is refused (put HTTPS in front: see
/// docs/operations.md).
pub async fn bind(addr: SocketAddr, dev: bool) -> Result<tokio::net::TcpListener, String> {
    if !(dev && addr.ip().is_loopback()) {
        return Err(format!(
            "the console serves plain HTTP only on a loopback address with --dev (asked: {addr}); \
             terminate HTTPS in front of it"
        ));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves the console over HTTPS on `listener` until `shutdown`: each TCP
/// connection is a TLS 1.3 session with the server certificate, then HTTP/1.1.
pub async fn serve_tls(
    app: AppState,
    listener: tokio::net::TcpListener,
    tls: rustls::ServerConfig,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    serve_connections(app, listener, Some(acceptor), true, shutdown).await;
}

/// Serves the console over plain HTTP (loopback, development) on `listener`
/// until `shutdown`.
pub async fn serve(app: AppState, listener: tokio::net::TcpListener, shutdown: CancellationToken) {
    serve_connections(app, listener, None, false, shutdown).await;
}

/// The one accept loop of both: at most `console_connections_max`
/// connections at once (one more is closed on accept), a TLS handshake
/// within 10 s, each request's headers within `console_header_timeout_ms`,
/// and no connection older than `console_connection_lifetime_ms` (live
/// event streams reconnect and resume with Last-Event-ID). Slow or idle
/// clients cannot hold the file descriptors the QUIC server and SQLite share.
async fn serve_connections(
    app: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    secure_cookies: bool,
    shutdown: CancellationToken,
) {
    use std::time::Duration;
    use tower::ServiceExt;
    let config = app.config.clone();
    let header_timeout = Duration::from_millis(config.console_header_timeout_ms);
    let lifetime = Duration::from_millis(config.console_connection_lifetime_ms);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(config.console_connections_max));
    let state = ConsoleState {
        app,
        sessions: sessions::ConsoleSessions::default(),
        secure_cookies,
    };
    let router = api::router(state);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "console accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "console connection refused: at console_connections_max");
            drop(tcp);
            continue;
        };
        let (tls, router, shutdown) = (tls.clone(), router.clone(), shutdown.clone());
        connections.spawn(async move {
            let _slot = slot;
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    router.clone().oneshot(request.map(axum::body::Body::new))
                });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout);
            let served = async {
                match tls {
                    Some(acceptor) => {
                        // A TLS handshake that stalls is dropped.
                        let Ok(Ok(tls)) =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                        else {
                            return;
                        };
                        let _ = http
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    }
                    None => {
                        let _ = http
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                            .await;
                    }
                }
            };
            tokio::select! {
                () = served => {}
                _ = tokio::time::sleep(lifetime) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.wait()).await;
}

/// An API error: the protocol's status as JSON, with the matching HTTP status.
#[derive(Debug)]
pub struct ApiError(pub Box<pb::Status>);

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        ApiError(Box::new(error.to_status()))
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        ServiceError::from(error).into()
    }
}

impl ApiError {
    /// A refusal with this code, reason and message.
    pub fn new(code: Code, reason: &str, message: &str) -> Self {
        ApiError(Box::new(fieldlink_protocol::status::status(
            code, reason, message,
        )))
    }

    /// Not signed in (or the session ended).
    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            reason::UNAUTHENTICATED,
            "sign in as a supervisor",
        )
    }

    /// Signed in, but not allowed.
    pub fn forbidden(message: &str) -> Self {
        Self::new(Code::PermissionDenied, reason::NOT_PERMITTED, message)
    }

    /// A bad request field.
    pub fn invalid(field: &str, message: &str) -> Self {
        let mut status =
            fieldlink_protocol::status::status(Code::InvalidArgument, reason::INVALID_FIELD, message);
        status.field = field.to_owned();
        ApiError(Box::new(status))
    }

    fn http_status(&self) -> StatusCode {
        match self.0.code_or_unknown() {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        let code = self
            .0
            .code_or_unknown()
            .as_str_name()
            .trim_start_matches("CODE_")
            .to_owned();
        let body = serde_json::json!({
            "code": code,
            "reason": self.0.reason,
            "message": self.0.message,
            "field": self.0.field,
            "retryable": self.0.retryable,
            "retry_after_ms": self.0.retry_after_ms,
            "conflicting_seq": self.0.conflicting_seq,
        });
        (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
    }
}

/// The signed-in supervisor, checked against the cookie; with `mutating`,
/// the CSRF header and (when sent) the Origin are checked too.
pub fn supervisor(
    state: &ConsoleState,
    headers: &HeaderMap,
    mutating: bool,
) -> Result<sessions::ConsoleSession, ApiError> {
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::cookie_value)
        .ok_or_else(ApiError::unauthenticated)?;
    let session = state
        .sessions
        .get(id, (state.app.clock)())
        .ok_or_else(ApiError::unauthenticated)?;
    if mutating {
        let echoed = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if echoed != Some(session.csrf_token.as_str()) {
            return Err(ApiError::forbidden(
                "state-changing requests need the X-CSRF-Token header",
            ));
        }
        if let (Some(origin), Some(host)) = (
            headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
            headers.get(header::HOST).and_then(|v| v.to_str().ok()),
        ) {
            let same = origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host);
            if !same {
                return Err(ApiError::forbidden("cross-site request refused"));
            }
        }
    }
    Ok(session)
}

/// The protocol session the services expect, for a console supervisor.
pub fn service_session(session: &sessions::ConsoleSession) -> crate::session::Session {
    crate::session::Session {
        device_id: "console".into(),
        officer: session.officer.clone(),
        certificate: None,
        token_digest: Vec::new(),
    }
}
