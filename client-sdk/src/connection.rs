//! Making one session: QUIC endpoint or TCP (with the race between them),
//! mutual TLS, the hello exchange.

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
use crate::link::{connect_tcp, Link, TcpSettings};

/// The SDK's name and version as sent in the hello.
pub const SDK_VERSION: &str = concat!("fieldlink-client/", env!("CARGO_PKG_VERSION"));

/// Largest response frame the SDK accepts.
pub(crate) const RESPONSE_FRAME_BYTES_MAX: u32 = 1 << 20;

/// An open session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub connection: Link,
    pub welcome: pb::Welcome,
}

/// Builds the QUIC client configuration: TLS 1.3 only, the agency CA as the
/// only root, the device certificate, ALPN `fieldlink/1`, no resumption or
/// early data (the server refuses both; see docs/protocol.md).
pub fn quic_client_config(config: &ClientConfig) -> Result<quinn::ClientConfig, Error> {
    let mut tls = tls_client_config(config)?;
    tls.alpn_protocols = vec![fieldlink_protocol::ALPN.to_vec()];
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

/// The TLS configuration for TCP: the same as QUIC's, with ALPN `h2`.
pub(crate) fn tcp_client_config(config: &ClientConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut tls = tls_client_config(config)?;
    tls.alpn_protocols = vec![fieldlink_link::TCP_ALPN.to_vec()];
    Ok(Arc::new(tls))
}

/// TLS 1.3 only, the agency CA as the only root, the device certificate,
/// no resumption or early data.
fn tls_client_config(config: &ClientConfig) -> Result<rustls::ClientConfig, Error> {
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
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    Ok(tls)
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

/// How to reach one server address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Quic,
    Tcp,
    /// QUIC first; TCP beside it after `after` without a QUIC handshake
    /// (or at once if QUIC fails first). The first handshake wins.
    Race {
        after: std::time::Duration,
    },
}

/// What connecting needs: the QUIC endpoint and both TLS configurations.
pub(crate) struct Connector<'a> {
    pub endpoint: &'a quinn::Endpoint,
    pub quic: &'a quinn::ClientConfig,
    pub tcp_tls: &'a Arc<rustls::ClientConfig>,
    pub config: &'a ClientConfig,
}

impl Connector<'_> {
    /// Connects to `addr` (TCP: `tcp_addr`) as `plan` says, signs in, and
    /// returns the session.
    pub(crate) async fn open_session(
        &self,
        plan: Plan,
        addr: SocketAddr,
        tcp_addr: SocketAddr,
        credentials: &Credentials,
    ) -> Result<Session, Error> {
        let connection = self.handshake(plan, addr, tcp_addr).await?;
        match say_hello(&connection, credentials).await {
            Ok(welcome) => Ok(Session { connection, welcome }),
            Err(error) => {
                // With TLS 1.3 the server checks the device certificate after
                // the client's handshake completes; its refusal surfaces here,
                // at the first stream. The close reason tells it apart from a
                // lost link.
                let ended = connection.ended_reason(std::time::Duration::from_secs(2)).await;
                if let Some(classified @ Error::Authentication(_)) = ended {
                    return Err(classified);
                }
                Err(error)
            }
        }
    }

    async fn handshake(&self, plan: Plan, addr: SocketAddr, tcp_addr: SocketAddr) -> Result<Link, Error> {
        let after = match plan {
            Plan::Quic => return self.quic(addr).await,
            Plan::Tcp => return self.tcp(tcp_addr).await,
            Plan::Race { after } => after,
        };
        let quic_failed = tokio::sync::Notify::new();
        let quic = self.quic(addr);
        let tcp = async {
            tokio::select! {
                () = tokio::time::sleep(after) => {}
                () = quic_failed.notified() => {}
            }
            tracing::debug!(%addr, "no QUIC handshake yet: trying TCP beside it");
            self.tcp(tcp_addr).await
        };
        tokio::pin!(quic, tcp);
        let (mut quic_done, mut tcp_done) = (false, false);
        loop {
            let failed = tokio::select! {
                result = &mut quic, if !quic_done => {
                    quic_done = true;
                    quic_failed.notify_one();
                    result
                }
                result = &mut tcp, if !tcp_done => {
                    tcp_done = true;
                    result
                }
            };
            match failed {
                Ok(link) => return Ok(link),
                Err(error) if !error.is_retryable() || (quic_done && tcp_done) => return Err(error),
                Err(error) => tracing::debug!(%error, "one transport failed; waiting for the other"),
            }
        }
    }

    async fn quic(&self, addr: SocketAddr) -> Result<Link, Error> {
        let server_name = ServerName::try_from(self.config.server_name.as_str())
            .map_err(|e| Error::Config(format!("server name: {e}")))?;
        let connecting = self
            .endpoint
            .connect_with(self.quic.clone(), addr, &server_name.to_str())
            .map_err(|e| Error::Connection(e.to_string()))?;
        let connection = connecting.await.map_err(|e| from_connection_error(&e))?;
        Ok(Link::Quic(connection))
    }

    async fn tcp(&self, addr: SocketAddr) -> Result<Link, Error> {
        connect_tcp(
            addr,
            &TcpSettings {
                tls: self.tcp_tls.clone(),
                server_name: &self.config.server_name,
                keep_alive: self.config.keep_alive,
                idle_timeout: self.config.idle_timeout,
            },
        )
        .await
    }
}

/// Connects over QUIC and signs in like [`crate::Client::connect`],
/// returning the bare connection and the server's welcome.
pub async fn open_raw_session(
    endpoint: &quinn::Endpoint,
    quic: &quinn::ClientConfig,
    config: &ClientConfig,
) -> Result<(quinn::Connection, pb::Welcome), Error> {
    let tcp_tls = tcp_client_config(config)?;
    let connector = Connector {
        endpoint,
        quic,
        tcp_tls: &tcp_tls,
        config,
    };
    let session = connector
        .open_session(
            Plan::Quic,
            config.server_addr,
            config.server_addr,
            &config.credentials,
        )
        .await?;
    match session.connection {
        Link::Quic(connection) => Ok((connection, session.welcome)),
        Link::Tcp(_) => Err(Error::Protocol("a QUIC session came back over TCP".into())),
    }
}

async fn say_hello(connection: &Link, credentials: &Credentials) -> Result<pb::Welcome, Error> {
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| stream_error(connection, e))?;
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
    // A refusal may come back before our end of the stream is sent (over
    // TCP the server then resets the rest of the request): the answer
    // decides, not the failed finish.
    let _ = send.finish();
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
pub(crate) fn stream_error(connection: &Link, error: impl std::fmt::Display) -> Error {
    connection
        .close_reason()
        .unwrap_or_else(|| Error::Connection(error.to_string()))
}

/// Classifies a failed frame read.
pub(crate) fn read_error(connection: &Link, error: ReadFrameError) -> Error {
    match error {
        ReadFrameError::Frame(frame) => connection
            .close_reason()
            .unwrap_or_else(|| Error::Protocol(format!("bad response frame: {frame}"))),
        ReadFrameError::Io(io) => stream_error(connection, io),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
