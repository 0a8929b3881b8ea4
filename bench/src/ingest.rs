//! Scenario 1, durable record ingest: acknowledged inspection records per
//! second and ack latency with N concurrent terminals, against batched
//! SQLite inserts with the same durability and the disk's fsync latency,
//! measured in the same rounds (A B A B: the disk here drifts by up to 10x
//! within minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_client::{Client, Credentials};
use fieldlink_tests::{client_config, connect, record, TestServer};
use prost::Message;

use crate::baselines::{self, SqliteBatch};
use crate::report::Figure;
use crate::stats::{median, percentile};

/// The devices and officers the terminals sign in as (dev certificates).
const SEATS: [(&str, &str); 3] = [
    ("device-001", "officer-01"),
    ("device-002", "officer-02"),
    ("device-003", "officer-03"),
];

/// How to run the scenario.
pub struct Plan {
    /// Terminal counts to measure.
    pub terminals: Vec<usize>,
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Time each measurement runs.
    pub window: Duration,
}

/// One measurement of a fleet.
pub struct Run {
    /// Acknowledged records per second.
    pub acks_per_s: f64,
    /// Ack latency p50, ms.
    pub p50_ms: f64,
    /// Ack latency p99, ms.
    pub p99_ms: f64,
}

/// Starts a server tuned for a fleet that shares three certificates.
pub async fn bench_server() -> TestServer {
    bench_server_on(None).await
}

/// The same, storing in PostgreSQL at `database` when given.
pub async fn bench_server_on(database: Option<String>) -> TestServer {
    TestServer::start_with(move |config| {
        config.database = database;
        tune_for_fleet(config);
    })
    .await
}

/// Thousands of simulated terminals share the 3 dev device certificates:
/// per-device limits would measure themselves.
pub fn tune_for_fleet(config: &mut fieldlink_server::Config) {
    config.connections_per_device_max = 100_000;
    config.requests_per_second_per_device = 1e9;
    config.request_burst_per_device = 1e9;
    // Fleets sign in many at once (with argon2's smallest parameters).
    config.password_checks_max = 64;
}

/// Connects `count` terminals, signing in once per device and reusing
/// that session token (argon2 per terminal would measure argon2).
pub async fn fleet(server: &TestServer, count: usize) -> Result<Vec<(Client, &'static str)>, String> {
    fleet_at(server.addr(), count).await
}

/// The same for a server at `addr`.
pub async fn fleet_at(
    addr: std::net::SocketAddr,
    count: usize,
) -> Result<Vec<(Client, &'static str)>, String> {
    fleet_signing(addr, count, true).await
}

/// The same, with the terminals signing captures or not.
pub async fn fleet_signing(
    addr: std::net::SocketAddr,
    count: usize,
    sign_captures: bool,
) -> Result<Vec<(Client, &'static str)>, String> {
    fleet_over(
        addr,
        None,
        fieldlink_client::Transport::Quic,
        count,
        sign_captures,
    )
    .await
}

/// The same over `transport` (TCP at `tcp`, when given).
pub async fn fleet_over(
    addr: std::net::SocketAddr,
    tcp: Option<std::net::SocketAddr>,
    transport: fieldlink_client::Transport,
    count: usize,
    sign_captures: bool,
) -> Result<Vec<(Client, &'static str)>, String> {
    let mut tokens = Vec::new();
    for (device, officer) in SEATS {
        let first = connect(addr, device, officer)
            .await
            .map_err(|e| format!("sign in {officer}: {e}"))?;
        let welcome = first.welcome().await.ok_or("no welcome")?;
        tokens.push((device, officer, welcome.session_token));
        first.close().await;
    }
    let mut terminals = Vec::with_capacity(count);
    for index in 0..count {
        let (device, officer, token) = &tokens[index % tokens.len()];
        let mut config = client_config(addr, device, officer);
        config.credentials = Credentials::Token(token.clone());
        config.sign_captures = sign_captures;
        config.transport = transport;
        config.tcp_addr = tcp;
        let client = Client::connect(config)
            .await
            .map_err(|e| format!("terminal {index}: {e}"))?;
        terminals.push((client, *officer));
    }
    Ok(terminals)
}

/// Closes every client at once (each waits for its connection to drain).
pub async fn close_all(clients: impl IntoIterator<Item = Client>) {
    futures::future::join_all(clients.into_iter().map(Client::close)).await;
}

