//! One terminal connection: the handshake's device identity, the hello on
//! the first stream (sign-in opens the [`Session`]), then one task per
//! request stream. The same over QUIC and over TCP ([`Link`]).

use std::sync::Arc;
use std::time::Duration;

use fieldlink_protocol::io::{read_frame, write_frame};
use fieldlink_protocol::pb::{self, hello::SignIn, hello_response};
use fieldlink_protocol::{close_code, limits, validate, FieldError, PROTOCOL_VERSION};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth;
use crate::error::ServiceError;
use crate::link::Link;
use crate::request::{self, Outcome};
use crate::session::Session;
use crate::state::AppState;
use crate::storage::SessionToken;
use crate::stream_churn::StreamChurn;

/// A connection's handshake, in progress.
type Handshake = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<quinn::Connection, quinn::ConnectionError>> + Send>,
>;

/// Serves one incoming connection until it closes or the server shuts down.
pub fn serve_connection(
    state: AppState,
    incoming: quinn::Incoming,
    handshake_permit: tokio::sync::OwnedSemaphorePermit,
    shutdown: CancellationToken,
    requests: TaskTracker,
) -> impl std::future::Future<Output = ()> + Send {
    let remote = incoming.remote_address();
    // The handshake on the heap: the incoming connection and its handshake
    // are hundreds of bytes, and as arguments of the long-lived future they
    // would stay in it for the connection's life (about 1 KiB per terminal).
    let handshake = Box::pin(async move {
        let handshake = incoming.await;
        // The handshake is over either way: its slot frees for the next one.
        drop(handshake_permit);
        handshake
    });
    // The state too (an async function keeps its arguments whole for its
    // life), shared by the connection's request tasks.
    serve_handshaken(Arc::new(state), remote, handshake, shutdown, requests)
}

async fn serve_handshaken(
    state: Arc<AppState>,
    remote: std::net::SocketAddr,
    handshake: Handshake,
    shutdown: CancellationToken,
    requests: TaskTracker,
) {
    let connection = match handshake.await {
        Ok(connection) => connection,
        Err(error) => {
            // Refused handshakes land here: no certificate, unknown CA, revoked.
            tracing::info!(%remote, %error, "handshake failed");
            return;
        }
    };
    serve_link(state, remote, Link::Quic(connection), shutdown, requests).await;
}

/// Serves a connection whose handshake is done, over either transport:
/// the device's identity, the hello, then its request streams.
pub(crate) async fn serve_link(
    state: Arc<AppState>,
    remote: std::net::SocketAddr,
    connection: Link,
    shutdown: CancellationToken,
    requests: TaskTracker,
) {
    let (device_id, serial, certificate) = match device_id(&connection) {
        Ok(identity) => identity,
        Err(error) => {
            tracing::warn!(%remote, %error, "certificate names no device");
            connection.close(close_code::SESSION_REFUSED, b"certificate names no device");
            return;
        }
    };
    // Everything the connection holds while it lives, given back when this
    // function returns (the connection has closed, or the server is stopping
    // and closes it): no watcher task per connection.
    let mut held = Held {
        state: &state,
        connection: connection.clone(),
        officer: None,
        _slot: None,
    };
    state.live.insert(&connection, &device_id, serial.clone());
    // A handshake accepted under the previous CRL, registered after a new
    // one was applied, is closed here.
    if state.live.is_revoked(&serial) {
        tracing::info!(%remote, device = %device_id, "revoked device refused after its handshake");
        connection.close(crate::revocation::CLOSE_REVOKED, b"device revoked");
        return;
    }
    if state.live.first_sighting(&serial) {
        let noted = state
            .storage
            .note_device_certificate(&device_id, &hex::encode(&serial), (state.clock)())
            .await;
        if noted.is_err() {
            state.live.forget_sighting(&serial);
        }
    }
    let hello_timeout = Duration::from_millis(state.config.hello_timeout_ms);
    // Boxed: the hello's state (sign-in and all) is freed once it is over,
    // instead of sizing this long-lived future for it.
    let opening = Box::pin(tokio::time::timeout(
        hello_timeout,
        open_session(&state, &connection, &device_id),
    ));
    let (mut session, slot) = tokio::select! {
        opened = opening => match opened {
            Ok(Some(opened)) => opened,
            Ok(None) => return,
            Err(_) => {
                tracing::info!(%remote, device = %device_id, "no hello in time");
                connection.close(close_code::PROTOCOL_VIOLATION, b"no hello in time");
                return;
            }
        },
        () = shutdown.cancelled() => return,
    };
    // And again at the hello, for a CRL applied while it was on its way.
    if state.live.is_revoked(&serial) {
        tracing::info!(%remote, device = %device_id, "revoked device refused at its hello");
        connection.close(crate::revocation::CLOSE_REVOKED, b"device revoked");
        return;
    }
    // Registered first, then checked against the directory in force: an
    // officer disabled while signing in is closed either way.
    state
        .live
        .signed_in(&connection, &session.officer.id, &session.token_digest);
    if state
        .directory
        .get()
        .enrolled_officer(&session.officer.id)
        .is_none()
    {
        connection.close(close_code::SESSION_ENDED, b"session ended by the agency");
        return;
    }
    session.certificate = Some(certificate);
    // Nothing after the sign-in needs the password's hash: not kept for the
    // connection's life.
    session.officer.password_hash = String::new();
    // Shared by the connection's request tasks (one count each, not a copy
    // of every string).
    let session = Arc::new(session);
    tracing::info!(%remote, device = %session.device_id, officer = %session.officer.id, transport = connection.transport(), "session open");
    state.presence.opened(&session.officer.id, (state.clock)());
    held.officer = Some(session.officer.id.clone());
    // The device's connection slot is held while the connection lives.
    held._slot = slot;

    let churn = Arc::new(StreamChurn::new(state.config.abandoned_streams_per_minute_max));
    loop {
        tokio::select! {
            accepted = connection.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let state = state.clone();
                    let session = session.clone();
                    let (churn, connection) = (churn.clone(), connection.clone());
                    requests.spawn(async move {
                        if request::serve_stream(&state, &session, send, recv).await == Outcome::Abandoned
                            && churn.abandoned()
                        {
                            tracing::warn!(device = %session.device_id, "too many abandoned streams: closing");
                            connection.close(
                                close_code::TOO_MANY_ABANDONED_STREAMS,
                                b"too many abandoned streams",
                            );
                        }
                    });
                }
                Err(error) => {
                    tracing::debug!(device = %session.device_id, %error, "connection ended");
                    return;
                }
            },
            // Positions arrive as datagrams on the same connection: read
            // here, so an idle terminal costs no task of its own.
            datagram = connection.read_datagram() => match datagram {
                Ok(datagram) => {
                    let kept = state.positions.datagram(
                        &session.officer.id,
                        &session.device_id,
                        &datagram,
                        (state.clock)(),
                        state.config.clock_skew_ms_max,
                        state.config.position_interval_ms_min,
                    );
                    if let Err(refusal) = kept {
                        tracing::debug!(device = %session.device_id, %refusal, "position dropped");
                    }
                }
                Err(error) => {
                    tracing::debug!(device = %session.device_id, %error, "connection ended");
                    return;
                }
            },
            () = shutdown.cancelled() => return,
        }
    }
}

