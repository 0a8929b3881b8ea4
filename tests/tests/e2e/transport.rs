//! The QUIC transport's limits, seen from a client: handshake admission
//! (cap and Retry), stream and receive-window limits, open-and-reset churn,
//! and no TLS resumption that could outlive a revocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldlink_protocol::close_code;
use fieldlink_tests::impairment::{Conditions, ImpairmentProxy};
use fieldlink_tests::{client_config, connect, raw_session, record, TestServer};
use rustls_pki_types::pem::PemObject;

/// A QUIC client endpoint with the dev certificate of `device`, configured
/// as a careless client would be: resumption and early data switched on.
fn resuming_client(
    device_certs: &std::path::Path,
    device: &str,
    store: Arc<CountingStore>,
) -> quinn::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(device_certs.join("ca.pem")).unwrap();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain = rustls_pki_types::CertificateDer::pem_file_iter(device_certs.join(format!("{device}.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key =
        rustls_pki_types::PrivateKeyDer::from_pem_file(device_certs.join(format!("{device}.key"))).unwrap();
    let mut tls =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
    tls.alpn_protocols = vec![fieldlink_protocol::ALPN.to_vec()];
    tls.resumption = rustls::client::Resumption::store(store);
    tls.enable_early_data = true;
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    ))
}