/// Every terminal submits records one after another for `window`.
pub async fn run_terminals(terminals: &[(Client, &'static str)], window: Duration) -> Result<Run, String> {
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, officer) in terminals {
        let (client, officer) = (client.clone(), *officer);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            // Bounded by the window and 1,000,000 records.
            while Instant::now() < deadline && latencies.len() < 1_000_000 {
                let item = record(officer);
                let began = Instant::now();
                client
                    .submit_inspection(&item)
                    .await
                    .map_err(|e| format!("submit: {e}"))?;
                latencies.push(began.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Run {
        acks_per_s: all.len() as f64 / elapsed,
        p50_ms: percentile(&mut all, 50.0),
        p99_ms: percentile(&mut all, 99.0),
    })
}

/// Runs scenario 1.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = bench_server().await;
    let dir = server.data_dir.path().to_path_buf();
    let row_bytes = record("officer-01").encoded_len();
    let largest = plan.terminals.iter().copied().max().unwrap_or(1);
    let terminals = Arc::new(fleet(&server, largest).await?);

    let mut batched = Vec::new();
    let mut prepared = Vec::new();
    let mut multi_row = Vec::new();
    let mut fsync_p99 = Vec::new();
    let mut fsync_p50 = Vec::new();
    let mut ours: Vec<Vec<Run>> = plan.terminals.iter().map(|_| Vec::new()).collect();
    for _ in 0..plan.rounds {
        // A: the raw baselines on the same disk.
        batched.push(
            baselines::sqlite_batched_rows_per_s(&dir, 100, row_bytes, plan.window)
                .await
                .map_err(|e| format!("SQLite baseline: {e}"))?,
        );
        prepared.push(
            baselines::sqlite_honest_rows_per_s(&dir, SqliteBatch::Prepared, 100, row_bytes, plan.window)
                .await?,
        );
        multi_row.push(
            baselines::sqlite_honest_rows_per_s(&dir, SqliteBatch::MultiRow, 100, row_bytes, plan.window)
                .await?,
        );
        let (p50, p99) = baselines::fsync_latency_ms(&dir, plan.window / 2).map_err(|e| e.to_string())?;
        fsync_p50.push(p50);
        fsync_p99.push(p99);
        // B: ours, at each fleet size.
        for (index, count) in plan.terminals.iter().enumerate() {
            ours[index].push(run_terminals(&terminals[..*count], plan.window).await?);
        }
    }
    let batched = median(&batched);
    let (prepared, multi_row) = (median(&prepared), median(&multi_row));
    // The honest limit is the faster of the two honest ways, this run.
    let honest = prepared.max(multi_row);
    let fsync_p99 = median(&fsync_p99);
    let mut figures = vec![
        Figure::plain("ingest", "fsync p50 (4 KiB append)", median(&fsync_p50), "ms"),
        Figure::plain("ingest", "fsync p99 (4 KiB append)", fsync_p99, "ms"),
        Figure::plain(
            "ingest",
            "SQLite WAL+FULL, batches of 100 (sqlx, a statement per row)",
            batched,
            "rows/s",
        ),
        Figure::plain(
            "ingest",
            "SQLite WAL+FULL, batches of 100 (rusqlite, prepared statement reused)",
            prepared,
            "rows/s",
        ),
        Figure::plain(
            "ingest",
            "SQLite WAL+FULL, batches of 100 (rusqlite, one multi-row statement)",
            multi_row,
            "rows/s",
        ),
    ];
    for (count, runs) in plan.terminals.iter().zip(&ours) {
        let rate = median(&runs.iter().map(|r| r.acks_per_s).collect::<Vec<_>>());
        let p50 = median(&runs.iter().map(|r| r.p50_ms).collect::<Vec<_>>());
        let p99 = median(&runs.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
        figures.push(
            Figure::plain("ingest", &format!("acks/s, {count} terminals"), rate, "/s")
                .against("SQLite batched 100, sqlx", batched),
        );
        let mut honest_figure = Figure::plain("ingest", &format!("acks/s, {count} terminals"), rate, "/s")
            .against("honest SQLite limit", honest);
        if *count == 256 {
            honest_figure = honest_figure.goal(
                ">= 0.5 x the honest SQLite limit at 256 terminals",
                rate / honest >= 0.5,
            );
        }
        figures.push(honest_figure);
        figures.push(Figure::plain(
            "ingest",
            &format!("ack p50, {count} terminals"),
            p50,
            "ms",
        ));
        let bound = 3.0 * fsync_p99 + 5.0;
        figures.push(
            Figure::plain("ingest", &format!("ack p99, {count} terminals"), p99, "ms")
                .against("3 x fsync p99 + 5 ms", bound)
                .goal("p99 <= 3 x fsync p99 + 5 ms", p99 <= bound),
        );
    }
    if let Ok(terminals) = Arc::try_unwrap(terminals) {
        close_all(terminals.into_iter().map(|(client, _)| client)).await;
    }
    server.server.shutdown().await;
    Ok(figures)
}