/// What a connection holds while it lives. It borrows the connection's
/// state rather than holding a copy: the state is a few hundred bytes, and
/// every idle connection's task would carry both.
struct Held<'a> {
    state: &'a AppState,
    connection: Link,
    /// The signed-in officer, once the session is open (presence).
    officer: Option<String>,
    /// The device's connection slot.
    _slot: Option<crate::device_limits::Slot>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.state.live.remove(&self.connection);
        if let Some(officer) = &self.officer {
            self.state.presence.closed(officer, (self.state.clock)());
        }
    }
}

/// Reads the hello, signs the officer in and answers. `None` when refused
/// (the connection is then closed after the refusal is delivered); else the
/// session and the device's connection slot it holds.
async fn open_session(
    state: &AppState,
    connection: &Link,
    device_id: &str,
) -> Option<(Session, Option<crate::device_limits::Slot>)> {
    let (mut send, mut recv) = connection.accept_bi().await.ok()?;
    let slot = state.device_limits.connection(device_id);
    let result = match read_frame(&mut recv, limits::HELLO_FRAME_BYTES_MAX).await {
        Ok(_) if slot.is_none() => Err(ServiceError::ConnectionLimit {
            limit: state.config.connections_per_device_max,
        }),
        Ok(body) => match pb::Hello::decode(body.as_slice()) {
            Ok(hello) => sign_in(state, device_id, hello).await,
            Err(error) => Err(ServiceError::MalformedMessage {
                what: "hello",
                detail: error.to_string(),
            }),
        },
        Err(fieldlink_protocol::io::ReadFrameError::Frame(error)) => Err(error.into()),
        Err(fieldlink_protocol::io::ReadFrameError::Io(_)) => return None,
    };
    let (response, session) = match result {
        Ok((welcome, session)) => (hello_response::Result::Welcome(welcome), Some(session)),
        Err(error) => {
            tracing::info!(device = %device_id, %error, "session refused");
            (hello_response::Result::Error(error.to_status()), None)
        }
    };
    let response = pb::HelloResponse {
        result: Some(response),
    };
    if write_frame(&mut send, &response).await.is_err() || send.finish().is_err() {
        return None;
    }
    match session {
        Some(session) => Some((session, slot)),
        None => {
            // Let the refusal reach the terminal before closing.
            connection
                .close_after_answer(&mut send, close_code::SESSION_REFUSED, b"session refused")
                .await;
            None
        }
    }
}

