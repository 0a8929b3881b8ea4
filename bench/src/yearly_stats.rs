//! Scenario "stats": the statistics of a district's year (issue #19: one
//! million items, a summary in under a second on SQLite and PostgreSQL).
//! Inspections are stored through the real commit path (items, index rows,
//! log leaves) spread over one year, 75 matters, 5 officers and 7
//! outcomes; then the report of the year is timed grouped by domain, month
//! and officer, three times each (the median is printed).

use std::time::{Duration, Instant};

use fieldlink_server::catalogue::Catalogue;
use fieldlink_server::directory::Directory;
use fieldlink_server::statistics::{self, GroupBy, Period};
use fieldlink_server::storage::scratch_pg::ScratchDatabase;
use fieldlink_server::storage::sqlite::SqliteStorage;
use fieldlink_server::storage::Storage;
use fieldlink_tests::stored_inspection;
use rand::{Rng, SeedableRng};

use crate::report::Figure;

/// What to run.
pub struct Plan {
    /// Inspections stored.
    pub items: usize,
    /// Timings per grouping.
    pub rounds: usize,
}

/// Items committed per transaction while seeding.
const BATCH: usize = 5_000;

/// Runs the scenario on SQLite, and on PostgreSQL where one is reachable.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sqlite = SqliteStorage::open(&dir.path().join("stats.sqlite"))
        .await
        .map_err(|e| e.to_string())?;
    figures.extend(measure("SQLite", &sqlite, plan).await?);
    sqlite.close().await;
    if let Some(database) = ScratchDatabase::create().await {
        let pg = fieldlink_server::storage::postgres::PgStorage::open(&database.url, 4)
            .await
            .map_err(|e| e.to_string())?;
        figures.extend(measure("PostgreSQL", &pg, plan).await?);
        pg.close().await;
    }
    Ok(figures)
}

async fn measure(backend: &str, storage: &dyn Storage, plan: &Plan) -> Result<Vec<Figure>, String> {
    let catalogue = Catalogue::demo();
    let matters: Vec<String> = catalogue.versions()[0]
        .matters()
        .map(|m| m.code.clone())
        .collect();
    let period = Period::parse("2026-01-01", "2026-12-31").map_err(|e| e.to_string())?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let seeding = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..plan.items {
        let officer = format!("officer-0{}", rng.gen_range(1..=5));
        batch.push(stored_inspection(
            format!("inspection {n}"),
            &officer,
            &matters[rng.gen_range(0..matters.len())],
            rng.gen_range(1..=7),
            rng.gen_range(period.range.from_ms..period.range.to_ms),
        ));
        if batch.len() == BATCH || n + 1 == plan.items {
            storage
                .commit_items(&batch, fieldlink_client::now_ms())
                .await
                .map_err(|e| e.to_string())?;
            batch.clear();
        }
    }
    eprintln!(
        "stats: {backend}: {} inspections stored in {:.0} s",
        plan.items,
        seeding.elapsed().as_secs_f64()
    );
    let directory = Directory::default();
    let mut figures = Vec::new();
    for (by, name) in [
        (GroupBy::Domain, "domain"),
        (GroupBy::Month, "month"),
        (GroupBy::Officer, "officer"),
    ] {
        let mut times = Vec::with_capacity(plan.rounds);
        for _ in 0..plan.rounds {
            let started = Instant::now();
            let report = statistics::report(storage, &catalogue, &directory, &period, by)
                .await
                .map_err(|e| e.to_string())?;
            times.push(started.elapsed());
            if report.totals.inspections != plan.items as u64 {
                return Err(format!(
                    "{backend}: the report counts {} of {} inspections",
                    report.totals.inspections, plan.items
                ));
            }
        }
        times.sort();
        let median: Duration = times[times.len() / 2];
        let ms = median.as_secs_f64() * 1000.0;
        figures.push(
            Figure::plain(
                "stats",
                &format!("{backend}: a year's report by {name}, {} items", plan.items),
                ms,
                "ms",
            )
            .goal("< 1,000 ms for 1,000,000 items", ms < 1000.0),
        );
    }
    Ok(figures)
}
