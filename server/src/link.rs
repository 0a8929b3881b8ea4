//! A terminal's connection, over QUIC or over TLS and HTTP/2 on TCP: what
//! the connection's task, the revocation watch and the request tasks need
//! of it, the same whichever transport carries it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use fieldlink_link::{RecvStream, SendStream};
use rustls_pki_types::CertificateDer;
use tokio::sync::{mpsc, oneshot};

/// One terminal's connection. Cloning shares it.
#[derive(Clone)]
pub enum Link {
    /// A QUIC connection.
    Quic(quinn::Connection),
    /// TLS 1.3 on TCP, HTTP/2 streams (where UDP is blocked).
    Tcp(Arc<TcpLink>),
}

impl Link {
    /// An id unique among the live connections.
    pub fn stable_id(&self) -> usize {
        match self {
            Link::Quic(connection) => connection.stable_id(),
            Link::Tcp(link) => link.id(),
        }
    }

    /// Closes the connection with fieldlink close code `code`.
    pub fn close(&self, code: u32, reason: &[u8]) {
        match self {
            Link::Quic(connection) => connection.close(code.into(), reason),
            Link::Tcp(link) => link.close_with(Closing::Now(code)),
        }
    }

    /// Closes the connection once the answer written on `send` has reached
    /// the terminal (at most 2 s on QUIC): a refusal must be read before the
    /// close that follows it. Over TCP the close is graceful (GOAWAY after
    /// what is queued), so the answer goes first.
    pub async fn close_after_answer(&self, send: &mut SendStream, code: u32, reason: &[u8]) {
        match self {
            Link::Quic(connection) => {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), send.stopped()).await;
                connection.close(code.into(), reason);
            }
            Link::Tcp(link) => link.close_with(Closing::AfterQueued),
        }
    }

    /// The next stream the terminal opens; an error once the connection ended.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), String> {
        match self {
            Link::Quic(connection) => connection
                .accept_bi()
                .await
                .map(|(send, recv)| (SendStream::Quic(send), RecvStream::Quic(recv)))
                .map_err(|e| e.to_string()),
            Link::Tcp(link) => link.accept_stream().await,
        }
    }

    /// The next position datagram (over TCP: the next frame of the
    /// position stream); an error once the connection ended.
    pub async fn read_datagram(&self) -> Result<Bytes, String> {
        match self {
            Link::Quic(connection) => connection.read_datagram().await.map_err(|e| e.to_string()),
            Link::Tcp(link) => link.read_datagram().await,
        }
    }

    /// The certificate chain the terminal authenticated with.
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        match self {
            Link::Quic(connection) => connection
                .peer_identity()?
                .downcast::<Vec<CertificateDer<'static>>>()
                .ok()
                .map(|chain| *chain),
            Link::Tcp(link) => Some(link.certificates().to_vec()),
        }
    }

    /// The transport's name, for logs and metrics.
    pub fn transport(&self) -> &'static str {
        match self {
            Link::Quic(_) => "quic",
            Link::Tcp(_) => "tcp",
        }
    }
}

/// How the driver of a TCP connection is asked to close it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// At once: GOAWAY carrying fieldlink close code (see
    /// `fieldlink_link::h2_reason_of`); what is queued is dropped.
    Now(u32),
    /// Gracefully: GOAWAY(NO_ERROR) after what is queued has been sent.
    AfterQueued,
}

/// A terminal's TCP connection, as the connection's task sees it: the
/// streams and position frames its driver (`tcp.rs`) hands over, and a
/// way to tell the driver to close.
pub struct TcpLink {
    id: usize,
    certificates: Vec<CertificateDer<'static>>,
    streams: tokio::sync::Mutex<mpsc::Receiver<(SendStream, RecvStream)>>,
    positions: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    /// Tells the driver to close.
    close: std::sync::Mutex<Option<oneshot::Sender<Closing>>>,
}

/// Ids for TCP links, apart from QUIC's (which are heap addresses).
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl TcpLink {
    /// A link fed by a driver through these channels.
    pub fn new(
        certificates: Vec<CertificateDer<'static>>,
        streams: mpsc::Receiver<(SendStream, RecvStream)>,
        positions: mpsc::Receiver<Bytes>,
        close: oneshot::Sender<Closing>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: (1 << (usize::BITS - 1)) | NEXT_ID.fetch_add(1, Ordering::Relaxed),
            certificates,
            streams: tokio::sync::Mutex::new(streams),
            positions: tokio::sync::Mutex::new(positions),
            close: std::sync::Mutex::new(Some(close)),
        })
    }

    /// An id unique among live connections.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The certificate chain the terminal authenticated with.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// Closes the connection (the first request counts).
    pub fn close_with(&self, closing: Closing) {
        if let Some(close) = self.close.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = close.send(closing);
        }
    }

    /// The next stream the terminal opened.
    pub async fn accept_stream(&self) -> Result<(SendStream, RecvStream), String> {
        self.streams
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| "the TCP connection ended".to_owned())
    }

    /// The next position frame.
    pub async fn read_datagram(&self) -> Result<Bytes, String> {
        self.positions
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| "the TCP connection ended".to_owned())
    }
}
