//! Raw baselines on the same disk and CPU: fsync latency, batched SQLite
//! inserts with the server's durability (through sqlx one statement per row,
//! the first baseline; and the honest limit, rusqlite on its own thread with
//! a prepared statement reused or one multi-row statement per batch), and the
//! hashing rates.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::Digest;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use crate::stats::percentile;

/// fsync latency of 4 KiB appends in `dir`: (p50, p99) in ms.
pub fn fsync_latency_ms(dir: &Path, budget: Duration) -> std::io::Result<(f64, f64)> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = vec![0x5au8; 4096];
    let mut samples = Vec::new();
    let start = Instant::now();
    // Bounded: 2,000 fsyncs or the time budget.
    while samples.len() < 2_000 && start.elapsed() < budget {
        let began = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(began.elapsed().as_secs_f64() * 1e3);
    }
    std::fs::remove_file(&path)?;
    Ok((percentile(&mut samples, 50.0), percentile(&mut samples, 99.0)))
}

/// Rows per second for inserts of `row_bytes`-byte rows in transactions of
/// `batch` rows, WAL with synchronous=FULL (the server's durability).
pub async fn sqlite_batched_rows_per_s(
    dir: &Path,
    batch: usize,
    row_bytes: usize,
    budget: Duration,
) -> Result<f64, sqlx::Error> {
    let path = dir.join(format!("baseline-{}.sqlite", uuid::Uuid::now_v7()));
    let mut connection = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    sqlx::query("CREATE TABLE rows (id BLOB PRIMARY KEY, body BLOB NOT NULL, at INTEGER NOT NULL)")
        .execute(&mut connection)
        .await?;
    let body = vec![0x42u8; row_bytes];
    let mut rows = 0u64;
    let start = Instant::now();
    // Bounded: 10,000 transactions or the time budget.
    for _ in 0..10_000 {
        if start.elapsed() >= budget {
            break;
        }
        let mut transaction = connection.begin().await?;
        for _ in 0..batch {
            sqlx::query("INSERT INTO rows (id, body, at) VALUES (?, ?, ?)")
                .bind(uuid::Uuid::now_v7().as_bytes().to_vec())
                .bind(&body)
                .bind(rows as i64)
                .execute(&mut *transaction)
                .await?;
            rows += 1;
        }
        transaction.commit().await?;
    }
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    connection.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(rate)
}

/// How the honest SQLite baseline writes a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteBatch {
    /// One prepared statement, reused for every row.
    Prepared,
    /// One `INSERT … VALUES (…), (…), …` statement per batch.
    MultiRow,
}

/// The honest SQLite limit: rows per second for `row_bytes`-byte rows in
/// transactions of `batch` rows, WAL with synchronous=FULL, written by
/// rusqlite on a blocking thread (no hand-off per row). Same table, same row
/// bytes and same durability as [`sqlite_batched_rows_per_s`].
pub async fn sqlite_honest_rows_per_s(
    dir: &Path,
    how: SqliteBatch,
    batch: usize,
    row_bytes: usize,
    budget: Duration,
) -> Result<f64, String> {
    let path = dir.join(format!("honest-{}.sqlite", uuid::Uuid::now_v7()));
    let worker_path = path.clone();
    let rate = tokio::task::spawn_blocking(move || honest_rows(&worker_path, how, batch, row_bytes, budget))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("rusqlite: {e}"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    rate
}

fn honest_rows(
    path: &Path,
    how: SqliteBatch,
    batch: usize,
    row_bytes: usize,
    budget: Duration,
) -> rusqlite::Result<f64> {
    let mut connection = rusqlite::Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute(
        "CREATE TABLE rows (id BLOB PRIMARY KEY, body BLOB NOT NULL, at INTEGER NOT NULL)",
        [],
    )?;
    let body = vec![0x42u8; row_bytes];
    let multi_row = format!(
        "INSERT INTO rows (id, body, at) VALUES {}",
        vec!["(?, ?, ?)"; batch].join(", ")
    );
    let mut rows = 0i64;
    let start = Instant::now();
    // Bounded: 10,000 transactions or the time budget.
    for _ in 0..10_000 {
        if start.elapsed() >= budget {
            break;
        }
        let transaction = connection.transaction()?;
        match how {
            SqliteBatch::Prepared => {
                let mut statement =
                    transaction.prepare_cached("INSERT INTO rows (id, body, at) VALUES (?, ?, ?)")?;
                for _ in 0..batch {
                    statement.execute(rusqlite::params![
                        uuid::Uuid::now_v7().as_bytes().as_slice(),
                        body,
                        rows
                    ])?;
                    rows += 1;
                }
            }
            SqliteBatch::MultiRow => {
                let mut statement = transaction.prepare_cached(&multi_row)?;
                let ids: Vec<[u8; 16]> = (0..batch).map(|_| *uuid::Uuid::now_v7().as_bytes()).collect();
                let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(batch * 3);
                let numbers: Vec<i64> = (rows..rows + batch as i64).collect();
                for (id, number) in ids.iter().zip(&numbers) {
                    values.push(id);
                    values.push(&body);
                    values.push(number);
                }
                statement.execute(values.as_slice())?;
                rows += batch as i64;
            }
        }
        transaction.commit()?;
    }
    Ok(rows as f64 / start.elapsed().as_secs_f64())
}

/// MB/s of writing each of `bodies` to a new file in `dir` and fsyncing it,
/// one after another: what keeping a photo durably costs this disk.
pub fn durable_write_mb_per_s(dir: &Path, bodies: &[Vec<u8>]) -> std::io::Result<f64> {
    let start = Instant::now();
    let mut bytes = 0usize;
    for (index, body) in bodies.iter().enumerate() {
        let path = dir.join(format!("durable-probe-{index}"));
        let mut file = std::fs::File::create(&path)?;
        file.write_all(body)?;
        file.sync_all()?;
        bytes += body.len();
        std::fs::remove_file(&path)?;
    }
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// SHA-256 and SM3 hashing rates, MB/s (10^6 bytes), over `bytes`.
pub fn hashing_mb_per_s(bytes: &[u8]) -> (f64, f64) {
    let rate = |f: &dyn Fn(&[u8])| {
        let start = Instant::now();
        let mut rounds = 0u32;
        // Bounded: at most 64 passes or 0.5 s.
        while rounds < 64 && start.elapsed() < Duration::from_millis(500) {
            f(bytes);
            rounds += 1;
        }
        f64::from(rounds) * bytes.len() as f64 / 1e6 / start.elapsed().as_secs_f64()
    };
    let sha256 = rate(&|b| {
        std::hint::black_box(sha2::Sha256::digest(b));
    });
    let sm3 = rate(&|b| {
        std::hint::black_box(sm3::Sm3::digest(b));
    });
    (sha256, sm3)
}
