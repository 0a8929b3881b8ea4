//! A terminal behind a real UDP block: the server runs in its own network
//! namespace behind a veth pair, nftables drops UDP to it, and the SDK
//! (transport `auto`) must fall back to TLS over TCP and complete records,
//! an upload and the assignment feed there; once the rule is deleted, it
//! returns to QUIC.
//!
//! Needs root, iproute2 and nftables: elsewhere it prints why it skipped
//! (`FIELDLINK_REQUIRE_NETNS=1`, set by CI, turns the skip into a failure).
//! tests/tests/e2e/tcp.rs has the loopback variant for such machines.

mod common;
#[path = "../../tests/src/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fieldlink_client::{Client, PhotoUpload, Transport};
use fieldlink_protocol::pb;

const PORT: u16 = 4433;

/// The server, run inside the namespace; killed on drop.
struct Server {
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server in `namespace`: QUIC and TCP on the same port.
fn start_server(namespace: &netns::Namespace, addr: SocketAddr) -> Result<Server, String> {
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(env!("CARGO_BIN_EXE_fieldlink-server"))
        .args([
            "serve",
            "--dev",
            "--http",
            "127.0.0.1:0",
            "--hj212",
            "127.0.0.1:0",
        ])
        .args(["--listen", &addr.to_string(), "--tcp", &addr.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn the server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = Server { child, _data: data };
    match BufReader::new(stdout).lines().next() {
        Some(Ok(text)) if text.contains("listening on") => Ok(server),
        other => Err(format!("the server did not start: {other:?}")),
    }
}

fn terminal(addr: SocketAddr, device: &str, officer: &str) -> fieldlink_client::ClientConfig {
    let mut config = common::terminal(addr, device, officer);
    config.transport = Transport::Auto;
    config.connect_timeout = Duration::from_secs(20);
    config.request_timeout = Duration::from_secs(30);
    config.idle_timeout = Duration::from_secs(10);
    config.keep_alive = Duration::from_secs(2);
    config.tcp_fallback_after = Duration::from_millis(500);
    config.quic_retry_after = Duration::from_secs(2);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_udp_block_the_terminal_works_over_tcp_and_returns_to_quic() {
    if let Some(reason) = netns::unavailable(&["ip", "nft"]) {
        assert!(
            std::env::var("FIELDLINK_REQUIRE_NETNS").is_err(),
            "FIELDLINK_REQUIRE_NETNS is set but: {reason}"
        );
        println!("SKIPPED: {reason}");
        return;
    }
    let network = netns::Namespace::create(0).expect("the namespace and its veth pair");
    let addr: SocketAddr = format!("{}:{PORT}", network.inside_ip).parse().unwrap();
    let _server = start_server(&network, addr).expect("the server in the namespace");
    network.block_udp(PORT, true).expect("the nftables rule");

    // Both terminals are behind the block: each falls back to TCP.
    let supervisor = Client::connect(terminal(addr, "device-003", "supervisor-01"))
        .await
        .expect("the supervisor over TCP");
    let officer = Client::connect(terminal(addr, "device-001", "officer-01"))
        .await
        .expect("the officer over TCP");
    assert_eq!(supervisor.transport().await, Some(Transport::Tcp));
    assert_eq!(officer.transport().await, Some(Transport::Tcp));

    // A record, its resend, a photo, and the feed.
    let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    let receipt = officer
        .submit_inspection(&record)
        .await
        .expect("a receipt over TCP");
    assert!(!receipt.replayed);
    assert!(officer.submit_inspection(&record).await.unwrap().replayed);
    let jpeg = common::jpeg(5);
    let photo = PhotoUpload::new(
        &record.id,
        "image/jpeg",
        fieldlink_client::now_ms() - 1000,
        jpeg.clone(),
    );
    let stored = officer
        .upload_photo(&photo, |_| {})
        .await
        .expect("the photo over TCP");
    assert_eq!(stored.size_bytes, jpeg.len() as u64);
    let mut feed = officer.assignments();
    let assignment = pb::Assignment {
        id: uuid::Uuid::now_v7().to_string(),
        title: "巡查城南路占道经营 Patrol Chengnan Road".into(),
        instructions: "核查占道堆放情况并拍照取证。".into(),
        matter_code: "ZJ-001".into(),
        area: "城南路沿线".into(),
        priority: pb::Priority::Normal as i32,
        assignee: Some(pb::assignment::Assignee::OfficerId("officer-01".into())),
        ..Default::default()
    };
    supervisor
        .create_assignment(&assignment)
        .await
        .expect("dispatched over TCP");
    let event = tokio::time::timeout(Duration::from_secs(60), feed.next())
        .await
        .expect("a feed event in time")
        .expect("the feed is open")
        .expect("an event");
    assert_eq!(event.assignment.map(|a| a.id), Some(assignment.id));
    assert_eq!(
        officer.transport().await,
        Some(Transport::Tcp),
        "still behind the block"
    );

    // The block lifts: the terminal moves back to QUIC.
    network.block_udp(PORT, false).expect("the rule deleted");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
        officer
            .submit_inspection(&record)
            .await
            .expect("a receipt while moving");
        if officer.transport().await == Some(Transport::Quic) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never returned to QUIC");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