/// A TLS session store that counts the tickets the server hands out.
#[derive(Debug)]
struct CountingStore {
    inner: rustls::client::ClientSessionMemoryCache,
    tickets: AtomicUsize,
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, server_name: rustls_pki_types::ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group)
    }
    fn kx_hint(&self, server_name: &rustls_pki_types::ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(
        &self,
        server_name: rustls_pki_types::ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value)
    }
    fn tls12_session(
        &self,
        server_name: &rustls_pki_types::ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &rustls_pki_types::ServerName<'static>) {
        self.inner.remove_tls12_session(server_name)
    }
    fn insert_tls13_ticket(
        &self,
        server_name: rustls_pki_types::ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value)
    }
    fn take_tls13_ticket(
        &self,
        server_name: &rustls_pki_types::ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

/// Opens a connection and a stream, to find out whether the server serves it
/// (with TLS 1.3 a refused client certificate may surface only then).
async fn served(endpoint: &quinn::Endpoint, quic: quinn::ClientConfig, addr: std::net::SocketAddr) -> bool {
    let Ok(connecting) = endpoint.connect_with(quic, addr, "localhost") else {
        return false;
    };
    let Ok(Ok(connection)) = tokio::time::timeout(Duration::from_secs(30), connecting).await else {
        return false;
    };
    let exchange = async {
        let (mut send, mut recv) = connection.open_bi().await?;
        // An empty hello: the server answers it (with an error) only if it
        // accepted the certificate.
        send.write_all(&[0]).await?;
        send.finish()?;
        recv.read_to_end(1 << 16).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(30), exchange).await;
    connection.close(0u32.into(), b"done");
    matches!(result, Ok(Ok(())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_asking_for_resumption_gets_no_ticket_and_a_revoked_one_cannot_come_back() {
    let certs = fieldlink_tests::dev_certs_copy();
    let tls = fieldlink_server::tls::TlsFiles::dev(certs.path());
    let server = TestServer::start_with(move |config| {
        config.tls = Some(tls);
        config.crl_check_interval_ms = 100;
    })
    .await;
    let store = Arc::new(CountingStore {
        inner: rustls::client::ClientSessionMemoryCache::new(16),
        tickets: AtomicUsize::new(0),
    });
    let quic = resuming_client(certs.path(), "device-003", store.clone());
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    assert!(served(&endpoint, quic.clone(), server.addr()).await);
    assert!(served(&endpoint, quic.clone(), server.addr()).await);
    assert_eq!(
        store.tickets.load(Ordering::SeqCst),
        0,
        "the server issued a session ticket; a resumed session would skip the certificate check"
    );

    fieldlink_server::revocation::revoke_device(
        &certs.path().join("ca.pem"),
        &certs.path().join("ca.key"),
        &certs.path().join("crl.pem"),
        &certs.path().join("device-003.pem"),
    )
    .unwrap();
    let storage = &server.server.state().storage;
    for _ in 0..600 {
        if storage.device_revoked_at("device-003").await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(storage.device_revoked_at("device-003").await.unwrap().is_some());
    // The same client, with whatever its session store holds, is refused.
    assert!(!served(&endpoint, quic, server.addr()).await);
    assert_eq!(store.tickets.load(Ordering::SeqCst), 0);
    // Others are not disturbed.
    let other = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    other.submit_inspection(&record("officer-01")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_handshake_load_unvalidated_clients_must_answer_a_retry_first() {
    // Threshold 0: every new client is asked to prove its address.
    let server = TestServer::start_with(|config| {
        config.handshake_retry_above = 0;
        config.pending_handshakes_max = 2;
    })
    .await;
    let gate = server.server.state().handshakes.clone();
    // Clients that never hear the server (as with a spoofed source address)
    // never echo the Retry token, so they never take a handshake slot.
    let proxy = ImpairmentProxy::start(
        server.addr(),
        Conditions {
            server_silenced: true,
            ..Default::default()
        },
        7,
    )
    .await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let endpoint = fieldlink_client::raw::client_endpoint(proxy.addr(), 1 << 20).unwrap();
        let quic = fieldlink_client::raw::quic_client_config(&client_config(
            proxy.addr(),
            "device-001",
            "officer-01",
        ))
        .unwrap();
        let connecting = endpoint.connect_with(quic, proxy.addr(), "localhost").unwrap();
        stalled.push((endpoint, tokio::spawn(connecting)));
    }
    for _ in 0..600 {
        if gate.counters().retried.load(Ordering::Relaxed) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gate.counters().retried.load(Ordering::Relaxed) >= 4);
    assert_eq!(gate.pending(), 0, "an unvalidated client holds a handshake slot");

    // A real terminal answers the Retry and is served.
    let client = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    client.submit_inspection(&record("officer-02")).await.unwrap();
    assert!(gate.counters().admitted.load(Ordering::Relaxed) >= 1);
    for (_, task) in &stalled {
        assert!(!task.is_finished());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_past_the_cap_are_refused_until_one_ends() {
    let server = TestServer::start_with(|config| {
        config.pending_handshakes_max = 2;
        config.handshake_retry_above = u32::MAX;
    })
    .await;
    let gate = server.server.state().handshakes.clone();
    // Two handshakes stall: the server hears them, its answers are lost.
    let proxy = ImpairmentProxy::start(
        server.addr(),
        Conditions {
            server_silenced: true,
            ..Default::default()
        },
        8,
    )
    .await;
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let endpoint = fieldlink_client::raw::client_endpoint(proxy.addr(), 1 << 20).unwrap();
        let quic = fieldlink_client::raw::quic_client_config(&client_config(
            proxy.addr(),
            "device-001",
            "officer-01",
        ))
        .unwrap();
        let connecting = endpoint.connect_with(quic, proxy.addr(), "localhost").unwrap();
        stalled.push((endpoint, tokio::spawn(connecting)));
    }
    for _ in 0..600 {
        if gate.pending() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gate.pending(), 2);

    // A third is refused outright (CONNECTION_REFUSED), not queued.
    let endpoint = fieldlink_client::raw::client_endpoint(server.addr(), 1 << 20).unwrap();
    let quic =
        fieldlink_client::raw::quic_client_config(&client_config(server.addr(), "device-002", "officer-02"))
            .unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        endpoint.connect_with(quic, server.addr(), "localhost").unwrap(),
    )
    .await
    .expect("an answer in time");
    match refused {
        Err(quinn::ConnectionError::ConnectionClosed(close)) => {
            assert_eq!(close.error_code, quinn::TransportErrorCode::CONNECTION_REFUSED)
        }
        other => panic!("expected CONNECTION_REFUSED, got {other:?}"),
    }
    assert!(gate.counters().refused.load(Ordering::Relaxed) >= 1);

    // The stalled ones complete once their link recovers, and free their slots.
    proxy.set(Conditions::default());
    for (_, task) in stalled {
        let connection = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the stalled handshake completes")
            .unwrap()
            .expect("a connection");
        connection.close(0u32.into(), b"done");
    }
    for _ in 0..600 {
        if gate.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    client.submit_inspection(&record("officer-02")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_may_open_only_the_configured_number_of_request_streams() {
    let server = TestServer::start_with(|config| config.concurrent_requests_max = 2).await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    // Each stream starts a frame and stalls: the server keeps it open.
    let mut open = Vec::new();
    for _ in 0..8 {
        let Ok(Ok((mut send, recv))) =
            tokio::time::timeout(Duration::from_secs(2), connection.open_bi()).await
        else {
            break;
        };
        send.write_all(&[0x80]).await.unwrap();
        open.push((send, recv));
    }
    // concurrent_requests_max + 1 (the assignment feed's stream).
    assert_eq!(open.len(), 3);
    // When one ends, the next may open.
    let (mut send, _recv) = open.remove(0);
    send.reset(0u32.into()).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(30), connection.open_bi()).await;
    assert!(matches!(next, Ok(Ok(_))), "no stream credit came back: {next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_windows_bound_what_a_peer_can_send_ahead_of_the_server() {
    const STREAM_WINDOW: u32 = 64 * 1024;
    const CONNECTION_WINDOW: u32 = 160 * 1024;
    let server = TestServer::start_with(|config| {
        config.concurrent_requests_max = 4;
        config.stream_receive_window_bytes = STREAM_WINDOW;
        config.connection_receive_window_bytes = CONNECTION_WINDOW;
    })
    .await;
    let endpoint = fieldlink_client::raw::client_endpoint(server.addr(), 1 << 20).unwrap();
    let quic =
        fieldlink_client::raw::quic_client_config(&client_config(server.addr(), "device-001", "officer-01"))
            .unwrap();
    let connection = endpoint
        .connect_with(quic, server.addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    // The server waits for a hello on the first stream and reads nothing
    // else, so whatever the other streams carry sits in its buffers.
    let (_hello_send, _hello_recv) = connection.open_bi().await.unwrap();
    let chunk = vec![0u8; 4096];
    let mut per_stream = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let (mut send, recv) = connection.open_bi().await.unwrap();
        let mut sent = 0usize;
        // Bounded: 1 MiB per stream at most; stops at the first write the
        // server's flow control holds back.
        while sent < (1 << 20) {
            match tokio::time::timeout(Duration::from_millis(500), send.write(&chunk)).await {
                Ok(Ok(n)) => sent += n,
                _ => break,
            }
        }
        per_stream.push(sent);
        streams.push((send, recv));
    }
    let total: usize = per_stream.iter().sum();
    for sent in &per_stream {
        assert!(
            *sent <= STREAM_WINDOW as usize,
            "a stream sent {sent} bytes past its window"
        );
    }
    assert!(
        total <= CONNECTION_WINDOW as usize,
        "{total} bytes past the connection window"
    );
    assert!(
        per_stream[0] > 0,
        "the first stream could send nothing: {per_stream:?}"
    );
    assert!(
        total > STREAM_WINDOW as usize,
        "the connection window was not used: {per_stream:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_keeps_abandoning_streams_is_closed_and_others_keep_working() {
    let server = TestServer::start_with(|config| config.abandoned_streams_per_minute_max = 10).await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let other = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    // Bounded: at most 200 streams opened and reset.
    for _ in 0..200 {
        let Ok(Ok((mut send, _recv))) =
            tokio::time::timeout(Duration::from_secs(10), connection.open_bi()).await
        else {
            break;
        };
        if send.write_all(&[0x80]).await.is_err() {
            break;
        }
        let _ = send.reset(0u32.into());
    }
    let reason = tokio::time::timeout(Duration::from_secs(30), connection.closed())
        .await
        .expect("the server closed the connection");
    match reason {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, close_code::TOO_MANY_ABANDONED_STREAMS.into())
        }
        other => panic!("expected TOO_MANY_ABANDONED_STREAMS, got {other}"),
    }
    other.submit_inspection(&record("officer-02")).await.unwrap();
    // The device itself may reconnect (a fresh budget) and is served.
    let again = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    again.submit_inspection(&record("officer-01")).await.unwrap();
}
