//! fieldlink/1 over TLS 1.3 on TCP, for networks that drop UDP.
//!
//! The same certificates, mutual TLS, CRL and limits as the QUIC endpoint;
//! HTTP/2 (hyper's h2) multiplexes the streams: each fieldlink stream is a
//! `POST` to [`fieldlink_link::STREAM_PATH`], and positions ride one
//! long-lived `POST` to [`fieldlink_link::POSITIONS_PATH`]. A driver task
//! per connection runs h2 and hands the streams to the connection's task
//! (`connection::serve_link`), which serves them exactly as QUIC's.
//!
//! What a misbehaving client meets: a TLS or HTTP/2 handshake that does not
//! finish within `hello_timeout_ms` is dropped; frames over 16 KiB, header
//! lists over 8 KiB and streams beyond the concurrency limit are refused by
//! h2 (FRAME_SIZE_ERROR, a 431-style reset, REFUSED_STREAM); a client that
//! resets streams in bulk is sent GOAWAY(ENHANCE_YOUR_CALM); a peer that
//! stops answering pings for `idle_timeout_ms` is dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fieldlink_link::{h2_reason_of, RecvStream, SendStream, POSITIONS_PATH, STREAM_PATH};
use fieldlink_protocol::io::read_frame;
use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::handshake_gate::Admission;
use crate::link::{Closing, Link, TcpLink};
use crate::state::AppState;
use crate::swappable::Swappable;

/// Largest HTTP/2 frame a terminal may send (the protocol's floor).
const FRAME_BYTES_MAX: u32 = 16 * 1024;
/// Largest request header list: a terminal sends five short headers.
const HEADER_LIST_BYTES_MAX: u32 = 8 * 1024;
/// What h2 may buffer per stream for sending before writes wait.
const SEND_BUFFER_BYTES_MAX: usize = 256 * 1024;
/// Streams a client may reset before we accept them, and streams we may
/// reset for its errors, before the connection is closed as abusive.
const PENDING_ACCEPT_RESETS_MAX: usize = 32;
const LOCAL_ERROR_RESETS_MAX: usize = 64;
/// Position frames over TCP: bounded like datagrams are by the MTU; the
/// position board refuses (and counts) any over 128 bytes.
const POSITION_FRAME_BYTES_MAX: u32 = 1024;
/// Position frames waiting for the connection's task; more are dropped.
const POSITIONS_QUEUED_MAX: usize = 8;
/// How long a closing connection may take to deliver its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The largest HTTP/2 window (2^31 - 1).
const WINDOW_MAX: u32 = (1 << 31) - 1;

/// Accepts TCP connections until shutdown; each is served like a QUIC one.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    tls: Swappable<rustls::ServerConfig>,
    shutdown: CancellationToken,
    connections: TaskTracker,
    requests: TaskTracker,
) {
    let state = Arc::new(state);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, most likely: let some close.
                    tracing::warn!(%error, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        // A TCP handshake has proven the address: no Retry, only the cap.
        match state.handshakes.admit(true, false) {
            Admission::Proceed(permit) => {
                connections.spawn(serve_connection(
                    state.clone(),
                    stream,
                    remote,
                    tls.get(),
                    permit,
                    shutdown.clone(),
                    requests.clone(),
                ));
            }
            Admission::Retry | Admission::Refuse => {
                tracing::info!(%remote, "TCP handshake refused: too many pending");
            }
        }
    }
}

async fn serve_connection(
    state: Arc<AppState>,
    stream: TcpStream,
    remote: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    permit: tokio::sync::OwnedSemaphorePermit,
    shutdown: CancellationToken,
    requests: TaskTracker,
) {
    let _ = stream.set_nodelay(true);
    let handshake = async {
        let tls = match tokio_rustls::TlsAcceptor::from(tls)
            .accept(stream)
            .into_fallible()
            .await
        {
            Ok(tls) => tls,
            Err((error, stream)) => {
                linger(stream).await;
                return Err(format!("TLS: {error}"));
            }
        };
        let certificates: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let connection = h2_builder(&state.config)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|e| format!("HTTP/2: {e}"))?;
        Ok::<_, String>((connection, certificates))
    };
    let timeout = Duration::from_millis(state.config.hello_timeout_ms);
    let handshake = tokio::time::timeout(timeout, handshake).await;
    // The handshake is over either way: its slot frees for the next one.
    drop(permit);
    let (connection, certificates) = match handshake {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => {
            tracing::info!(%remote, %error, "TCP handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%remote, "TCP handshake not finished in time");
            return;
        }
    };
    let (link, driver) = start_link(connection, certificates, &state.config);
    tokio::spawn(driver);
    crate::connection::serve_link(state, remote, Link::Tcp(link), shutdown, requests).await;
}

/// After a refused TLS handshake: the alert has been written; end our side
/// and read what the client still sends (with TLS 1.3 it believes the
/// handshake done and sends its first frames) until it closes, briefly.
/// Closing at once with those bytes unread would make the kernel send a
/// reset, and the client would lose the alert that says why.
async fn linger(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const LINGER: Duration = Duration::from_secs(2);
    const DRAIN_BYTES_MAX: usize = 64 * 1024;
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buffer = [0u8; 4096];
        let mut drained = 0;
        while drained < DRAIN_BYTES_MAX {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => drained += read,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

fn h2_builder(config: &Config) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(config.stream_receive_window_bytes.min(WINDOW_MAX))
        .initial_connection_window_size(config.connection_receive_window_bytes.min(WINDOW_MAX))
        // The requests in flight, the hello, and the position stream.
        .max_concurrent_streams(config.concurrent_requests_max.saturating_add(2))
        .max_frame_size(FRAME_BYTES_MAX)
        .max_header_list_size(HEADER_LIST_BYTES_MAX)
        .max_send_buffer_size(SEND_BUFFER_BYTES_MAX)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS_MAX)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS_MAX));
    builder
}

