//! fieldlink/1 over TLS and HTTP/2 on TCP, for networks that drop UDP:
//! receipts, resumable uploads, the exactly-once feed and positions work as
//! over QUIC; a terminal whose UDP is black-holed falls back to TCP and
//! returns to QUIC once it gets through; and what a hostile client can send
//! to the TCP port is refused while the server goes on serving.

use std::time::Duration;

use fieldlink_client::{Client, Transport};
use fieldlink_protocol::pb;
use fieldlink_tests::impairment::{Conditions, ImpairmentProxy};
use fieldlink_tests::{assignment_for, client_config, next_event, photo_for, record, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A terminal that speaks TCP only.
async fn tcp_terminal(server: &TestServer, device: &str, officer: &str) -> Client {
    let mut config = client_config(server.addr(), device, officer);
    config.transport = Transport::Tcp;
    config.tcp_addr = Some(server.tcp_addr());
    let client = Client::connect(config).await.expect("a TCP session");
    assert_eq!(client.transport().await, Some(Transport::Tcp));
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_uploads_the_feed_and_positions_work_over_tcp() {
    let server = TestServer::start().await;
    let terminal = tcp_terminal(&server, "device-001", "officer-01").await;

    // A record, and its resend answered with the same receipt.
    let inspection = record("officer-01");
    let receipt = terminal.submit_inspection(&inspection).await.unwrap();
    assert!(!receipt.replayed);
    let again = terminal.submit_inspection(&inspection).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.server_seq, receipt.server_seq);

    // A photo: its bytes flow under HTTP/2 flow control and arrive exact.
    let (photo, jpeg) = photo_for(&inspection.id, 7);
    let mut sent = Vec::new();
    let stored = terminal
        .upload_photo(&photo, |p| sent.push(p.sent_bytes))
        .await
        .unwrap();
    assert_eq!(stored.size_bytes, jpeg.len() as u64);
    assert_eq!(server.blob(&stored.sha256).as_deref(), Some(jpeg.as_slice()));
    assert_eq!(sent.last(), Some(&(jpeg.len() as u64)));
    // Its resend is answered before its bytes are read (the server resets
    // the rest of the stream, NO_ERROR, after its answer).
    let replayed = terminal.upload_photo(&photo, |_| {}).await.unwrap();
    assert!(replayed.replayed);

    // The feed: an assignment dispatched over QUIC reaches the TCP terminal.
    let supervisor = fieldlink_tests::connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let mut feed = terminal.assignments();
    let created = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let event = next_event(&mut feed).await;
    assert_eq!(
        event.assignment.map(|a| a.id),
        created.assignment.map(|a| a.id),
        "the dispatched assignment arrives over TCP"
    );

    // A position travels on the position stream and reaches the board.
    let ping = pb::PositionPing {
        latitude: 29.8683,
        longitude: 121.5440,
        accuracy_m: 8.0,
        speed_mps: 1.0,
        at_ms: fieldlink_client::now_ms(),
    };
    terminal.send_position(&ping).await.unwrap();
    let positions = server.server.state().positions.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !positions.latest().iter().any(|p| p.officer_id == "officer-01") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the position never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.item_count().await,
        2,
        "the record and the photo, once each"
    );
}

/// The loopback variant of the UDP block (tests/netns runs the real one):
/// QUIC goes through a proxy that drops every datagram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_whose_udp_is_dropped_falls_back_to_tcp_and_returns_to_quic() {
    let server = TestServer::start().await;
    let blocked = Conditions {
        blackhole: true,
        ..Conditions::default()
    };
    let proxy = ImpairmentProxy::start(server.addr(), blocked, 22).await;
    let mut config = client_config(proxy.addr(), "device-001", "officer-01");
    config.transport = Transport::Auto;
    config.tcp_addr = Some(server.tcp_addr());
    config.tcp_fallback_after = Duration::from_millis(300);
    config.quic_retry_after = Duration::from_secs(10);
    let terminal = Client::connect(config).await.expect("a session over TCP");
    assert_eq!(terminal.transport().await, Some(Transport::Tcp));
    let receipt = terminal.submit_inspection(&record("officer-01")).await.unwrap();
    assert!(!receipt.replayed);

    // This network is remembered: a reconnect goes straight to TCP and
    // sends no QUIC packet at all (until QUIC is due to be tried again).
    let dropped = proxy.counts()[0];
    assert!(dropped > 0, "the QUIC attempt went through the proxy");
    terminal.disconnect().await;
    terminal.submit_inspection(&record("officer-01")).await.unwrap();
    assert_eq!(terminal.transport().await, Some(Transport::Tcp));
    assert_eq!(proxy.counts()[0], dropped, "QUIC was tried again at once");

    // The block lifts: within a few retry intervals the terminal is on QUIC.
    proxy.set(Conditions::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        terminal.submit_inspection(&record("officer-01")).await.unwrap();
        if terminal.transport().await == Some(Transport::Quic) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never returned to QUIC");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let on_quic = terminal.submit_inspection(&record("officer-01")).await.unwrap();
    assert!(!on_quic.replayed);
}

/// Connects TLS with `device`'s certificate (none: no certificate) to the
/// TCP port.
async fn tls_to(
    server: &TestServer,
    device: Option<&str>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(server.tcp_addr()).await?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("server name");
    tokio_rustls::TlsConnector::from(fieldlink_tests::tcp_tls_config(device))
        .connect(name, tcp)
        .await
}

/// Reads until the peer closes (or errs); the bytes read. Panics if the
/// peer keeps the connection open for a minute.
async fn read_until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .expect("the server closed the connection");
    seen
}

