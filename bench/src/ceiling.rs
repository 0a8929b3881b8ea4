//! Scenario 1's transport ceiling: the ingest workload with storage replaced
//! by an in-memory sink (every service step still runs: frame, decode,
//! validate, catalogue, directory, authorization, group commit, receipt)
//! against raw quinn request/response with the same TLS, transport settings,
//! request and answer bytes, and the same number in flight, in both
//! connection patterns: 64 terminals on connections of their own, one
//! request each; and 64 requests in flight on one connection (a stream
//! each). The sink also runs at 256 terminals, the size whose SQLite figure
//! the ingest goal compares with it. Rounds interleaved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_protocol::{frame, pb};
use fieldlink_tests::{client_config, dev_config, record, TestServer};

use crate::ingest::{close_all, fleet, fleet_signing, run_terminals, tune_for_fleet};
use crate::raw_quic::{self, Mode, RawServer};
use crate::report::Figure;
use crate::sink::CommitSink;
use crate::stats::median;

/// Requests in flight (terminals, each with one outstanding).
pub const IN_FLIGHT: usize = 64;

/// The fleet the ingest goal is set at.
pub const LARGE_FLEET: usize = 256;

/// What the ceiling measured.
pub struct Ceiling {
    /// Its figures.
    pub figures: Vec<Figure>,
    /// The sink server's acks/s at [`LARGE_FLEET`] terminals.
    pub sink_large_fleet: f64,
}

/// How to run it.
pub struct Plan {
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Time each measurement runs.
    pub window: Duration,
}

pub async fn sink_server() -> Result<TestServer, String> {
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = dev_config(data_dir.path());
    tune_for_fleet(&mut config);
    // 64 requests in flight on one connection need 64 streams open at once.
    config.concurrent_requests_max = IN_FLIGHT as u32;
    let server = fieldlink_server::server::start_wrapped(
        config,
        fieldlink_server::state::system_clock_ms,
        CommitSink::wrap,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(TestServer {
        server,
        data_dir,
        database: None,
    })
}

/// The request and answer bytes of one record, as they travel.
fn record_exchange() -> (Vec<u8>, Vec<u8>) {
    let item = record("officer-01");
    let request = frame::encode(&pb::Request {
        body: Some(pb::request::Body::SubmitInspection(item.clone())),
        capture: None,
    });
    let answer = frame::encode(&pb::Response {
        result: Some(pb::response::Result::Receipt(pb::Receipt {
            item_id: item.id,
            server_seq: 1_000_000,
            received_at_ms: fieldlink_client::now_ms(),
            sha256: vec![0xab; 32],
            ..Default::default()
        })),
    });
    (request, answer)
}

/// Requests answered per second by the raw server: `connections` each
/// sending `request` one after another for `window`.
async fn raw_rate(
    connections: &[quinn::Connection],
    request: &[u8],
    window: Duration,
) -> Result<f64, String> {
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for connection in connections {
        let (connection, request) = (connection.clone(), request.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            // Bounded by the window and 1,000,000 requests.
            while Instant::now() < deadline && done < 1_000_000 {
                raw_quic::request(&connection, &request).await?;
                done += 1;
            }
            Ok::<_, String>(done)
        }));
    }
    crate::stats::per_second(tasks, started).await
}

/// Runs it.
pub async fn run(plan: &Plan) -> Result<Ceiling, String> {
    let server = sink_server().await?;
    let terminals = fleet(&server, LARGE_FLEET).await?;
    // The same, not signing their captures: the device signature's check
    // (ECDSA P-256, about 770,000 instructions a record by callgrind) is
    // most of the sink server's work.
    let unsigned = fleet_signing(server.addr(), IN_FLIGHT, false).await?;
    // One connection, IN_FLIGHT requests on it: clones of one client.
    let shared: Vec<_> = (0..IN_FLIGHT).map(|_| terminals[0].clone()).collect();
    let (request, answer) = record_exchange();
    let raw_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut raw_config = dev_config(raw_dir.path());
    raw_config.concurrent_requests_max = IN_FLIGHT as u32;
    let raw = RawServer::start(&raw_config, Mode::Answer(Arc::new(answer)))?;
    let raw_addr = raw.addr()?;
    let mut raw_connections = Vec::new();
    let mut raw_endpoints = Vec::new();
    for index in 0..IN_FLIGHT {
        let config = client_config(
            raw_addr,
            ["device-001", "device-002", "device-003"][index % 3],
            "officer-01",
        );
        let quic = fieldlink_client::raw::quic_client_config(&config).map_err(|e| e.to_string())?;
        let (endpoint, connection) = raw_quic::connect(&config, &quic).await?;
        raw_endpoints.push(endpoint);
        raw_connections.push(connection);
    }
    let raw_shared = vec![raw_connections[0].clone(); IN_FLIGHT];
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    let (mut ours_shared, mut baseline_shared) = (Vec::new(), Vec::new());
    let mut ours_large = Vec::new();
    let mut ours_unsigned = Vec::new();
    for _ in 0..plan.rounds {
        ours.push(
            run_terminals(&terminals[..IN_FLIGHT], plan.window)
                .await?
                .acks_per_s,
        );
        ours_unsigned.push(run_terminals(&unsigned, plan.window).await?.acks_per_s);
        baseline.push(raw_rate(&raw_connections, &request, plan.window).await?);
        ours_shared.push(run_terminals(&shared, plan.window).await?.acks_per_s);
        baseline_shared.push(raw_rate(&raw_shared, &request, plan.window).await?);
        ours_large.push(run_terminals(&terminals, plan.window).await?.acks_per_s);
    }
    let (ours, baseline) = (median(&ours), median(&baseline));
    let (ours_shared, baseline_shared) = (median(&ours_shared), median(&baseline_shared));
    let sink_large_fleet = median(&ours_large);
    let ours_unsigned = median(&ours_unsigned);
    drop(shared);
    close_all(terminals.into_iter().chain(unsigned).map(|(client, _)| client)).await;
    for connection in raw_connections {
        connection.close(0u32.into(), b"done");
    }
    server.server.shutdown().await;
    let figures = vec![
        Figure::plain(
            "ingest",
            &format!("acks/s, {IN_FLIGHT} terminals, in-memory sink"),
            ours,
            "/s",
        )
        .against(
            &format!("raw quinn req/resp, {IN_FLIGHT} connections, 1 in flight each"),
            baseline,
        )
        .goal(">= 0.6 x raw quinn", ours / baseline >= 0.6),
        Figure::plain(
            "ingest",
            &format!("acks/s, {IN_FLIGHT} terminals not signing, in-memory sink"),
            ours_unsigned,
            "/s",
        )
        .against(
            &format!("raw quinn req/resp, {IN_FLIGHT} connections, 1 in flight each"),
            baseline,
        ),
        Figure::plain(
            "ingest",
            &format!("acks/s, 1 connection, {IN_FLIGHT} in flight, in-memory sink"),
            ours_shared,
            "/s",
        )
        .against(
            &format!("raw quinn req/resp, 1 connection, {IN_FLIGHT} streams in flight"),
            baseline_shared,
        )
        .goal(">= 0.6 x raw quinn", ours_shared / baseline_shared >= 0.6),
        Figure::plain(
            "ingest",
            &format!("acks/s, {LARGE_FLEET} terminals, in-memory sink"),
            sink_large_fleet,
            "/s",
        ),
    ];
    Ok(Ceiling {
        figures,
        sink_large_fleet,
    })
}
