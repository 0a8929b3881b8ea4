//! Scenario `positions`: live positions held from a fleet. N terminals
//! (10,000; 1,000 in `--quick`), each a signed-in QUIC session, send one
//! position datagram a second (spread over the second) for the window; the figure is the pings the
//! server kept per second against those offered (sent by the terminals).
//! Datagrams are unreliable by design: the goal is that the server keeps
//! up, not that none is ever lost.

use std::time::{Duration, Instant};

use fieldlink_protocol::pb::PositionPing;
use fieldlink_protocol::position::encode_datagram;
use fieldlink_tests::TestServer;

use crate::report::Figure;

/// How to run the scenario.
pub struct Plan {
    /// Terminals.
    pub terminals: usize,
    /// Seconds of pings (one per terminal each second).
    pub seconds: u32,
}

/// Runs it.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = TestServer::start_with(|config| {
        crate::ingest::tune_for_fleet(config);
        // The fleet shares three device certificates: the per-device
        // interval would measure itself, so it is off here.
        config.position_interval_ms_min = 0;
    })
    .await;
    let endpoint =
        fieldlink_client::raw::client_endpoint("127.0.0.1:1".parse().map_err(|_| "addr")?, 16 << 20)
            .map_err(|e| e.to_string())?;
    let configs = crate::connections::tokens(server.addr()).await?;
    let fleet = crate::connections::hold(&endpoint, &configs, plan.terminals, false).await?;
    let board = &server.server.state().positions;
    let kept_before = board.counts().0;
    let started = Instant::now();
    let mut sent = 0u64;
    // Bounded: `seconds` rounds, each one ping per terminal, spread over
    // the second in SLICES steps as real terminals' clocks are (all at one
    // instant would measure the kernel's socket buffer, not the server).
    const SLICES: usize = 20;
    let per_slice = fleet.len().div_ceil(SLICES);
    for round in 0..plan.seconds {
        let now = fieldlink_client::now_ms();
        for (index, connection) in fleet.iter().enumerate() {
            if index % per_slice == 0 && index > 0 {
                let slice = (index / per_slice) as u32;
                let at = started
                    + Duration::from_secs(u64::from(round))
                    + Duration::from_millis(u64::from(slice) * 1000 / SLICES as u64);
                tokio::time::sleep_until(at.into()).await;
            }
            let ping = PositionPing {
                latitude: 29.8 + (index % 1000) as f64 * 1e-4,
                longitude: 121.5 + f64::from(round) * 1e-5,
                accuracy_m: 5.0,
                speed_mps: 1.2,
                at_ms: now,
            };
            if connection.send_datagram(encode_datagram(&ping).into()).is_ok() {
                sent += 1;
            }
        }
        let next = started + Duration::from_secs(u64::from(round) + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    // The last round's datagrams in flight.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let kept = board.counts().0 - kept_before;
    for connection in &fleet {
        connection.close(0u32.into(), b"done");
    }
    endpoint.wait_idle().await;
    server.server.shutdown().await;
    let (offered, held) = (sent as f64 / elapsed, kept as f64 / elapsed);
    Ok(vec![
        Figure::plain(
            "positions",
            &format!("pings offered, {} terminals, 1 a second each", plan.terminals),
            offered,
            "/s",
        ),
        Figure::plain(
            "positions",
            &format!("pings kept, {} terminals", plan.terminals),
            held,
            "/s",
        )
        .against("offered", offered)
        .goal(">= 0.99 x offered", held >= 0.99 * offered),
    ])
}
