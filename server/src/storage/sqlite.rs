//! The embedded SQLite backend: WAL, `synchronous=FULL` (asserted at start),
//! embedded numbered migrations. The queries live once in `queries.rs`,
//! shared with PostgreSQL; this file keeps what SQLite does its own way:
//! opening, the durability check, write transactions that take the lock up
//! front, and the batched inserts as multi-row VALUES.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use super::capture_rows::CaptureRow;
use super::convert::to_i64;
use super::inspection_rows::InspectionRows;
use super::migrations::EmbeddedMigrations;
use super::{FeedCursor, NewItem, StorageError};

/// The migrations, embedded at build time. See migrations/NOTES.md.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "photos",
        include_str!("../../migrations/sqlite/0002_photos.sql"),
    ),
    (
        3,
        "service_interview",
        include_str!("../../migrations/sqlite/0003_service_interview.sql"),
    ),
    (
        4,
        "assignments",
        include_str!("../../migrations/sqlite/0004_assignments.sql"),
    ),
    (
        5,
        "devices",
        include_str!("../../migrations/sqlite/0005_devices.sql"),
    ),
    (
        6,
        "presence",
        include_str!("../../migrations/sqlite/0006_presence.sql"),
    ),
    (7, "log", include_str!("../../migrations/sqlite/0007_log.sql")),
    (
        8,
        "custody",
        include_str!("../../migrations/sqlite/0008_custody.sql"),
    ),
    (
        9,
        "device captures and cosignatures",
        include_str!("../../migrations/sqlite/0009_device_captures.sql"),
    ),
    (
        10,
        "incidents",
        include_str!("../../migrations/sqlite/0010_incidents.sql"),
    ),
    (
        11,
        "camera alerts and grid reports",
        include_str!("../../migrations/sqlite/0011_intake_reports.sql"),
    ),
    (
        12,
        "incident splits and monitor silence",
        include_str!("../../migrations/sqlite/0012_incident_splits.sql"),
    ),
    (
        13,
        "media jobs and findings",
        include_str!("../../migrations/sqlite/0013_media_jobs.sql"),
    ),
    (
        14,
        "blob and upload leases",
        include_str!("../../migrations/sqlite/0014_blob_leases.sql"),
    ),
    (
        15,
        "media facts",
        include_str!("../../migrations/sqlite/0015_media_facts.sql"),
    ),
    (
        16,
        "database epochs",
        include_str!("../../migrations/sqlite/0016_database_epochs.sql"),
    ),
    (
        17,
        "statistics",
        include_str!("../../migrations/sqlite/0017_statistics.sql"),
    ),
    (
        18,
        "credentials",
        include_str!("../../migrations/sqlite/0018_credentials.sql"),
    ),
    (
        19,
        "position track",
        include_str!("../../migrations/sqlite/0019_position_track.sql"),
    ),
];

// The queries both backends share (`queries.rs`), compiled for SQLite.
mod queries {
    type Store = super::SqliteStorage;
    type Db = sqlx::Sqlite;
    include!("queries.rs");
    include!("incident_queries.rs");
    include!("stats_queries.rs");
}

/// `PRAGMA synchronous` value of FULL.
const SYNCHRONOUS_FULL: i64 = 2;
/// Rows in one multi-row statement: SQLite allows 32,766 bound parameters,
/// and the widest batched row here binds 8.
const ROWS_PER_STATEMENT_MAX: usize = 500;

