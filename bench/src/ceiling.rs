//! Scenario 1's transport ceiling: the ingest workload with storage replaced
//! by an in-memory sink (every service step still runs: frame, decode,
//! validate, catalogue, directory, authorization, group commit, receipt)
//! against raw quinn request/response with the same TLS, transport settings,
//! request and answer bytes, and the same number in flight — 64 terminals,
//! one request each, on connections of their own. Rounds interleaved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_protocol::{frame, pb};
use fieldlink_tests::{client_config, dev_config, record, TestServer};

use crate::ingest::{close_all, fleet, run_terminals, tune_for_fleet};
use crate::raw_quic::{self, Mode, RawServer};
use crate::report::Figure;
use crate::sink::CommitSink;
use crate::stats::median;

/// Requests in flight (terminals, each with one outstanding).
pub const IN_FLIGHT: usize = 64;

/// How to run it.
pub struct Plan {
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Time each measurement runs.
    pub window: Duration,
}

async fn sink_server() -> Result<TestServer, String> {
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = dev_config(data_dir.path());
    tune_for_fleet(&mut config);
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
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = sink_server().await?;
    let terminals = fleet(&server, IN_FLIGHT).await?;
    let (request, answer) = record_exchange();
    let raw_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let raw = RawServer::start(&dev_config(raw_dir.path()), Mode::Answer(Arc::new(answer)))?;
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
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        ours.push(run_terminals(&terminals, plan.window).await?.acks_per_s);
        baseline.push(raw_rate(&raw_connections, &request, plan.window).await?);
    }
    let (ours, baseline) = (median(&ours), median(&baseline));
    close_all(terminals.into_iter().map(|(client, _)| client)).await;
    for connection in raw_connections {
        connection.close(0u32.into(), b"done");
    }
    server.server.shutdown().await;
    Ok(vec![Figure::plain(
        "ingest",
        &format!("acks/s, {IN_FLIGHT} terminals, in-memory sink"),
        ours,
        "/s",
    )
    .against(&format!("raw quinn req/resp, {IN_FLIGHT} in flight"), baseline)
    .goal(">= 0.6 x raw quinn", ours / baseline >= 0.6)])
}
