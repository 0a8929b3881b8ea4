//! A terminal's connection, over QUIC or over TLS and HTTP/2 on TCP: what
//! the connection's task, the revocation watch and the request tasks need
//! of it, the same whichever transport carries it.

use std::sync::Arc;

use bytes::Bytes;
use fieldlink_link::{RecvStream, SendStream};
use rustls_pki_types::CertificateDer;

use crate::tcp::TcpLink;

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
            Link::Tcp(link) => link.close(code),
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
