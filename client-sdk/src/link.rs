//! A terminal's connection to the server, over QUIC or over TLS and HTTP/2
//! on TCP (where the network drops UDP): what the client's requests, the
//! feed and positions need of it, the same whichever transport carries it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fieldlink_link::{RecvStream, SendStream};
use rustls_pki_types::ServerName;

use crate::config::Transport;
use crate::error::{from_connection_error, Error};

/// One connection. Cloning shares it.
#[derive(Clone, Debug)]
pub(crate) enum Link {
    Quic(quinn::Connection),
    Tcp(Arc<TcpLink>),
}

impl Link {
    /// Opens a stream for one request (or the feed).
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), String> {
        match self {
            Link::Quic(connection) => connection
                .open_bi()
                .await
                .map(|(send, recv)| (SendStream::Quic(send), RecvStream::Quic(recv)))
                .map_err(|e| e.to_string()),
            Link::Tcp(link) => link.open_stream(fieldlink_link::STREAM_PATH).await,
        }
    }

    /// Why the connection ended, classified; `None` while it is open.
    pub fn close_reason(&self) -> Option<Error> {
        match self {
            Link::Quic(connection) => connection
                .close_reason()
                .map(|reason| from_connection_error(&reason)),
            Link::Tcp(link) => link.close_reason(),
        }
    }

    /// Why the connection ended, waiting up to `wait` for it to end: over
    /// TCP a stream can fail a moment before the connection's driver has
    /// read the TLS alert or GOAWAY that says why.
    pub async fn ended_reason(&self, wait: Duration) -> Option<Error> {
        if let Link::Tcp(link) = self {
            let mut ended = link.ended.subscribe();
            let _ = tokio::time::timeout(wait, ended.wait_for(Option::is_some)).await;
        }
        self.close_reason()
    }

    /// Closes the connection with fieldlink close code `code`.
    pub fn close(&self, code: u32, reason: &[u8]) {
        match self {
            Link::Quic(connection) => connection.close(code.into(), reason),
            Link::Tcp(link) => link.close(),
        }
    }

    /// An id that changes with every new connection.
    pub fn stable_id(&self) -> usize {
        match self {
            Link::Quic(connection) => connection.stable_id(),
            Link::Tcp(link) => link.id,
        }
    }

    /// The server address this connection reached.
    pub fn remote_address(&self) -> SocketAddr {
        match self {
            Link::Quic(connection) => connection.remote_address(),
            Link::Tcp(link) => link.remote,
        }
    }

    /// Which transport carries it.
    pub fn transport(&self) -> Transport {
        match self {
            Link::Quic(_) => Transport::Quic,
            Link::Tcp(_) => Transport::Tcp,
        }
    }

    /// Sends a position datagram: a QUIC datagram, or over TCP a frame on
    /// the connection's position stream. Never queued behind anything: a
    /// ping that finds no room is dropped (the next one replaces it).
    pub async fn send_datagram(&self, datagram: Bytes) -> Result<(), Error> {
        match self {
            Link::Quic(connection) => connection
                .send_datagram(datagram)
                .map_err(|e| Error::Connection(format!("position datagram: {e}"))),
            Link::Tcp(link) => link.send_position(datagram).await,
        }
    }
}

/// Ids for TCP links, apart from QUIC's (heap addresses).
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// Room kept reserved on the position stream: a few dozen pings.
const POSITION_ROOM_BYTES: usize = 4096;

/// A TCP connection: h2's request handle, and what its driver saw.
#[derive(Debug)]
pub(crate) struct TcpLink {
    id: usize,
    remote: SocketAddr,
    authority: String,
    requests: h2::client::SendRequest<Bytes>,
    /// How the connection ended: set once, by the driver or by `close`.
    ended: Arc<tokio::sync::watch::Sender<Option<Ended>>>,
    driver: tokio::task::AbortHandle,
    /// The position stream, opened with the first ping.
    positions: tokio::sync::Mutex<Option<h2::SendStream<Bytes>>>,
}

#[derive(Debug, Clone)]
enum Ended {
    /// The server closed it with a fieldlink close code.
    Closed(u32),
    /// The server refused the device certificate (a TLS alert after the
    /// handshake, as TLS 1.3 sends it).
    Refused(String),
    /// Lost, or closed by us.
    Lost(String),
}

impl TcpLink {
    async fn open_stream(&self, path: &str) -> Result<(SendStream, RecvStream), String> {
        let mut requests = self.requests.clone().ready().await.map_err(|e| e.to_string())?;
        let request = http::Request::post(format!("https://{}{path}", self.authority))
            .body(())
            .map_err(|e| e.to_string())?;
        let (response, send) = requests.send_request(request, false).map_err(|e| e.to_string())?;
        Ok((SendStream::H2(send), RecvStream::h2_response(response)))
    }

    fn close_reason(&self) -> Option<Error> {
        let ended = self.ended.borrow().clone()?;
        Some(match ended {
            Ended::Closed(code) => Error::Connection(format!(
                "closed by the server: {} (code {code})",
                close_code_name(code)
            )),
            Ended::Refused(detail) => Error::Authentication(detail),
            Ended::Lost(detail) => Error::Connection(detail),
        })
    }

    fn close(&self) {
        self.driver.abort();
        end(&self.ended, Ended::Lost("closed by the client".into()));
    }