/// The SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
    /// Always true outside benchmarks (see `without_log_for_benchmarks`).
    log_writes: bool,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`, applies migrations
    /// and checks the durability settings.
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        let storage = Self {
            pool,
            log_writes: true,
        };
        storage.check_durability().await?;
        EmbeddedMigrations(MIGRATIONS).apply(&storage.pool).await?;
        Ok(storage)
    }

    /// For the benchmark that measures what the transparency log costs:
    /// commits that write no leaves. Never in a server (not in its build).
    #[cfg(any(test, feature = "test-support"))]
    pub fn without_log_for_benchmarks(mut self) -> Self {
        self.log_writes = false;
        self
    }

    /// The pool, for tests that inspect the database directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn check_durability(&self) -> Result<(), StorageError> {
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&self.pool)
            .await?;
        if synchronous != SYNCHRONOUS_FULL {
            return Err(StorageError::Unsafe(format!(
                "PRAGMA synchronous is {synchronous}, FULL ({SYNCHRONOUS_FULL}) is required"
            )));
        }
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Unsafe(format!(
                "journal_mode is {journal}, WAL is required"
            )));
        }
        Ok(())
    }
}

/// A write transaction.
type Tx<'a> = Transaction<'a, Sqlite>;

/// What SQLite does its own way; the shared queries (`queries.rs`) call these.
impl SqliteStorage {
    /// IMMEDIATE: take the write lock up front. A deferred transaction that
    /// reads first can fail with SQLITE_BUSY at its first write without
    /// waiting (WAL snapshot upgrade), whatever the busy timeout.
    async fn begin_write(&self) -> Result<Tx<'static>, StorageError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The same: the write lock is the log's lock.
    async fn begin_log_write(&self) -> Result<Tx<'static>, StorageError> {
        self.begin_write().await
    }

    /// Inserts the items not stored yet as multi-row VALUES; returns the
    /// (item id, seq) of each inserted.
    async fn insert_new_items(
        tx: &mut Tx<'_>,
        items: &[NewItem],
        ids: &[String],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        let mut inserted = Vec::with_capacity(items.len());
        let rows: Vec<(&NewItem, &String)> = items.iter().zip(ids).collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO items (item_id, kind, device_id, officer_id, case_id, received_at_ms, sha256, body) ",
            );
            insert.push_values(chunk, |mut row, (item, id)| {
                row.push_bind(id.as_str())
                    .push_bind(item.kind.as_str())
                    .push_bind(&item.device_id)
                    .push_bind(&item.officer_id)
                    .push_bind(&item.case_id)
                    .push_bind(now_ms)
                    .push_bind(&item.sha256[..])
                    .push_bind(&item.body);
            });
            insert.push(" ON CONFLICT (item_id) DO NOTHING RETURNING item_id, seq");
            for row in insert.build().fetch_all(&mut **tx).await? {
                inserted.push((row.try_get("item_id")?, row.try_get("seq")?));
            }
        }
        Ok(inserted)
    }

    /// The inspection index rows of a batch, as multi-row VALUES.
    async fn insert_inspections(tx: &mut Tx<'_>, rows: &InspectionRows<'_>) -> Result<(), StorageError> {
        let records: Vec<usize> = (0..rows.item_ids.len()).collect();
        for chunk in records.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO inspections (item_id, matter_code, outcome, started_at_ms, latitude, longitude, \
                 assignment_id, sender_id) ",
            );
            insert.push_values(chunk, |mut row, &i| {
                row.push_bind(&rows.item_ids[i])
                    .push_bind(rows.matter_codes[i])
                    .push_bind(rows.outcomes[i])
                    .push_bind(rows.started_at_ms[i])
                    .push_bind(rows.latitudes[i])
                    .push_bind(rows.longitudes[i])
                    .push_bind(rows.assignment_ids[i])
                    .push_bind(rows.senders[i]);
            });
            insert.build().execute(&mut **tx).await?;
        }
        for (table, column, (item_ids, values)) in [
            ("inspection_officers", "officer_id", &rows.officers),
            ("inspection_photos", "photo_id", &rows.photos),
        ] {
            let pairs: Vec<(&String, &&str)> = item_ids.iter().zip(values).collect();
            for chunk in pairs.chunks(ROWS_PER_STATEMENT_MAX) {
                let mut insert =
                    QueryBuilder::<Sqlite>::new(format!("INSERT INTO {table} (item_id, {column}) "));
                insert.push_values(chunk, |mut row, (item_id, value)| {
                    row.push_bind(item_id.as_str()).push_bind(**value);
                });
                insert.build().execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// A batch's device-signed captures as multi-row VALUES, after the
    /// certificates they name (one statement each: rarely more than one).
    async fn insert_device_captures(
        tx: &mut Tx<'_>,
        certificates: &[(&[u8], &[u8])],
        captures: &[CaptureRow<'_>],
    ) -> Result<(), StorageError> {
        for (sha256, der) in certificates {
            sqlx::query("INSERT INTO device_certificate_ders (sha256, der) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING")
                .bind(*sha256)
                .bind(*der)
                .execute(&mut **tx)
                .await?;
        }
        for chunk in captures.chunks(ROWS_PER_STATEMENT_MAX / 5) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO device_captures (item_id, scheme, statement, signature, certificate_sha256) ",
            );
            insert.push_values(chunk, |mut row, capture| {
                row.push_bind(capture.item_id.as_str())
                    .push_bind(capture.scheme)
                    .push_bind(capture.statement)
                    .push_bind(capture.signature)
                    .push_bind(capture.certificate_sha256);
            });
            insert.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// New log leaves and stored hashes as multi-row VALUES.
    async fn insert_log_rows(
        tx: &mut Tx<'_>,
        leaves: &[(i64, &str, &[u8])],
        hashes: &[(i64, &[u8])],
    ) -> Result<(), StorageError> {
        for chunk in leaves.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO log_leaves (leaf_index, item_id, data) ");
            insert.push_values(chunk, |mut row, (index, item_id, data)| {
                row.push_bind(*index).push_bind(*item_id).push_bind(*data);
            });
            insert.build().execute(&mut **tx).await?;
        }
        for chunk in hashes.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO log_hashes (stored_index, hash) ");
            insert.push_values(chunk, |mut row, (index, hash)| {
                row.push_bind(*index).push_bind(*hash);
            });
            insert.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// An event's audience as multi-row VALUES (a team may be thousands).
    async fn insert_audience(tx: &mut Tx<'_>, seq: i64, audience: &[String]) -> Result<(), StorageError> {
        for officers in audience.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO event_audience (seq, officer_id) ");
            insert.push_values(officers, |mut row, officer| {
                row.push_bind(seq).push_bind(officer);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn upsert_feed_cursors(&self, cursors: &[FeedCursor], now_ms: i64) -> Result<(), StorageError> {
        let mut tx = self.begin_write().await?;
        for chunk in cursors.chunks(ROWS_PER_STATEMENT_MAX) {
            let rows = chunk
                .iter()
                .map(|c| Ok((&c.officer_id, &c.device_id, to_i64(c.cursor)?)))
                .collect::<Result<Vec<_>, StorageError>>()?;
            let mut upsert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO feed_cursors (officer_id, device_id, cursor, updated_at_ms) ",
            );
            upsert.push_values(rows, |mut row, (officer, device, cursor)| {
                row.push_bind(officer)
                    .push_bind(device)
                    .push_bind(cursor)
                    .push_bind(now_ms);
            });
            // Row by row: a key twice in one statement keeps the larger cursor.
            upsert.push(
                " ON CONFLICT(officer_id, device_id) DO UPDATE SET cursor = MAX(cursor, excluded.cursor), \
                 updated_at_ms = excluded.updated_at_ms",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Nothing to do: BEGIN IMMEDIATE already lets one writer in at a time.
    async fn lock_event_order(_tx: &mut Tx<'_>) -> Result<(), StorageError> {
        Ok(())
    }

    /// Nothing to do either: one writer at a time appends to the log.
    async fn lock_log(_tx: &mut Tx<'_>) -> Result<(), StorageError> {
        Ok(())
    }

    /// Nothing to do: one writer at a time changes incidents.
    async fn lock_incidents(_tx: &mut Tx<'_>) -> Result<(), StorageError> {
        Ok(())
    }

    /// Nothing to announce: one node serves an SQLite database, and it
    /// pushes its own commits.
    async fn announce_event(_tx: &mut Tx<'_>, _seq: i64) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, SqliteStorage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("db.sqlite")).await.unwrap();
        (dir, storage)
    }

    #[test]
    fn every_migration_file_is_embedded() {
        // Regression: 0003 was once written but not listed, and only the
        // end-to-end tests noticed ("no such table").
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let files = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(files, MIGRATIONS.len());
        for (index, (version, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, index as i64 + 1);
        }
    }

    /// A database made before grid workers, with a signed-in officer,
    /// upgrades: `officers` and `session_tokens` are rebuilt with their rows
    /// and their foreign key (regression: the first rebuild failed the
    /// deferred foreign-key check at commit on any database with tokens).
    #[tokio::test]
    async fn a_database_with_sessions_upgrades_to_grid_workers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let options = SqliteConnectOptions::from_str("sqlite:")
                .unwrap()
                .filename(&path)
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap();
            EmbeddedMigrations(&MIGRATIONS[..10]).apply(&pool).await.unwrap();
            for sql in [
                "INSERT INTO teams (team_id, name) VALUES ('t', 'T')",
                "INSERT INTO officers (officer_id, name, team_id, role, password_hash) VALUES ('o1', 'n', 't', 'officer', 'h')",
                "INSERT INTO session_tokens (token_sha256, officer_id, device_id, created_at_ms, expires_at_ms) \
                 VALUES (x'00', 'o1', 'd', 1, 2)",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        let storage = SqliteStorage::open(&path).await.unwrap();
        let pool = storage.pool();
        let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_tokens WHERE officer_id = 'o1'")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(tokens, 1);
        sqlx::query("INSERT INTO officers (officer_id, name, team_id, role, password_hash) VALUES ('g1', 'n', 't', 'grid_worker', 'h')")
            .execute(pool)
            .await
            .unwrap();
        let orphan = sqlx::query(
            "INSERT INTO session_tokens (token_sha256, officer_id, device_id, created_at_ms, expires_at_ms) \
             VALUES (x'01', 'nobody', 'd', 1, 2)",
        )
        .execute(pool)
        .await;
        assert!(orphan.is_err(), "the foreign key still holds");
        let bad_role = sqlx::query("INSERT INTO officers (officer_id, name, team_id, role, password_hash) VALUES ('x', 'n', 't', 'boss', 'h')")
            .execute(pool)
            .await;
        assert!(bad_role.is_err(), "the role check still holds");
    }

    #[tokio::test]
    async fn durability_settings_hold_on_every_connection() {
        let (_dir, storage) = open().await;
        let mut connections = Vec::new();
        for _ in 0..4 {
            connections.push(storage.pool().acquire().await.unwrap());
        }
        for connection in &mut connections {
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **connection)
                .await
                .unwrap();
            assert_eq!(synchronous, SYNCHRONOUS_FULL);
        }
    }
}
