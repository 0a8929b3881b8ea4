//! One fieldlink/1 stream, whichever transport carried it.
//!
//! fieldlink/1 runs over QUIC (the default) and, where a network drops UDP,
//! over TLS 1.3 on TCP with HTTP/2 as the multiplexer (docs/protocol.md
//! §2a). The frames on a stream are the same either way; this crate gives
//! the server and the SDK one [`SendStream`] and one [`RecvStream`] type so
//! that every service is written once.
//!
//! Over HTTP/2 each fieldlink stream is one HTTP/2 stream: a `POST` to
//! [`STREAM_PATH`] whose request body is what the terminal sends and whose
//! response body is what the server answers. Positions, which QUIC carries
//! as datagrams, travel on one long-lived `POST` to [`POSITIONS_PATH`]
//! instead, and a ping that finds no send window is dropped, never queued.

mod close;
mod recv;
mod send;
#[cfg(test)]
mod tests;

pub use close::{close_code_of, h2_reason_of};
pub use recv::RecvStream;
pub use send::{SendStream, WriteError};

/// ALPN on TCP: plain HTTP/2, so that the connection looks like any HTTPS
/// connection to the firewalls it must cross.
pub const TCP_ALPN: &[u8] = b"h2";

/// The HTTP/2 path of a fieldlink request stream (hello, requests, the feed).
pub const STREAM_PATH: &str = "/fieldlink/1/stream";

/// The HTTP/2 path of a connection's position stream (at most one).
pub const POSITIONS_PATH: &str = "/fieldlink/1/positions";