async fn sign_in(
    state: &AppState,
    device_id: &str,
    hello: pb::Hello,
) -> Result<(pb::Welcome, Session), ServiceError> {
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(ServiceError::UnsupportedVersion(hello.protocol_version));
    }
    validate::optional_text("sdk_version", &hello.sdk_version, limits::SDK_VERSION_BYTES_MAX)?;
    let now_ms = (state.clock)();
    let (officer, token, token_digest) =
        match hello.sign_in {
            None => return Err(FieldError::new("sign_in", "is required").into()),
            Some(SignIn::Password(password)) => {
                validate::officer_id("password.officer_id", &password.officer_id)?;
                if password.password.len() > limits::PASSWORD_BYTES_MAX {
                    return Err(FieldError::new("password.password", "is too long").into());
                }
                crate::sign_in_guard::check(state, &password.officer_id, device_id)?;
                let officer = state
                    .directory
                    .get()
                    .enrolled_officer(&password.officer_id)
                    .cloned();
                let hash = officer
                    .as_ref()
                    .map(|o| o.password_hash.clone())
                    .unwrap_or_else(|| auth::decoy_hash().to_owned());
                let secret = password.password;
                let verified = state.password_checks.verify(secret, hash).await.ok_or(
                    ServiceError::PasswordChecksBusy {
                        retry_after_ms: crate::password_checks::BUSY_RETRY_AFTER_MS,
                    },
                )?;
                let Some(officer) = officer.filter(|_| verified) else {
                    crate::sign_in_guard::failed(state, &password.officer_id, device_id);
                    return Err(ServiceError::Unauthenticated);
                };
                crate::sign_in_guard::succeeded(state, &officer.id, device_id);
                let token = auth::new_session_token();
                let digest = auth::token_digest(&token);
                let expires_at_ms = now_ms.saturating_add(state.config.session_token_ttl_ms);
                state
                    .storage
                    .insert_session_token(
                        &digest,
                        &SessionToken {
                            officer_id: officer.id.clone(),
                            device_id: device_id.to_owned(),
                            expires_at_ms,
                            revoked_at_ms: None,
                        },
                        now_ms,
                    )
                    .await?;
                (officer, Some((token, expires_at_ms)), digest)
            }
            Some(SignIn::Token(token)) => {
                if token.token.is_empty() || token.token.len() > limits::SESSION_TOKEN_BYTES_MAX {
                    return Err(ServiceError::Unauthenticated);
                }
                let digest = auth::token_digest(&token.token);
                let stored = state
                    .storage
                    .session_token(&digest)
                    .await?
                    .ok_or(ServiceError::Unauthenticated)?;
                let usable = stored.device_id == device_id
                    && stored.revoked_at_ms.is_none()
                    && stored.expires_at_ms > now_ms;
                let officer = state
                    .directory
                    .get()
                    .enrolled_officer(&stored.officer_id)
                    .filter(|_| usable)
                    .cloned()
                    .ok_or(ServiceError::Unauthenticated)?;
                (officer, None, digest)
            }
        };
    let (session_token, session_token_expires_at_ms) = token.unwrap_or_default();
    let welcome = pb::Welcome {
        protocol_version: PROTOCOL_VERSION,
        server_time_ms: now_ms,
        officer: Some(officer.profile()),
        limits: Some(pb::Limits {
            frame_bytes_max: state.config.frame_bytes_max,
            photo_bytes_max: state.config.photo_bytes_max,
            clock_skew_ms_max: state.config.clock_skew_ms_max,
            concurrent_requests_max: state.config.concurrent_requests_max,
            upload_checkpoint_bytes: state.config.upload_checkpoint_bytes,
            partial_upload_ttl_ms: state.config.partial_upload_ttl_ms,
            partial_bytes_per_device_max: state.config.partial_bytes_per_device_max,
            video_bytes_max: state.config.video_bytes_max,
            audio_bytes_max: state.config.audio_bytes_max,
            document_bytes_max: state.config.document_bytes_max,
            content_types: fieldlink_protocol::photo::ContentType::ALL
                .map(|format| format.as_mime().to_owned())
                .to_vec(),
            position_interval_ms_min: state.config.position_interval_ms_min,
        }),
        database_epoch: state.database_epoch.clone(),
        catalogue_revision: state.catalogue.get().revision().to_owned(),
        roster_revision: crate::services::reference::roster_of(&state.directory.get(), &officer).revision,
        device_id: device_id.to_owned(),
        session_token,
        session_token_expires_at_ms,
    };
    Ok((
        welcome,
        Session {
            device_id: device_id.to_owned(),
            officer,
            certificate: None,
            token_digest,
        },
    ))
}

/// The device id, certificate serial and certificate (DER) the peer
/// authenticated with.
#[allow(clippy::type_complexity)]
fn device_id(connection: &Link) -> Result<(String, Vec<u8>, Arc<[u8]>), crate::tls::IdentityError> {
    let chain = connection
        .peer_certificates()
        .ok_or(crate::tls::IdentityError::Missing)?;
    let leaf = chain.first().ok_or(crate::tls::IdentityError::Missing)?;
    let id = crate::tls::device_id(leaf)?;
    let serial = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map(|(_, cert)| cert.raw_serial().to_vec())
        .unwrap_or_default();
    Ok((id, serial, Arc::from(leaf.as_ref())))
}
