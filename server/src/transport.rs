//! The QUIC transport, with every setting chosen rather than inherited.
//!
//! - UDP socket buffers are set explicitly (default 4 MiB): quinn leaves the
//!   kernel's ~208 KiB, and bursts then drop even on loopback.
//! - Few concurrent streams: quinn pre-allocates state for every stream a peer
//!   may open, so idle memory grows with the limit.
//! - Explicit stream and connection receive windows (quinn's connection
//!   window is unbounded by default) and send window.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;

/// Binds the server's UDP socket with the configured buffer sizes.
///
/// The kernel may grant less than asked (net.core.rmem_max); the sizes it
/// granted are logged so an operator can see a capped buffer.
pub fn bind_udp(addr: SocketAddr, buffer_bytes: usize) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_recv_buffer_size(buffer_bytes)?;
    socket.set_send_buffer_size(buffer_bytes)?;
    socket.bind(&addr.into())?;
    let receive = socket.recv_buffer_size().unwrap_or(0);
    let send = socket.send_buffer_size().unwrap_or(0);
    if receive < buffer_bytes || send < buffer_bytes {
        tracing::warn!(
            requested_bytes = buffer_bytes,
            receive_bytes = receive,
            send_bytes = send,
            "kernel granted smaller UDP buffers than configured (raise net.core.rmem_max/wmem_max)"
        );
    }
    Ok(socket.into())
}

/// Position datagrams waiting to be read, per connection, bytes.
pub const DATAGRAM_RECEIVE_BUFFER_BYTES: usize = 4 * 1024;

/// Warns (once, at start: not at each CRL reload, which rebuilds the
/// transport) when a terminal's uploads can take all of its connection's
/// receive window: its records then wait behind them.
pub fn warn_if_uploads_can_fill_the_window(config: &Config) {
    let uploads_credit = u64::from(config.stream_receive_window_bytes)
        .saturating_mul(config.concurrent_uploads_per_device_max as u64);
    if u64::from(config.connection_receive_window_bytes) <= uploads_credit {
        tracing::warn!(
            connection_receive_window_bytes = config.connection_receive_window_bytes,
            uploads_credit,
            "a terminal's uploads can take all of its connection's receive window: its records then wait behind them (raise connection_receive_window_bytes)"
        );
    }
}

/// The transport parameters the server offers every terminal.
pub fn transport_config(config: &Config) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(config.concurrent_requests_max + 1))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .stream_receive_window(quinn::VarInt::from_u32(config.stream_receive_window_bytes))
        .receive_window(quinn::VarInt::from_u32(config.connection_receive_window_bytes))
        .send_window(u64::from(config.send_window_bytes))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_millis(config.idle_timeout_ms))
                .unwrap_or_else(|_| quinn::IdleTimeout::from(quinn::VarInt::from_u32(30_000))),
        ))
        // Position datagrams (docs/protocol.md §13): a few pings' worth; the
        // buffer grows only as datagrams wait, so idle connections pay nothing.
        .datagram_receive_buffer_size(Some(DATAGRAM_RECEIVE_BUFFER_BYTES))
        .datagram_send_buffer_size(0);
    transport
}

/// The quinn server configuration: TLS plus transport.
pub fn server_config(crypto: rustls::ServerConfig, config: &Config) -> Result<quinn::ServerConfig, String> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(crypto).map_err(|e| e.to_string())?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport_config(config)));
    // Incoming handshakes not yet admitted by the accept loop; the
    // handshake gate caps those in progress.
    server.max_incoming(config.pending_handshakes_max as usize);
    Ok(server)
}
