//! Scenario 7, second part: what the transparency log and device-signed
//! capture cost at the terminals — acknowledged records per second from a
//! fleet of terminals, against two servers running side by side in the same
//! rounds (A B A B): one writing the log, one whose storage writes no leaves
//! (built for this benchmark only). Then the same fleet with and without
//! capture signatures against the logging server (the terminals sign each
//! record with the device key, the server verifies it).

use std::time::Duration;

use fieldlink_server::storage::sqlite::SqliteStorage;
use fieldlink_server::storage::Storage;
use fieldlink_tests::{dev_config, TestServer};

use crate::ingest::{close_all, fleet_signing, run_terminals, tune_for_fleet};
use crate::report::Figure;
use crate::stats::median;

/// How to run it.
pub struct Plan {
    /// Terminals in the fleet.
    pub terminals: usize,
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Time each measurement runs.
    pub window: Duration,
}

/// A server whose storage writes no log leaves.
async fn unlogged_server() -> Result<TestServer, String> {
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = dev_config(data_dir.path());
    tune_for_fleet(&mut config);
    let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(
        SqliteStorage::open(&data_dir.path().join("unlogged.sqlite"))
            .await
            .map_err(|e| e.to_string())?
            .without_log_for_benchmarks(),
    );
    let server = fieldlink_server::server::start_wrapped(
        config,
        fieldlink_server::state::system_clock_ms,
        move |_| storage,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(TestServer {
        server,
        data_dir,
        database: None,
    })
}

/// Runs the comparison.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let logged = crate::ingest::bench_server().await;
    let unlogged = unlogged_server().await?;
    let signed_fleet = fleet_signing(logged.addr(), plan.terminals, true).await?;
    let unlogged_fleet = fleet_signing(unlogged.addr(), plan.terminals, true).await?;
    let unsigned_fleet = fleet_signing(logged.addr(), plan.terminals, false).await?;
    let (mut with_log, mut without_log, mut unsigned) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        // Alternate which goes first: the disk drifts.
        let order: [usize; 3] = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for which in order {
            match which {
                0 => with_log.push(run_terminals(&signed_fleet, plan.window).await?.acks_per_s),
                1 => without_log.push(run_terminals(&unlogged_fleet, plan.window).await?.acks_per_s),
                _ => unsigned.push(run_terminals(&unsigned_fleet, plan.window).await?.acks_per_s),
            }
        }
    }
    let (with_log, without_log, unsigned) = (median(&with_log), median(&without_log), median(&unsigned));
    let count = plan.terminals;
    let figures = vec![
        Figure::plain(
            "log",
            &format!("acks/s, {count} terminals, with the log"),
            with_log,
            "/s",
        )
        .against("the same fleet, a server writing no leaves", without_log)
        .goal(
            "under 10 % of acks/s lost to the log",
            with_log >= 0.9 * without_log,
        ),
        Figure::plain(
            "log",
            &format!("acks/s, {count} terminals, device-signed"),
            with_log,
            "/s",
        )
        .against("the same fleet sending unsigned records", unsigned),
    ];
    close_all(
        signed_fleet
            .into_iter()
            .chain(unlogged_fleet)
            .chain(unsigned_fleet)
            .map(|(client, _)| client),
    )
    .await;
    logged.server.shutdown().await;
    unlogged.server.shutdown().await;
    Ok(figures)
}
