//! The outbox's SQLite file: one row per item, the exact bytes to send, its state.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{ItemKind, ItemState, OutboxItem};

/// Schema version 1. `payload` is the request frame to send (for photos: the
/// encoded PhotoHeader; the bytes are in the photos folder).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox_items (
    position           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id            TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL,
    payload            BLOB NOT NULL,
    size_bytes         INTEGER NOT NULL,
    state              TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL DEFAULT 0,
    server_seq         INTEGER,
    sha256             TEXT,
    error              TEXT,
    updated_at_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_items_state ON outbox_items(state, position);
";

/// Schema version 2: a photo's capture signature, made at enqueue time (a
/// record's travels inside its request frame, `payload`).
const SCHEMA_V2: &str = "
ALTER TABLE outbox_items ADD COLUMN capture BLOB;
PRAGMA user_version = 2;
";

/// Schema version 3: the database epoch of each receipt (`Receipt.database_epoch`),
/// so what was acknowledged before a server restore can be sent again.
const SCHEMA_V3: &str = "
ALTER TABLE outbox_items ADD COLUMN epoch TEXT;
PRAGMA user_version = 3;
";

/// Schema version 4: reference data kept offline (the catalogue, the
/// roster), each one encoded message with the server's revision of it.
const SCHEMA_V4: &str = "
CREATE TABLE IF NOT EXISTS reference_data (
    kind          TEXT PRIMARY KEY NOT NULL,
    revision      TEXT NOT NULL,
    body          BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
PRAGMA user_version = 4;
";

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("outbox database: {0}")]
    Database(#[from] sqlx::Error),
    /// A file failed.
    #[error("outbox file: {0}")]
    Io(std::io::Error),
    /// A stored value is not what the outbox wrote.
    #[error("outbox database holds a bad value: {0}")]
    Corrupt(String),
    /// The same id is already in the outbox.
    #[error("item {0} is already in the outbox")]
    Duplicate(String),
}

/// A row ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub position: i64,
    pub item_id: String,
    pub kind: ItemKind,
    pub payload: Vec<u8>,
    /// A photo's capture signature (encoded), when signed at enqueue.
    pub capture: Option<Vec<u8>>,
    pub attempts: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: SqlitePool,
}