type H2Connection = h2::server::Connection<tokio_rustls::server::TlsStream<TcpStream>, Bytes>;

/// The link of a new HTTP/2 connection, and its driver (to be spawned):
/// h2 makes progress only while the driver runs.
fn start_link(
    connection: H2Connection,
    certificates: Vec<CertificateDer<'static>>,
    config: &Config,
) -> (Arc<TcpLink>, impl std::future::Future<Output = ()> + Send) {
    let (streams_in, streams) = mpsc::channel(config.concurrent_requests_max as usize + 2);
    let (positions_in, positions) = mpsc::channel(POSITIONS_QUEUED_MAX);
    let (close_in, close) = oneshot::channel();
    let link = TcpLink::new(certificates, streams, positions, close_in);
    let idle = Duration::from_millis(config.idle_timeout_ms);
    let driver = drive(connection, streams_in, positions_in, close, idle);
    (link, driver)
}

/// Runs one HTTP/2 connection: accepts its streams and hands them over,
/// checks the peer answers pings, and closes when told to.
async fn drive(
    mut connection: H2Connection,
    streams: mpsc::Sender<(SendStream, RecvStream)>,
    positions: mpsc::Sender<Bytes>,
    mut close: oneshot::Receiver<Closing>,
    idle: Duration,
) {
    let pinger = connection.ping_pong();
    // A peer that answers no ping for the idle timeout is gone (a TCP
    // connection to a vanished terminal would otherwise stay open for hours).
    let liveness = async move {
        let Some(mut pinger) = pinger else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(idle / 3).await;
            if !matches!(
                tokio::time::timeout(idle, pinger.ping(h2::Ping::opaque())).await,
                Ok(Ok(_))
            ) {
                return;
            }
        }
    };
    tokio::pin!(liveness);
    let position_stream_open = Arc::new(AtomicBool::new(false));
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let grace_over = async {
            match closing {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = connection.accept() => match accepted {
                None => return,
                Some(Err(error)) => {
                    tracing::debug!(%error, "TCP connection ended");
                    return;
                }
                Some(Ok((request, respond))) => {
                    route(request, respond, &streams, &positions, &position_stream_open);
                }
            },
            code = &mut close, if closing.is_none() => {
                match code {
                    Ok(Closing::Now(code)) => connection.abrupt_shutdown(h2::Reason::from(h2_reason_of(code))),
                    // Nobody holds the link any more: finish what is open.
                    Ok(Closing::AfterQueued) | Err(_) => connection.graceful_shutdown(),
                }
                closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = &mut liveness, if closing.is_none() => {
                tracing::debug!("TCP peer answered no ping: dropping the connection");
                return;
            }
            () = grace_over => return,
        }
    }
}

/// Hands a new HTTP/2 stream to where it belongs: a fieldlink stream to
/// the connection's task, the position stream to its reader; anything else
/// is answered 404 (or 409 for a second position stream).
fn route(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    streams: &mpsc::Sender<(SendStream, RecvStream)>,
    positions: &mpsc::Sender<Bytes>,
    position_stream_open: &Arc<AtomicBool>,
) {
    let post = request.method() == http::Method::POST;
    let path = request.uri().path();
    let refuse = |respond: &mut h2::server::SendResponse<Bytes>, status: u16| {
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::NOT_FOUND);
        let _ = respond.send_response(response, true);
    };
    if post && path == STREAM_PATH {
        let Ok(send) = respond.send_response(http::Response::new(()), false) else {
            return;
        };
        let pair = (SendStream::H2(send), RecvStream::h2_request(request.into_body()));
        if let Err(refused) = streams.try_send(pair) {
            // Beyond the concurrency h2 enforces: cannot happen, refused anyway.
            let (mut send, _) = match refused {
                mpsc::error::TrySendError::Full(pair) | mpsc::error::TrySendError::Closed(pair) => pair,
            };
            send.reset(u32::from(h2::Reason::REFUSED_STREAM));
        }
    } else if post && path == POSITIONS_PATH {
        if position_stream_open.swap(true, Ordering::AcqRel) {
            refuse(&mut respond, 409);
            return;
        }
        let Ok(send) = respond.send_response(http::Response::new(()), false) else {
            return;
        };
        let recv = RecvStream::h2_request(request.into_body());
        tokio::spawn(read_positions(
            send,
            recv,
            positions.clone(),
            position_stream_open.clone(),
        ));
    } else {
        refuse(&mut respond, 404);
    }
}

/// Reads position frames until the stream ends; a frame finding the queue
/// full is dropped, as a datagram would be.
async fn read_positions(
    _send: h2::SendStream<Bytes>,
    mut recv: RecvStream,
    positions: mpsc::Sender<Bytes>,
    open: Arc<AtomicBool>,
) {
    while let Ok(frame) = read_frame(&mut recv, POSITION_FRAME_BYTES_MAX).await {
        if let Err(mpsc::error::TrySendError::Closed(_)) = positions.try_send(Bytes::from(frame)) {
            break;
        }
    }
    open.store(false, Ordering::Release);
}