    async fn send_position(&self, datagram: Bytes) -> Result<(), Error> {
        let mut positions = self.positions.lock().await;
        if positions.is_none() {
            let (send, _response) = self
                .open_stream(fieldlink_link::POSITIONS_PATH)
                .await
                .map_err(Error::Connection)?;
            let SendStream::H2(mut send) = send else {
                return Err(Error::Protocol("a QUIC stream on a TCP link".into()));
            };
            send.reserve_capacity(POSITION_ROOM_BYTES);
            // The first room comes with the server's window: wait briefly.
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                std::future::poll_fn(|cx| send.poll_capacity(cx)),
            )
            .await;
            *positions = Some(send);
        }
        let Some(send) = positions.as_mut() else {
            return Err(Error::Connection("no position stream".into()));
        };
        let frame = Bytes::from(fieldlink_protocol::frame::encode_raw(&datagram));
        if send.capacity() < frame.len() {
            // A stream the server reset (or refused) gets no more room:
            // the next ping opens a new one.
            let reset =
                std::future::poll_fn(|cx| std::task::Poll::Ready(send.poll_reset(cx).is_ready())).await;
            if reset {
                *positions = None;
            } else {
                send.reserve_capacity(POSITION_ROOM_BYTES);
            }
            return Err(Error::Connection(
                "position dropped: the TCP connection has no room for it now".into(),
            ));
        }
        if let Err(error) = send.send_data(frame, false) {
            // The stream is gone: the next ping opens a new one.
            *positions = None;
            return Err(Error::Connection(format!("position stream: {error}")));
        }
        send.reserve_capacity(POSITION_ROOM_BYTES);
        Ok(())
    }
}

/// The name of a fieldlink close code, for messages.
fn close_code_name(code: u32) -> &'static str {
    use fieldlink_protocol::close_code::*;
    match code {
        NORMAL => "normal close",
        SHUTTING_DOWN => "server shutting down",
        SESSION_REFUSED => "session refused",
        PROTOCOL_VIOLATION => "protocol violation",
        REVOKED => "device revoked",
        TOO_MANY_ABANDONED_STREAMS => "too many abandoned streams",
        SESSION_ENDED => "session ended by the agency",
        _ => "unknown close code",
    }
}

/// Records how a connection ended, unless it was already recorded.
fn end(ended: &tokio::sync::watch::Sender<Option<Ended>>, outcome: Ended) {
    ended.send_if_modified(|ended| {
        let first = ended.is_none();
        ended.get_or_insert(outcome);
        first
    });
}

/// What a TCP connection attempt needs.
pub(crate) struct TcpSettings<'a> {
    pub tls: Arc<rustls::ClientConfig>,
    pub server_name: &'a str,
    pub keep_alive: Duration,
    pub idle_timeout: Duration,
}

/// Connects over TCP: TLS 1.3 with the device certificate, then HTTP/2.
pub(crate) async fn connect_tcp(addr: SocketAddr, settings: &TcpSettings<'_>) -> Result<Link, Error> {
    let name = ServerName::try_from(settings.server_name.to_owned())
        .map_err(|e| Error::Config(format!("server name: {e}")))?;
    // Refused or unroutable: no server answers there (as a QUIC handshake
    // that times out).
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Unreachable(format!("TCP connect to {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(settings.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| classify_io(&e, "TLS"))?;
    let (requests, mut connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(4 << 20)
        .handshake::<_, Bytes>(tls)
        .await
        .map_err(|e| classify_h2(&e))?;
    let ended = Arc::new(tokio::sync::watch::Sender::new(None));
    let pinger = connection.ping_pong();
    let (keep_alive, idle) = (settings.keep_alive, settings.idle_timeout);
    let record = ended.clone();
    let driver = tokio::spawn(async move {
        // Keep-alive pings: a server that answers none within the idle
        // timeout is gone, as QUIC's idle timeout would say.
        let liveness = async move {
            let Some(mut pinger) = pinger else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(keep_alive).await;
                if !matches!(
                    tokio::time::timeout(idle, pinger.ping(h2::Ping::opaque())).await,
                    Ok(Ok(_))
                ) {
                    return;
                }
            }
        };
        let outcome = tokio::select! {
            result = &mut connection => match result {
                Ok(()) => Ended::Lost("the TCP connection closed".into()),
                Err(error) => match error.reason().and_then(|r| fieldlink_link::close_code_of(r.into())) {
                    Some(code) if error.is_go_away() => Ended::Closed(code),
                    _ => match classify_h2(&error) {
                        Error::Authentication(detail) => Ended::Refused(detail),
                        _ => Ended::Lost(format!("TCP connection: {error}")),
                    },
                },
            },
            () = liveness => Ended::Lost("timed out".into()),
        };
        end(&record, outcome);
    });
    Ok(Link::Tcp(Arc::new(TcpLink {
        id: (1 << (usize::BITS - 1)) | NEXT_ID.fetch_add(1, Ordering::Relaxed),
        remote: addr,
        authority: settings.server_name.to_owned(),
        requests,
        ended,
        driver: driver.abort_handle(),
        positions: tokio::sync::Mutex::new(None),
    })))
}

/// A TLS refusal (an alert from the server, or its certificate not
/// trusted) is an authentication failure; anything else a connection one.
fn classify_io(error: &std::io::Error, stage: &str) -> Error {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(alert)) => {
            Error::Authentication(format!("the server refused the handshake ({alert:?})"))
        }
        Some(rustls::Error::InvalidCertificate(reason)) => {
            Error::Authentication(format!("the server's certificate: {reason:?}"))
        }
        // h2 keeps an I/O error's kind and text, not the rustls error inside.
        None if error.to_string().starts_with("received fatal alert") => {
            Error::Authentication(format!("the server refused the handshake ({error})"))
        }
        _ => Error::Connection(format!("{stage}: {error}")),
    }
}

fn classify_h2(error: &h2::Error) -> Error {
    match error.get_io() {
        Some(io) => classify_io(io, "HTTP/2"),
        None => Error::Connection(format!("HTTP/2: {error}")),
    }
}
