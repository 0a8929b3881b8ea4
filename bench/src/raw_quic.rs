//! Raw quinn baselines: an endpoint with exactly the server's TLS (mutual,
//! the dev certificates), transport settings and socket buffers, and no
//! application. It holds connections idle and either answers every request
//! stream with fixed bytes after reading it to its end, or treats every
//! stream as a feed (as our assignment feed is: opened by the terminal,
//! written by the server) and writes each pushed message on it — the
//! transport's own ceiling for each scenario, measured in the same run as
//! ours.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;

/// Largest request a raw server reads (a 4 MiB photo fits).
const REQUEST_BYTES_MAX: usize = 64 << 20;

/// What a raw server does with the streams terminals open.
#[derive(Clone)]
pub enum Mode {
    /// Reads each stream to its end, then answers with these bytes.
    Answer(Arc<Vec<u8>>),
    /// Keeps each stream as a feed: one ready byte, then every pushed message.
    Feed,
}

/// A raw quinn server.
pub struct RawServer {
    endpoint: quinn::Endpoint,
    pushes: broadcast::Sender<Arc<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    /// Listens on a free loopback port with `config`'s TLS and transport
    /// settings, serving streams as `mode` says.
    pub fn start(config: &fieldlink_server::Config, mode: Mode) -> Result<Self, String> {
        let endpoint = endpoint(config)?;
        let (pushes, _) = broadcast::channel(16);
        let task = tokio::spawn(accept(endpoint.clone(), mode, pushes.clone()));
        Ok(Self {
            endpoint,
            pushes,
            task,
        })
    }

    /// Its address.
    pub fn addr(&self) -> Result<SocketAddr, String> {
        self.endpoint.local_addr().map_err(|e| e.to_string())
    }

    /// Writes `message` on every feed stream.
    pub fn push(&self, message: Vec<u8>) {
        let _ = self.pushes.send(Arc::new(message));
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"done");
        self.task.abort();
    }
}

/// A server endpoint with the server's TLS, transport and socket settings.
pub fn endpoint(config: &fieldlink_server::Config) -> Result<quinn::Endpoint, String> {
    let files = config.tls_files().map_err(|e| e.to_string())?;
    let tls = fieldlink_server::tls::server_config(&files, true).map_err(|e| e.to_string())?;
    let server = fieldlink_server::transport::server_config(tls, config)?;
    let socket = fieldlink_server::transport::bind_udp(config.listen, config.udp_buffer_bytes)
        .map_err(|e| e.to_string())?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| e.to_string())
}

async fn accept(endpoint: quinn::Endpoint, mode: Mode, pushes: broadcast::Sender<Arc<Vec<u8>>>) {
    while let Some(incoming) = endpoint.accept().await {
        let (mode, pushes) = (mode.clone(), pushes.clone());
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else { return };
            while let Ok((send, recv)) = connection.accept_bi().await {
                match &mode {
                    Mode::Answer(answer) => {
                        tokio::spawn(answer_stream(send, recv, answer.clone()));
                    }
                    Mode::Feed => {
                        tokio::spawn(feed_stream(send, pushes.subscribe()));
                    }
                }
            }
        });
    }
}

async fn answer_stream(mut send: quinn::SendStream, mut recv: quinn::RecvStream, answer: Arc<Vec<u8>>) {
    // Read chunk by chunk (nothing kept), as an upload is.
    loop {
        match recv.read_chunk(REQUEST_BYTES_MAX, true).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let _ = send.write_all(&answer).await;
    let _ = send.finish();
}

async fn feed_stream(mut send: quinn::SendStream, mut pushed: broadcast::Receiver<Arc<Vec<u8>>>) {
    if send.write_all(&[1]).await.is_err() {
        return;
    }
    while let Ok(message) = pushed.recv().await {
        if send.write_all(&message).await.is_err() {
            return;
        }
    }
}

/// One request on a new stream of `connection`: writes `request`, finishes,
/// reads the whole answer.
pub async fn request(connection: &quinn::Connection, request: &[u8]) -> Result<(), String> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(request).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    recv.read_to_end(1 << 20).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Opens a feed stream on `connection` and waits until the server holds it.
pub async fn open_feed(
    connection: &quinn::Connection,
) -> Result<(quinn::SendStream, quinn::RecvStream), String> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    // A stream is visible to the peer only once something is sent on it.
    send.write_all(&[0]).await.map_err(|e| e.to_string())?;
    let mut ready = [0u8; 1];
    recv.read_exact(&mut ready).await.map_err(|e| e.to_string())?;
    Ok((send, recv))
}

/// Reads the next pushed message (`bytes` long) from a feed; returns when
/// it had arrived whole.
pub async fn next_push(recv: &mut quinn::RecvStream, buffer: &mut [u8]) -> Result<Instant, String> {
    recv.read_exact(buffer).await.map_err(|e| e.to_string())?;
    Ok(Instant::now())
}

/// Connects to a raw server with a terminal's TLS configuration, on an
/// endpoint of its own with the SDK's socket buffers (as every terminal has).
pub async fn connect(
    config: &fieldlink_client::ClientConfig,
    quic: &quinn::ClientConfig,
) -> Result<(quinn::Endpoint, quinn::Connection), String> {
    let endpoint = fieldlink_client::raw::client_endpoint(config.server_addr, config.udp_buffer_bytes)
        .map_err(|e| e.to_string())?;
    let connection = endpoint
        .connect_with(quic.clone(), config.server_addr, "localhost")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok((endpoint, connection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn terminal(addr: SocketAddr) -> (fieldlink_client::ClientConfig, quinn::ClientConfig) {
        let config = fieldlink_tests::client_config(addr, "device-001", "officer-01");
        let quic = fieldlink_client::raw::quic_client_config(&config).unwrap();
        (config, quic)
    }

    #[tokio::test]
    async fn a_raw_server_answers_after_reading_the_whole_request() {
        let dir = tempfile::tempdir().unwrap();
        let server = RawServer::start(
            &fieldlink_tests::dev_config(dir.path()),
            Mode::Answer(Arc::new(b"receipt".to_vec())),
        )
        .unwrap();
        let (config, quic) = terminal(server.addr().unwrap());
        let (_endpoint, connection) = connect(&config, &quic).await.unwrap();
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&vec![7u8; 300_000]).await.unwrap();
        send.finish().unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(30), recv.read_to_end(1024))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer, b"receipt");
    }

    #[tokio::test]
    async fn a_raw_server_writes_each_push_on_every_feed() {
        let dir = tempfile::tempdir().unwrap();
        let server = RawServer::start(&fieldlink_tests::dev_config(dir.path()), Mode::Feed).unwrap();
        let (config, quic) = terminal(server.addr().unwrap());
        let mut feeds = Vec::new();
        for _ in 0..3 {
            let (endpoint, connection) = connect(&config, &quic).await.unwrap();
            let (send, recv) = open_feed(&connection).await.unwrap();
            feeds.push((endpoint, connection, send, recv));
        }
        for message in [b"first", b"again"] {
            server.push(message.to_vec());
            for (_, _, _, recv) in &mut feeds {
                let mut buffer = [0u8; 5];
                tokio::time::timeout(Duration::from_secs(30), next_push(recv, &mut buffer))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(&buffer, message);
            }
        }
    }
}