impl Store {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An enqueue returns only once the item is on disk.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&pool).await?;
        if version < 2 {
            sqlx::raw_sql(SCHEMA_V2).execute(&pool).await?;
        }
        if version < 3 {
            sqlx::raw_sql(SCHEMA_V3).execute(&pool).await?;
        }
        if version < 4 {
            sqlx::raw_sql(SCHEMA_V4).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// Keeps one kind of reference data (replacing what was kept).
    pub async fn put_reference(&self, kind: &str, revision: &str, body: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reference_data (kind, revision, body, updated_at_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (kind) DO UPDATE SET revision = excluded.revision, body = excluded.body, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(kind)
        .bind(revision)
        .bind(body)
        .bind(crate::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The reference data of one kind kept, if any: (revision, body).
    pub async fn reference(&self, kind: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT revision, body FROM reference_data WHERE kind = ?1")
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((row.try_get("revision")?, row.try_get("body")?)))
            .transpose()
    }

    pub async fn insert(
        &self,
        item_id: &str,
        kind: ItemKind,
        payload: &[u8],
        capture: Option<&[u8]>,
        size_bytes: u64,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO outbox_items (item_id, kind, payload, capture, size_bytes, state, updated_at_ms) \
             VALUES (?, ?, ?, ?, ?, 'queued', ?)",
        )
        .bind(item_id)
        .bind(kind_text(kind))
        .bind(payload)
        .bind(capture)
        .bind(size_bytes as i64)
        .bind(crate::now_ms())
        .execute(&self.pool)
        .await;
        match result {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(StoreError::Duplicate(item_id.to_owned()))
            }
            Err(error) => Err(error.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Items a killed app left `sending` go back to `queued`.
    pub async fn requeue_interrupted(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox_items SET state = 'queued' WHERE state = 'sending'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Items waiting to be sent (not acknowledged, not parked) and their bytes.
    pub async fn pending_totals(&self) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS items, COALESCE(SUM(size_bytes), 0) AS bytes FROM outbox_items \
             WHERE state NOT IN ('acknowledged', 'failed_permanent')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get::<i64, _>("items")? as u64,
            row.try_get::<i64, _>("bytes")? as u64,
        ))
    }

    pub async fn unsettled_count(&self) -> Result<u64, StoreError> {
        Ok(self.pending_totals().await?.0)
    }

    /// Items due for an attempt now: small items (records, services,
    /// lifecycle steps) in the order they were enqueued, then media, so a
    /// video queued first does not hold back the records after it.
    pub async fn due(&self, now_ms: i64, limit: u32) -> Result<Vec<Pending>, StoreError> {
        sqlx::query(
            "SELECT position, item_id, kind, payload, capture, attempts FROM outbox_items \
             WHERE state = 'queued' OR (state = 'failed_retryable' AND next_attempt_at_ms <= ?) \
             ORDER BY kind = 'photo', position LIMIT ?",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Pending {
                position: row.try_get("position")?,
                item_id: row.try_get("item_id")?,
                kind: parse_kind(&row.try_get::<String, _>("kind")?),
                payload: row.try_get("payload")?,
                capture: row.try_get("capture")?,
                attempts: row.try_get::<i64, _>("attempts")? as u32,
            })
        })
        .collect()
    }

    /// The earliest time a failed-retryable item is due, if any.
    pub async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(next_attempt_at_ms) FROM outbox_items WHERE state = 'failed_retryable'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Whether anything enqueued before `position` is still unsettled.
    pub async fn unsettled_before(&self, position: i64) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox_items WHERE position < ? AND state NOT IN ('acknowledged', 'failed_permanent')",
        )
        .bind(position)
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }

    pub async fn mark_sending(&self, item_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox_items SET state = 'sending', attempts = attempts + 1, updated_at_ms = ? WHERE item_id = ?")
            .bind(crate::now_ms())
            .bind(item_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_acknowledged(
        &self,
        item_id: &str,
        server_seq: u64,
        sha256: &str,
        epoch: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox_items SET state = 'acknowledged', server_seq = ?, sha256 = ?, epoch = ?, error = NULL, \
             updated_at_ms = ? WHERE item_id = ?",
        )
        .bind(server_seq as i64)
        .bind(sha256)
        .bind(Some(epoch).filter(|epoch| !epoch.is_empty()))
        .bind(crate::now_ms())
        .bind(item_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_failed(
        &self,
        item_id: &str,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let (state, next) = match retry_at_ms {
            Some(at) => ("failed_retryable", at),
            None => ("failed_permanent", 0),
        };
        sqlx::query(
            "UPDATE outbox_items SET state = ?, error = ?, next_attempt_at_ms = ?, updated_at_ms = ? WHERE item_id = ?",
        )
        .bind(state)
        .bind(error)
        .bind(next)
        .bind(crate::now_ms())
        .bind(item_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Items acknowledged in another database epoch than `epoch` (those
    /// acknowledged before epochs existed are not known to be of another).
    pub async fn acknowledged_elsewhere(&self, epoch: &str) -> Result<Vec<(String, ItemKind)>, StoreError> {
        let rows = sqlx::query(
            "SELECT item_id, kind FROM outbox_items \
             WHERE state = 'acknowledged' AND epoch IS NOT NULL AND epoch <> ? ORDER BY position",
        )
        .bind(epoch)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("item_id")?,
                    parse_kind(&row.try_get::<String, _>("kind")?),
                ))
            })
            .collect()
    }

    /// Items waiting out a backoff become due now; returns how many.
    pub async fn retry_now(&self) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE outbox_items SET next_attempt_at_ms = 0 WHERE state = 'failed_retryable' AND next_attempt_at_ms > 0",
        )
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Sends an acknowledged item again, in its place in the order.
    pub async fn requeue_acknowledged(&self, item_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE outbox_items SET state = 'queued', attempts = 0, next_attempt_at_ms = 0, updated_at_ms = ? \
             WHERE item_id = ? AND state = 'acknowledged'",
        )
        .bind(crate::now_ms())
        .bind(item_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Photos acknowledged before `before_ms` (their kept copies may go).
    pub async fn photos_acknowledged_before(&self, before_ms: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT item_id FROM outbox_items WHERE kind = 'photo' AND state = 'acknowledged' AND updated_at_ms < ?",
        )
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn delete_parked(&self, item_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM outbox_items WHERE item_id = ? AND state = 'failed_permanent'")
            .bind(item_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn items(&self) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(
            "SELECT position, item_id, kind, attempts, state, next_attempt_at_ms, server_seq, sha256, error \
             FROM outbox_items ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(item_from_row)
        .collect()
    }

    pub async fn item(&self, item_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        sqlx::query(
            "SELECT position, item_id, kind, attempts, state, next_attempt_at_ms, server_seq, sha256, error \
             FROM outbox_items WHERE item_id = ?",
        )
        .bind(item_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(item_from_row)
        .transpose()
    }
}

fn item_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<OutboxItem, StoreError> {
    let state: String = row.try_get("state")?;
    let error: Option<String> = row.try_get("error")?;
    let state = match state.as_str() {
        "sending" => ItemState::Sending { bytes_sent: 0 },
        "acknowledged" => ItemState::Acknowledged {
            server_seq: row.try_get::<Option<i64>, _>("server_seq")?.unwrap_or(0) as u64,
            sha256: row
                .try_get::<Option<String>, _>("sha256")?
                .unwrap_or_default()
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("acknowledged item's sha256: {e}")))?,
        },
        "failed_retryable" => ItemState::FailedRetryable {
            error: error.unwrap_or_default(),
            next_attempt_at_ms: row.try_get("next_attempt_at_ms")?,
        },
        "failed_permanent" => ItemState::FailedPermanent {
            error: error.unwrap_or_default(),
        },
        _ => ItemState::Queued,
    };
    Ok(OutboxItem {
        id: row.try_get("item_id")?,
        kind: parse_kind(&row.try_get::<String, _>("kind")?),
        position: row.try_get::<i64, _>("position")? as u64,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        state,
    })
}

fn kind_text(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Inspection => "inspection",
        ItemKind::Photo => "photo",
        ItemKind::Service => "service",
        ItemKind::ServiceEvent => "service_event",
        ItemKind::Interview => "interview",
        ItemKind::AssignmentUpdate => "assignment_update",
    }
}

fn parse_kind(text: &str) -> ItemKind {
    match text {
        "photo" => ItemKind::Photo,
        "service" => ItemKind::Service,
        "service_event" => ItemKind::ServiceEvent,
        "interview" => ItemKind::Interview,
        "assignment_update" => ItemKind::AssignmentUpdate,
        _ => ItemKind::Inspection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outbox written by the version before capture signatures (schema 1)
    /// opens, keeps its items, and gains the capture and epoch columns.
    #[tokio::test]
    async fn a_version_1_outbox_is_migrated_with_its_items() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let options = SqliteConnectOptions::from_str("sqlite:")
            .unwrap()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
        sqlx::raw_sql(
            "PRAGMA user_version = 1; INSERT INTO outbox_items (item_id, kind, payload, size_bytes, state, updated_at_ms) \
             VALUES ('old-item', 'inspection', X'0102', 2, 'queued', 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = Store::open(&path).await.unwrap();
        let due = store.due(i64::MAX, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].item_id.as_str(), due[0].payload.as_slice()),
            ("old-item", &[1u8, 2][..])
        );
        assert_eq!(due[0].capture, None);
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(version, 4);
        // Reference data is kept, one row a kind.
        assert_eq!(store.reference("catalogue").await.unwrap(), None);
        store.put_reference("catalogue", "r1", b"one").await.unwrap();
        store.put_reference("catalogue", "r2", b"two").await.unwrap();
        assert_eq!(
            store.reference("catalogue").await.unwrap(),
            Some(("r2".to_owned(), b"two".to_vec()))
        );
        // Opening again does not migrate twice.
        drop(store);
        let store = Store::open(&path).await.unwrap();
        assert!(store.reference("catalogue").await.unwrap().is_some());

        // Receipts remember their epoch; another epoch's are sent again.
        store
            .mark_acknowledged("old-item", 7, "ab", "epoch-1")
            .await
            .unwrap();
        assert!(store.acknowledged_elsewhere("epoch-1").await.unwrap().is_empty());
        let stale = store.acknowledged_elsewhere("epoch-2").await.unwrap();
        assert_eq!(stale, vec![("old-item".to_owned(), ItemKind::Inspection)]);
        assert!(store.requeue_acknowledged("old-item").await.unwrap());
        assert!(
            !store.requeue_acknowledged("old-item").await.unwrap(),
            "only acknowledged items"
        );
        assert_eq!(store.due(i64::MAX, 10).await.unwrap().len(), 1);
        // A receipt without an epoch (an older server) is never resent.
        store.mark_acknowledged("old-item", 7, "ab", "").await.unwrap();
        assert!(store.acknowledged_elsewhere("epoch-2").await.unwrap().is_empty());
    }
}