/// An HTTP/2 frame: length, type, flags, stream id, payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut frame = length.to_be_bytes()[1..].to_vec();
    frame.extend_from_slice(&[kind, flags]);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The error code of the first GOAWAY frame in `bytes` (after TLS), if any.
fn goaway_code(bytes: &[u8]) -> Option<u32> {
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let length = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        let kind = bytes[at + 3];
        let payload = bytes.get(at + 9..at + 9 + length)?;
        if kind == 0x7 && payload.len() >= 8 {
            return Some(u32::from_be_bytes([
                payload[4], payload[5], payload[6], payload[7],
            ]));
        }
        at += 9 + length;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_tcp_port_is_refused_and_the_server_goes_on_serving() {
    let server = TestServer::start().await;
    let witness = tcp_terminal(&server, "device-002", "officer-02").await;

    // Garbage instead of a TLS ClientHello: closed.
    let mut garbage = tokio::net::TcpStream::connect(server.tcp_addr()).await.unwrap();
    garbage.write_all(&[0x5a; 4096]).await.unwrap();
    read_until_closed(&mut garbage).await;

    // Plain HTTP/1 to the TLS port: closed, nothing served.
    let mut plain = tokio::net::TcpStream::connect(server.tcp_addr()).await.unwrap();
    plain
        .write_all(b"GET /fieldlink/1/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut plain).await;
    assert!(!answer.starts_with(b"HTTP/"), "an HTTP/1 answer: {answer:?}");

    // A TLS client without a certificate: the handshake fails (TLS 1.3
    // reports it at the first read) and no HTTP/2 is spoken.
    let refused = match tls_to(&server, None).await {
        Err(_) => true,
        Ok(mut stream) => {
            let _ = stream.write_all(PREFACE).await;
            let _ = stream.write_all(&h2_frame(0x4, 0, 0, &[])).await;
            let mut byte = [0u8; 1];
            !matches!(
                tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte)).await,
                Ok(Ok(1))
            )
        }
    };
    assert!(refused, "a client without a certificate was served");

    // A device certificate, then a frame over the 16 KiB limit: GOAWAY
    // FRAME_SIZE_ERROR (0x6) and the connection closes.
    let mut oversize = tls_to(&server, Some("device-001")).await.unwrap();
    oversize.write_all(PREFACE).await.unwrap();
    oversize.write_all(&h2_frame(0x4, 0, 0, &[])).await.unwrap();
    let headers = h2_frame(0x1, 0x4, 1, &vec![0u8; 20_000]);
    let _ = oversize.write_all(&headers).await;
    let seen = read_until_closed(&mut oversize).await;
    assert_eq!(goaway_code(&seen), Some(0x6), "no FRAME_SIZE_ERROR GOAWAY");

    // A header flood: CONTINUATION frames of literal headers far past the
    // 8 KiB list limit. The connection is closed.
    let mut flood = tls_to(&server, Some("device-001")).await.unwrap();
    flood.write_all(PREFACE).await.unwrap();
    flood.write_all(&h2_frame(0x4, 0, 0, &[])).await.unwrap();
    let mut field = vec![0x00, 0x07];
    field.extend_from_slice(b"x-flood");
    field.push(0x7f);
    field.push(0x81);
    field.push(0x07); // 127 + 1 + 7 * 128 = 1024 bytes of value
    field.extend_from_slice(&[b'a'; 1024]);
    let _ = flood.write_all(&h2_frame(0x1, 0x0, 1, &field)).await;
    for _ in 0..200 {
        if flood.write_all(&h2_frame(0x9, 0x0, 1, &field)).await.is_err() {
            break;
        }
    }
    let flood_seen = read_until_closed(&mut flood).await;
    assert!(
        goaway_code(&flood_seen).is_some(),
        "no GOAWAY for the header flood"
    );

    // Streams reset in bulk (the "rapid reset" pattern): the server closes
    // the connection (h2's reset limits, or its abandoned-stream limit).
    let tls = tls_to(&server, Some("device-001")).await.unwrap();
    let (requests, connection) = h2::client::handshake(tls).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut resets = 0;
    let mut requests = requests;
    for _ in 0..2_000 {
        let Ok(ready) = requests.clone().ready().await else {
            break;
        };
        requests = ready;
        let request = http::Request::post("https://localhost/fieldlink/1/stream")
            .body(())
            .unwrap();
        let Ok((_, mut body)) = requests.send_request(request, false) else {
            break;
        };
        body.send_reset(h2::Reason::CANCEL);
        resets += 1;
    }
    let ended = tokio::time::timeout(Duration::from_secs(60), driver)
        .await
        .expect("the server closed the resetting connection");
    // (The request handle is still held here: only the server can have
    // ended the connection.) Usually with GOAWAY(ENHANCE_YOUR_CALM) once
    // h2's count of resets before accept is passed, an error here; on a
    // loaded machine the server may accept the first stream before its
    // reset arrives, and then it is the missing hello that ends the session
    // (a graceful GOAWAY, Ok here). Either way the server closed it.
    assert!(
        ended.is_ok(),
        "after {resets} resets the connection's driver failed: {ended:?}"
    );
    drop(requests);

    // An unknown path: 404, the connection stays.
    let tls = tls_to(&server, Some("device-001")).await.unwrap();
    let (requests, connection) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(connection);
    let mut requests = requests.ready().await.unwrap();
    let request = http::Request::get("https://localhost/").body(()).unwrap();
    let (response, _) = requests.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 404);

    // Through all of it the server kept serving, over TCP and over QUIC.
    let receipt = witness.submit_inspection(&record("officer-02")).await.unwrap();
    assert!(!receipt.replayed);
    let quic = fieldlink_tests::connect(server.addr(), "device-003", "officer-03")
        .await
        .unwrap();
    quic.submit_inspection(&record("officer-03")).await.unwrap();
}
