//! Making one session: QUIC endpoint, mutual TLS, the hello exchange.

use std::net::SocketAddr;
use std::sync::Arc;

use fieldlink_protocol::io::{read_frame, write_frame, ReadFrameError};
use fieldlink_protocol::pb::{self, hello::SignIn, hello_response};
use fieldlink_protocol::{limits, PROTOCOL_VERSION};
use prost::Message;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::config::{ClientConfig, Credentials};
use crate::error::{from_connection_error, Error};

/// The SDK's name and version as sent in the hello.
pub const SDK_VERSION: &str = concat!("fieldlink-client/", env!("CARGO_PKG_VERSION"));

/// Largest response frame the SDK accepts.
pub(crate) const RESPONSE_FRAME_BYTES_MAX: u32 = 1 << 20;

/// An open session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub connection: quinn::Connection,
    pub welcome: pb::Welcome,
}

/// Builds the QUIC client configuration: TLS 1.3 only, the agency CA as the
/// only root, the device certificate, ALPN `fieldlink/1`, no resumption or
/// early data (the server refuses both; see docs/protocol.md).
pub fn quic_client_config(config: &ClientConfig) -> Result<quinn::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&config.ca_pem) {
        let cert = cert.map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Config("no CA certificate given".into()));
    }
    let chain = CertificateDer::pem_slice_iter(&config.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("device certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&config.key_pem)
        .map_err(|e| Error::Config(format!("device key: {e}")))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| Error::Config(format!("device certificate: {e}")))?;
    tls.alpn_protocols = vec![fieldlink_protocol::ALPN.to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| Error::Config(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(config.keep_alive))
        .max_idle_timeout(quinn::IdleTimeout::try_from(config.idle_timeout).ok())
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(0))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    client.transport_config(Arc::new(transport));
    Ok(client)
}

/// A client endpoint on an ephemeral port with explicit socket buffers.
pub fn client_endpoint(server_addr: SocketAddr, buffer_bytes: usize) -> Result<quinn::Endpoint, Error> {
    lossy_client_endpoint(server_addr, buffer_bytes, 0.0)
}

/// A client endpoint whose socket drops `send_loss` of its outgoing datagrams
/// (0.0: a normal socket). For simulations and tests.
pub fn lossy_client_endpoint(
    server_addr: SocketAddr,
    buffer_bytes: usize,
    send_loss: f64,
) -> Result<quinn::Endpoint, Error> {
    let socket = udp_socket(server_addr, buffer_bytes)?;
    let socket = wrap_socket(socket, send_loss)?;
    quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| Error::Connection(format!("cannot open a QUIC endpoint: {e}")))
}

/// Moves an endpoint to a fresh local socket (a new local address, as when
/// a terminal switches between Wi-Fi and mobile data). Connections continue
/// over the new path (QUIC connection migration).
pub(crate) fn rebind(
    endpoint: &quinn::Endpoint,
    server_addr: SocketAddr,
    buffer_bytes: usize,
    send_loss: f64,
) -> Result<(), Error> {
    let socket = udp_socket(server_addr, buffer_bytes)?;
    let socket = wrap_socket(socket, send_loss)?;
    endpoint
        .rebind_abstract(socket)
        .map_err(|e| Error::Connection(format!("cannot rebind: {e}")))
}

fn udp_socket(server_addr: SocketAddr, buffer_bytes: usize) -> Result<std::net::UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind: SocketAddr = if server_addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let setup = || -> std::io::Result<std::net::UdpSocket> {
        let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
        // Best effort: the kernel may cap the sizes.
        let _ = socket.set_recv_buffer_size(buffer_bytes);
        let _ = socket.set_send_buffer_size(buffer_bytes);
        socket.bind(&bind.into())?;
        Ok(socket.into())
    };
    setup().map_err(|e| Error::Connection(format!("cannot open a UDP socket: {e}")))
}

fn wrap_socket(socket: std::net::UdpSocket, send_loss: f64) -> Result<Arc<dyn quinn::AsyncUdpSocket>, Error> {
    use quinn::Runtime;
    let socket = quinn::TokioRuntime
        .wrap_udp_socket(socket)
        .map_err(|e| Error::Connection(format!("cannot use the UDP socket: {e}")))?;
    if send_loss > 0.0 {
        return Ok(Arc::new(crate::lossy_socket::LossySocket::new(socket, send_loss)));
    }
    Ok(socket)
}

