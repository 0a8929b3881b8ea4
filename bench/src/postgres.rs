//! Scenario 6, PostgreSQL: acknowledged records per second at 256 terminals
//! with the server storing in PostgreSQL, against multi-row inserts (UNNEST,
//! 100 rows per transaction) of rows of the same size into the same
//! database, in the same rounds. The in-memory sink server runs the same
//! terminals in the same rounds, and the writer's batches are reported, so
//! the figure shows what bounds it. Skipped, saying so, without a reachable
//! server (FIELDLINK_TEST_POSTGRES, default 127.0.0.1:5432).

use std::time::{Duration, Instant};

use fieldlink_server::storage::scratch_pg::ScratchDatabase;
use fieldlink_tests::record;
use prost::Message;

use crate::ingest::{bench_server_on, fleet, run_terminals};
use crate::report::Figure;
use crate::stats::median;

/// How to run the scenario.
pub struct Plan {
    /// Terminals.
    pub terminals: usize,
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Time each measurement runs.
    pub window: Duration,
}

/// Rows per second inserted 100 per transaction with UNNEST.
async fn unnest_rows_per_s(
    pool: &sqlx::PgPool,
    row_bytes: usize,
    window: Duration,
) -> Result<f64, sqlx::Error> {
    let body = vec![0x42u8; row_bytes];
    let started = Instant::now();
    let mut rows = 0u64;
    // Bounded: 10,000 transactions or the window.
    for _ in 0..10_000 {
        if started.elapsed() >= window {
            break;
        }
        let ids: Vec<String> = (0..100).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let bodies: Vec<Vec<u8>> = (0..100).map(|_| body.clone()).collect();
        let ats: Vec<i64> = (0..100).map(|i| rows as i64 + i).collect();
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO baseline_rows (id, body, at) SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bigint[])")
            .bind(&ids)
            .bind(&bodies)
            .bind(&ats)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        rows += 100;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Batches, items and commit µs the writer has counted so far.
fn commit_counts(stats: &fieldlink_server::storage::group_commit::CommitStats) -> (u64, u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        stats.batches.load(Relaxed),
        stats.items.load(Relaxed),
        stats.commit_micros_total.load(Relaxed),
    )
}

/// Runs scenario 6.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let Some(database) = ScratchDatabase::create().await else {
        return Ok(Vec::new());
    };
    let server = bench_server_on(Some(database.url.clone())).await;
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query("CREATE TABLE baseline_rows (id TEXT PRIMARY KEY, body BYTEA NOT NULL, at BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    let row_bytes = record("officer-01").encoded_len();
    let terminals = fleet(&server, plan.terminals).await?;
    let sink = crate::ceiling::sink_server().await?;
    let sink_terminals = fleet(&sink, plan.terminals).await?;
    let mut baseline = Vec::new();
    let mut ours = Vec::new();
    let mut sunk = Vec::new();
    let commits = &server.server.state().commit_stats;
    let (batches_before, items_before, micros_before) = commit_counts(commits);
    for _ in 0..plan.rounds {
        baseline.push(
            unnest_rows_per_s(&pool, row_bytes, plan.window)
                .await
                .map_err(|e| format!("UNNEST baseline: {e}"))?,
        );
        ours.push(run_terminals(&terminals, plan.window).await?.acks_per_s);
        sunk.push(run_terminals(&sink_terminals, plan.window).await?.acks_per_s);
    }
    let (batches, items, micros) = commit_counts(commits);
    let batches = (batches - batches_before).max(1) as f64;
    let (items, micros) = ((items - items_before) as f64, (micros - micros_before) as f64);
    let (baseline, ours, sunk) = (median(&baseline), median(&ours), median(&sunk));
    let figures = vec![
        Figure::plain(
            "postgres",
            "UNNEST inserts, 100 rows per transaction",
            baseline,
            "rows/s",
        ),
        Figure::plain(
            "postgres",
            &format!("acks/s, {} terminals", plan.terminals),
            ours,
            "/s",
        )
        .against("PostgreSQL UNNEST batches of 100", baseline)
        .goal(">= 0.5 x UNNEST (issue #21; was 0.8)", ours / baseline >= 0.5),
        Figure::plain(
            "postgres",
            &format!(
                "acks/s, {} terminals, in-memory sink (same rounds)",
                plan.terminals
            ),
            sunk,
            "/s",
        )
        .against("PostgreSQL UNNEST batches of 100", baseline),
        Figure::plain(
            "postgres",
            &format!(
                "acks/s, {} terminals, PostgreSQL vs in-memory sink",
                plan.terminals
            ),
            ours,
            "/s",
        )
        .against("in-memory sink, same rounds", sunk),
        Figure::plain(
            "postgres",
            "items per committed batch (mean)",
            items / batches,
            "items",
        ),
        Figure::plain(
            "postgres",
            "time per committed batch (mean)",
            micros / batches / 1e3,
            "ms",
        ),
    ];
    crate::ingest::close_all(terminals.into_iter().map(|(client, _)| client)).await;
    crate::ingest::close_all(sink_terminals.into_iter().map(|(client, _)| client)).await;
    sink.server.shutdown().await;
    pool.close().await;
    server.server.shutdown().await;
    drop(database);
    Ok(figures)
}