/// Connects, signs in, and returns the session.
pub(crate) async fn open_session(
    endpoint: &quinn::Endpoint,
    quic: &quinn::ClientConfig,
    config: &ClientConfig,
    server_addr: SocketAddr,
    credentials: &Credentials,
) -> Result<Session, Error> {
    let server_name = ServerName::try_from(config.server_name.as_str())
        .map_err(|e| Error::Config(format!("server name: {e}")))?;
    let connecting = endpoint
        .connect_with(quic.clone(), server_addr, &server_name.to_str())
        .map_err(|e| Error::Connection(e.to_string()))?;
    let connection = connecting.await.map_err(|e| from_connection_error(&e))?;
    match say_hello(&connection, credentials).await {
        Ok(welcome) => Ok(Session { connection, welcome }),
        Err(error) => {
            // With TLS 1.3 the server checks the device certificate after the
            // client's handshake completes; its refusal surfaces here, at the
            // first stream. The close reason tells it apart from a lost link.
            if let Some(reason) = connection.close_reason() {
                let classified = from_connection_error(&reason);
                if matches!(classified, Error::Authentication(_)) {
                    return Err(classified);
                }
            }
            Err(error)
        }
    }
}

/// Connects and signs in like [`crate::Client::connect`], returning the bare
/// connection and the server's welcome.
pub async fn open_raw_session(
    endpoint: &quinn::Endpoint,
    quic: &quinn::ClientConfig,
    config: &ClientConfig,
) -> Result<(quinn::Connection, pb::Welcome), Error> {
    let session = open_session(endpoint, quic, config, config.server_addr, &config.credentials).await?;
    Ok((session.connection, session.welcome))
}

async fn say_hello(connection: &quinn::Connection, credentials: &Credentials) -> Result<pb::Welcome, Error> {
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| from_connection_error(&e))?;
    let hello = pb::Hello {
        protocol_version: PROTOCOL_VERSION,
        sdk_version: SDK_VERSION.to_owned(),
        device_time_ms: now_ms(),
        sign_in: Some(match credentials {
            Credentials::Password { officer_id, password } => SignIn::Password(pb::PasswordSignIn {
                officer_id: officer_id.clone(),
                password: password.clone(),
            }),
            Credentials::Token(token) => SignIn::Token(pb::TokenSignIn { token: token.clone() }),
        }),
    };
    if hello.encoded_len() > limits::HELLO_FRAME_BYTES_MAX as usize {
        return Err(Error::Config("sign-in fields are too long".into()));
    }
    write_frame(&mut send, &hello)
        .await
        .map_err(|e| stream_error(connection, e))?;
    send.finish().map_err(|e| Error::Connection(e.to_string()))?;
    let body = read_frame(&mut recv, RESPONSE_FRAME_BYTES_MAX)
        .await
        .map_err(|e| read_error(connection, e))?;
    let response = pb::HelloResponse::decode(body.as_slice()).map_err(|e| Error::Protocol(e.to_string()))?;
    match response.result {
        Some(hello_response::Result::Welcome(welcome)) => Ok(welcome),
        // A busy server (too many connections from this device) may be retried.
        Some(hello_response::Result::Error(status)) if status.retryable => {
            Err(Error::Rejected(Box::new(status)))
        }
        Some(hello_response::Result::Error(status)) => Err(Error::SignInRefused(Box::new(status))),
        None => Err(Error::Protocol("empty hello response".into())),
    }
}

/// Classifies a failed stream write: the connection's close reason if it has one.
pub(crate) fn stream_error(connection: &quinn::Connection, error: impl std::fmt::Display) -> Error {
    match connection.close_reason() {
        Some(reason) => from_connection_error(&reason),
        None => Error::Connection(error.to_string()),
    }
}

/// Classifies a failed frame read.
pub(crate) fn read_error(connection: &quinn::Connection, error: ReadFrameError) -> Error {
    match error {
        ReadFrameError::Frame(frame) => match connection.close_reason() {
            Some(reason) => from_connection_error(&reason),
            None => Error::Protocol(format!("bad response frame: {frame}")),
        },
        ReadFrameError::Io(io) => stream_error(connection, io),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
