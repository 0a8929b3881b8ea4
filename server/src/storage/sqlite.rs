//! The embedded SQLite backend: WAL, `synchronous=FULL` (asserted at start),
//! embedded numbered migrations, runtime queries.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::convert::{apply_service_event, assignment_event, flags_text, parse_flags, to_i64, to_u64};
use super::migrations::EmbeddedMigrations;
use super::{
    AssignmentCommit, AssignmentFilter, AssignmentStore, CaseItemRow, CommitOutcome, EvidenceStore,
    FeedCursor, ItemIndex, ItemStore, ItemSummary, NewAssignmentEvent, NewItem, PartialUpload, PeopleStore,
    PhotoIndex, RecordLinks, RecordedEvent, ServiceHistory, SessionToken, Storage, StorageError,
    StoredAssignment, StoredItem, StoredPhoto, StoredReceipt,
};
use crate::directory::{Officer, Role, Team};

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
];

/// `PRAGMA synchronous` value of FULL.
const SYNCHRONOUS_FULL: i64 = 2;
/// Rows in one multi-row statement: SQLite allows 32,766 bound parameters,
/// and the widest batched row here binds 8.
const ROWS_PER_STATEMENT_MAX: usize = 500;

/// The SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
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
        let storage = Self { pool };
        storage.check_durability().await?;
        Migrator::new(EmbeddedMigrations(MIGRATIONS))
            .await?
            .run(&storage.pool)
            .await?;
        Ok(storage)
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

fn receipt_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredReceipt, StorageError> {
    let item_id: String = row.try_get("item_id")?;
    let seq: i64 = row.try_get("seq")?;
    let sha256: Vec<u8> = row.try_get("sha256")?;
    Ok(StoredReceipt {
        item_id: Uuid::parse_str(&item_id).map_err(|e| StorageError::Corrupt(format!("item_id: {e}")))?,
        server_seq: u64::try_from(seq).map_err(|_| StorageError::Corrupt("negative seq".into()))?,
        received_at_ms: row.try_get("received_at_ms")?,
        sha256: sha256
            .try_into()
            .map_err(|_| StorageError::Corrupt("sha256 is not 32 bytes".into()))?,
    })
}

#[async_trait]
impl ItemStore for SqliteStorage {
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError> {
        // IMMEDIATE: take the write lock up front. A deferred transaction that
        // reads first can fail with SQLITE_BUSY at its first write without
        // waiting (WAL snapshot upgrade), whatever the busy timeout.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // A batch costs a few multi-row statements, not several per item:
        // one lookup of what is stored already, one insert of the new items,
        // and one per inspection index table.
        let ids: Vec<String> = items.iter().map(|item| item.item_id.to_string()).collect();
        let mut known: std::collections::HashMap<String, StoredReceipt> = std::collections::HashMap::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut lookup = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT seq, item_id, received_at_ms, sha256 FROM items WHERE item_id IN (",
            );
            let mut separated = lookup.separated(", ");
            for id in chunk {
                separated.push_bind(id);
            }
            lookup.push(")");
            for row in lookup.build().fetch_all(&mut *tx).await? {
                let receipt = receipt_from_row(&row)?;
                known.insert(receipt.item_id.to_string(), receipt);
            }
        }
        // The first of each id not stored yet is new; a later copy in the same
        // batch is a resend of it.
        let mut fresh: Vec<usize> = Vec::new();
        let mut claimed = std::collections::HashSet::new();
        for (index, id) in ids.iter().enumerate() {
            if !known.contains_key(id) && claimed.insert(id.as_str()) {
                fresh.push(index);
            }
        }
        for chunk in fresh.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO items (item_id, kind, device_id, officer_id, case_id, received_at_ms, sha256, body) ",
            );
            insert.push_values(chunk, |mut row, &index| {
                let item = &items[index];
                row.push_bind(&ids[index])
                    .push_bind(item.kind.as_str())
                    .push_bind(&item.device_id)
                    .push_bind(&item.officer_id)
                    .push_bind(&item.case_id)
                    .push_bind(now_ms)
                    .push_bind(&item.sha256[..])
                    .push_bind(&item.body);
            });
            insert.push(" RETURNING seq, item_id, received_at_ms, sha256");
            for row in insert.build().fetch_all(&mut *tx).await? {
                let receipt = receipt_from_row(&row)?;
                known.insert(receipt.item_id.to_string(), receipt);
            }
        }
        insert_inspection_indexes(
            &mut tx,
            fresh
                .iter()
                .map(|&index| (ids[index].as_str(), &items[index].index)),
        )
        .await?;
        for &index in &fresh {
            if !matches!(items[index].index, ItemIndex::Inspection { .. }) {
                insert_index(&mut tx, &ids[index], &items[index].index).await?;
            }
        }
        let fresh: std::collections::HashSet<usize> = fresh.into_iter().collect();
        let outcomes = items
            .iter()
            .zip(&ids)
            .enumerate()
            .map(|(index, (item, id))| {
                let receipt = known
                    .get(id)
                    .cloned()
                    .ok_or_else(|| StorageError::Corrupt(format!("item {id} neither stored nor inserted")))?;
                Ok(if fresh.contains(&index) {
                    CommitOutcome::Stored(receipt)
                } else if receipt.sha256 == item.sha256 {
                    CommitOutcome::Replayed(receipt)
                } else {
                    CommitOutcome::Conflict {
                        existing_seq: receipt.server_seq,
                    }
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn item(&self, item_id: Uuid) -> Result<Option<StoredItem>, StorageError> {
        let row = sqlx::query(
            "SELECT seq, item_id, received_at_ms, sha256, kind, device_id, officer_id, case_id, body FROM items \
             WHERE item_id = ?",
        )
        .bind(item_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredItem {
            receipt: receipt_from_row(&row)?,
            kind: row.try_get("kind")?,
            device_id: row.try_get("device_id")?,
            officer_id: row.try_get("officer_id")?,
            case_id: row.try_get("case_id")?,
            body: row.try_get("body")?,
        }))
    }

    async fn item_count(&self) -> Result<u64, StorageError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
            .fetch_one(&self.pool)
            .await?;
        Ok(count.max(0) as u64)
    }

    async fn service_history(&self, service_id: Uuid) -> Result<Option<ServiceHistory>, StorageError> {
        let id = service_id.to_string();
        let Some(row) = sqlx::query(
            "SELECT sent_at_ms, delivered_at_ms, confirmed_at_ms FROM services WHERE item_id = ?",
        )
        .bind(&id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut history = ServiceHistory {
            officer_ids: sqlx::query_scalar(
                "SELECT officer_id FROM item_officers WHERE item_id = ? ORDER BY officer_id",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?,
            sent_at_ms: row.try_get("sent_at_ms")?,
            delivered_at_ms: row.try_get("delivered_at_ms")?,
            confirmed_at_ms: row.try_get("confirmed_at_ms")?,
        };
        let events =
            sqlx::query("SELECT kind, at_ms FROM service_events WHERE service_id = ? ORDER BY at_ms")
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
        for event in events {
            apply_service_event(&mut history, event.try_get("kind")?, event.try_get("at_ms")?)?;
        }
        Ok(Some(history))
    }

    async fn case_items(&self, case_id: &str) -> Result<Vec<CaseItemRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT i.seq, i.item_id, i.received_at_ms, i.sha256, i.kind, i.device_id, i.officer_id, \
             COALESCE(n.started_at_ms, p.captured_at_ms, s.sent_at_ms, e.at_ms, v.started_at_ms, i.received_at_ms) \
               AS occurred_at_ms \
             FROM items i \
             LEFT JOIN inspections n ON n.item_id = i.item_id \
             LEFT JOIN photos p ON p.item_id = i.item_id \
             LEFT JOIN services s ON s.item_id = i.item_id \
             LEFT JOIN service_events e ON e.item_id = i.item_id \
             LEFT JOIN interviews v ON v.item_id = i.item_id \
             WHERE i.case_id = ? \
             ORDER BY occurred_at_ms, i.seq",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CaseItemRow {
                    receipt: receipt_from_row(row)?,
                    kind: row.try_get("kind")?,
                    occurred_at_ms: row.try_get("occurred_at_ms")?,
                    device_id: row.try_get("device_id")?,
                    officer_id: row.try_get("officer_id")?,
                })
            })
            .collect()
    }

    async fn recent_items(
        &self,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ItemSummary>, StorageError> {
        let before = match before_seq {
            Some(seq) => to_i64(seq)?,
            None => i64::MAX,
        };
        sqlx::query(
            "SELECT seq, item_id, received_at_ms, sha256, kind, device_id, officer_id, case_id FROM items \
             WHERE seq < ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ItemSummary {
                receipt: receipt_from_row(row)?,
                kind: row.try_get("kind")?,
                device_id: row.try_get("device_id")?,
                officer_id: row.try_get("officer_id")?,
                case_id: row.try_get("case_id")?,
            })
        })
        .collect()
    }

    async fn last_positions(&self) -> Result<Vec<(String, f64, f64, i64)>, StorageError> {
        sqlx::query(
            "SELECT i.officer_id, n.latitude, n.longitude, n.started_at_ms FROM items i \
             JOIN inspections n ON n.item_id = i.item_id \
             WHERE i.seq IN (SELECT MAX(seq) FROM items WHERE kind = 'inspection' GROUP BY officer_id) \
             ORDER BY i.officer_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("officer_id")?,
                row.try_get("latitude")?,
                row.try_get("longitude")?,
                row.try_get("started_at_ms")?,
            ))
        })
        .collect()
    }
}

#[async_trait]
impl EvidenceStore for SqliteStorage {
    async fn photo(&self, evidence_id: Uuid) -> Result<Option<StoredPhoto>, StorageError> {
        let row = sqlx::query(
            "SELECT i.seq, i.item_id, i.received_at_ms, i.sha256, i.device_id, i.officer_id, p.record_id, \
             p.size_bytes, p.sm3, p.content_type, p.width, p.height, p.captured_at_ms, p.latitude, p.longitude, \
             p.exif_time_ms, p.exif_latitude, p.exif_longitude, p.flags \
             FROM items i JOIN photos p ON p.item_id = i.item_id WHERE i.item_id = ?",
        )
        .bind(evidence_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let pair = |a: Option<f64>, b: Option<f64>| a.zip(b);
        let sm3: Vec<u8> = row.try_get("sm3")?;
        let flags: String = row.try_get("flags")?;
        Ok(Some(StoredPhoto {
            receipt: receipt_from_row(&row)?,
            device_id: row.try_get("device_id")?,
            officer_id: row.try_get("officer_id")?,
            index: PhotoIndex {
                record_id: row.try_get("record_id")?,
                size_bytes: to_u64(row.try_get("size_bytes")?)?,
                sm3: sm3
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("sm3 is not 32 bytes".into()))?,
                content_type: row.try_get("content_type")?,
                width: to_u64(row.try_get("width")?)? as u32,
                height: to_u64(row.try_get("height")?)? as u32,
                captured_at_ms: row.try_get("captured_at_ms")?,
                position: pair(row.try_get("latitude")?, row.try_get("longitude")?),
                exif_time_ms: row.try_get("exif_time_ms")?,
                exif_position: pair(row.try_get("exif_latitude")?, row.try_get("exif_longitude")?),
                flags: parse_flags(&flags)?,
            },
        }))
    }

    async fn partial_upload(
        &self,
        device_id: &str,
        evidence_id: Uuid,
    ) -> Result<Option<PartialUpload>, StorageError> {
        let row = sqlx::query(
            "SELECT evidence_id, device_id, officer_id, header_sha256, size_bytes, durable_offset, created_at_ms, \
             updated_at_ms FROM partial_uploads WHERE device_id = ? AND evidence_id = ?",
        )
        .bind(device_id)
        .bind(evidence_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(partial_from_row).transpose()
    }

    async fn put_partial_upload(&self, upload: &PartialUpload) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT OR REPLACE INTO partial_uploads (evidence_id, device_id, officer_id, header_sha256, size_bytes, \
             durable_offset, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(upload.evidence_id.to_string())
        .bind(&upload.device_id)
        .bind(&upload.officer_id)
        .bind(&upload.header_sha256[..])
        .bind(to_i64(upload.size_bytes)?)
        .bind(to_i64(upload.durable_offset)?)
        .bind(upload.created_at_ms)
        .bind(upload.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_partial_offset(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        durable_offset: u64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE partial_uploads SET durable_offset = ?, updated_at_ms = ? WHERE device_id = ? AND evidence_id = ?",
        )
        .bind(to_i64(durable_offset)?)
        .bind(now_ms)
        .bind(device_id)
        .bind(evidence_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_partial_upload(&self, device_id: &str, evidence_id: Uuid) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM partial_uploads WHERE device_id = ? AND evidence_id = ?")
            .bind(device_id)
            .bind(evidence_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn partial_bytes_for_device(&self, device_id: &str) -> Result<u64, StorageError> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size_bytes), 0) FROM partial_uploads WHERE device_id = ?",
        )
        .bind(device_id)
        .fetch_one(&self.pool)
        .await?;
        to_u64(total)
    }

    async fn stale_partial_uploads(
        &self,
        updated_before_ms: i64,
    ) -> Result<Vec<PartialUpload>, StorageError> {
        sqlx::query(
            "SELECT evidence_id, device_id, officer_id, header_sha256, size_bytes, durable_offset, created_at_ms, \
             updated_at_ms FROM partial_uploads WHERE updated_at_ms < ?",
        )
        .bind(updated_before_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(partial_from_row)
        .collect()
    }

    async fn record_links(&self, record_id: Uuid) -> Result<RecordLinks, StorageError> {
        let record_id = record_id.to_string();
        let creator =
            sqlx::query("SELECT device_id, officer_id FROM items WHERE item_id = ? AND kind = 'inspection'")
                .bind(&record_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| -> Result<_, StorageError> {
                    Ok((row.try_get("device_id")?, row.try_get("officer_id")?))
                })
                .transpose()?;
        let listed =
            sqlx::query_scalar("SELECT photo_id FROM inspection_photos WHERE item_id = ? ORDER BY photo_id")
                .bind(&record_id)
                .fetch_all(&self.pool)
                .await?;
        let naming = sqlx::query(
            "SELECT i.item_id, i.device_id, i.officer_id FROM photos p JOIN items i ON i.item_id = p.item_id \
             WHERE p.record_id = ? ORDER BY i.seq",
        )
        .bind(&record_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("item_id")?, row.try_get("device_id")?, row.try_get("officer_id")?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(RecordLinks {
            creator,
            listed,
            naming,
        })
    }

    async fn insert_thumbnail(
        &self,
        evidence_id: Uuid,
        sha256: &[u8; 32],
        width: u32,
        height: u32,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT OR IGNORE INTO thumbnails (item_id, sha256, width, height, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(evidence_id.to_string())
        .bind(&sha256[..])
        .bind(width)
        .bind(height)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn thumbnail(&self, evidence_id: Uuid) -> Result<Option<[u8; 32]>, StorageError> {
        let sha: Option<Vec<u8>> = sqlx::query_scalar("SELECT sha256 FROM thumbnails WHERE item_id = ?")
            .bind(evidence_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        sha.map(|sha| {
            sha.try_into()
                .map_err(|_| StorageError::Corrupt("thumbnail sha256 is not 32 bytes".into()))
        })
        .transpose()
    }

    async fn blob_is_referenced(&self, sha256: &[u8; 32]) -> Result<bool, StorageError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM photos WHERE sha256 = ?1) + (SELECT COUNT(*) FROM thumbnails WHERE sha256 = ?1)",
        )
        .bind(&sha256[..])
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }
}

#[async_trait]
impl AssignmentStore for SqliteStorage {
    async fn assignment(&self, assignment_id: Uuid) -> Result<Option<StoredAssignment>, StorageError> {
        sqlx::query("SELECT snapshot, version FROM assignments WHERE assignment_id = ?")
            .bind(assignment_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(assignment_from_row)
            .transpose()
    }

    async fn assignment_event_by_id(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StorageError> {
        let row = sqlx::query(
            "SELECT seq, request_sha256, at_ms, assignment_id FROM assignment_events WHERE event_id = ?",
        )
        .bind(event_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sha: Vec<u8> = row.try_get("request_sha256")?;
        let assignment_id: String = row.try_get("assignment_id")?;
        Ok(Some(RecordedEvent {
            seq: to_u64(row.try_get("seq")?)?,
            request_sha256: sha
                .try_into()
                .map_err(|_| StorageError::Corrupt("request_sha256 is not 32 bytes".into()))?,
            at_ms: row.try_get("at_ms")?,
            assignment_id: Uuid::parse_str(&assignment_id)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        }))
    }

    async fn commit_assignment_events(
        &self,
        events: &[(Option<u64>, &NewAssignmentEvent)],
    ) -> Result<Vec<AssignmentCommit>, StorageError> {
        // See the note on commit_items: take the write lock up front.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcomes = Vec::with_capacity(events.len());
        for (expected_version, new) in events {
            outcomes.push(append_assignment_event(&mut tx, *expected_version, new).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn feed_events(
        &self,
        officer_id: Option<&str>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        let rows =
            match officer_id {
                Some(officer) => sqlx::query(
                    "SELECT e.seq, e.event FROM event_audience a JOIN assignment_events e ON e.seq = a.seq \
                     WHERE a.officer_id = ? AND a.seq > ? ORDER BY a.seq LIMIT ?",
                )
                .bind(officer)
                .bind(to_i64(after_seq)?)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query("SELECT seq, event FROM assignment_events WHERE seq > ? ORDER BY seq LIMIT ?")
                        .bind(to_i64(after_seq)?)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                }
            };
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("event")?;
                let mut event =
                    <fieldlink_protocol::pb::AssignmentEvent as prost::Message>::decode(bytes.as_slice())
                        .map_err(|e| StorageError::Corrupt(format!("assignment event: {e}")))?;
                event.seq = to_u64(row.try_get("seq")?)?;
                Ok(event)
            })
            .collect()
    }

    async fn feed_cursor(&self, officer_id: &str, device_id: &str) -> Result<u64, StorageError> {
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT cursor FROM feed_cursors WHERE officer_id = ? AND device_id = ?")
                .bind(officer_id)
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?;
        to_u64(cursor.unwrap_or(0))
    }

    async fn store_feed_cursors(&self, cursors: &[FeedCursor], now_ms: i64) -> Result<(), StorageError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in cursors.chunks(ROWS_PER_STATEMENT_MAX) {
            let rows = chunk
                .iter()
                .map(|c| Ok((&c.officer_id, &c.device_id, to_i64(c.cursor)?)))
                .collect::<Result<Vec<_>, StorageError>>()?;
            let mut upsert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
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

    async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        let mut query =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT snapshot, version FROM assignments WHERE 1 = 1");
        let team_clause = |query: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>, team: &(String, Vec<String>)| {
            query.push(" AND (team_id = ").push_bind(team.0.clone());
            for officer in &team.1 {
                query.push(" OR officer_id = ").push_bind(officer.clone());
                query.push(" OR accepted_by = ").push_bind(officer.clone());
            }
            query.push(")");
        };
        if let Some(team) = &filter.visible_to_team {
            team_clause(&mut query, team);
        }
        if let Some(team) = &filter.team {
            team_clause(&mut query, team);
        }
        if let Some(state) = filter.state {
            query.push(" AND state = ").push_bind(state);
        }
        if let Some(officer) = &filter.officer_id {
            query
                .push(" AND (officer_id = ")
                .push_bind(officer.clone())
                .push(" OR accepted_by = ")
                .push_bind(officer.clone())
                .push(")");
        }
        if filter.overdue_only {
            query.push(" AND overdue = 1");
        }
        if let Some(before) = &filter.before_id {
            query.push(" AND assignment_id < ").push_bind(before.clone());
        }
        query
            .push(" ORDER BY assignment_id DESC LIMIT ")
            .push_bind(filter.limit);
        query
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(assignment_from_row)
            .collect()
    }

    async fn overdue_assignments(&self, now_ms: i64) -> Result<Vec<StoredAssignment>, StorageError> {
        use fieldlink_protocol::pb::AssignmentState;
        sqlx::query(
            "SELECT snapshot, version FROM assignments WHERE overdue = 0 AND due_at_ms > 0 AND due_at_ms < ? \
             AND state NOT IN (?, ?, ?) ORDER BY due_at_ms LIMIT 1000",
        )
        .bind(now_ms)
        .bind(AssignmentState::Completed as i32)
        .bind(AssignmentState::Cancelled as i32)
        .bind(AssignmentState::Rejected as i32)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(assignment_from_row)
        .collect()
    }

    async fn latest_assignment_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM assignment_events")
            .fetch_one(&self.pool)
            .await?;
        to_u64(seq)
    }

    async fn assignment_history(
        &self,
        assignment_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        sqlx::query("SELECT seq, event FROM assignment_events WHERE assignment_id = ? ORDER BY seq")
            .bind(assignment_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("event")?;
                assignment_event(&bytes, row.try_get("seq")?)
            })
            .collect()
    }

    async fn events_with_audience(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(fieldlink_protocol::pb::AssignmentEvent, Vec<String>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT e.seq, e.event, (SELECT group_concat(a.officer_id, ',') FROM event_audience a WHERE a.seq = e.seq) \
             AS audience FROM assignment_events e WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
        )
        .bind(to_i64(after_seq)?)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("event")?;
                let audience: Option<String> = row.try_get("audience")?;
                Ok((
                    assignment_event(&bytes, row.try_get("seq")?)?,
                    audience
                        .unwrap_or_default()
                        .split(',')
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            })
            .collect()
    }
}

#[async_trait]
impl PeopleStore for SqliteStorage {
    async fn upsert_directory(&self, teams: &[Team], officers: &[Officer]) -> Result<(), StorageError> {
        // IMMEDIATE: take the write lock up front. A deferred transaction that
        // reads first can fail with SQLITE_BUSY at its first write without
        // waiting (WAL snapshot upgrade), whatever the busy timeout.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for team in teams {
            sqlx::query("INSERT INTO teams (team_id, name) VALUES (?, ?) ON CONFLICT(team_id) DO UPDATE SET name = excluded.name")
                .bind(&team.id)
                .bind(&team.name)
                .execute(&mut *tx)
                .await?;
        }
        for officer in officers {
            sqlx::query(
                "INSERT INTO officers (officer_id, name, team_id, credential_number, role, password_hash, enrolled) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(officer_id) DO UPDATE SET \
                 name = excluded.name, team_id = excluded.team_id, credential_number = excluded.credential_number, \
                 role = excluded.role, password_hash = excluded.password_hash, enrolled = excluded.enrolled",
            )
            .bind(&officer.id)
            .bind(&officer.name)
            .bind(&officer.team_id)
            .bind(&officer.credential_number)
            .bind(officer.role.as_str())
            .bind(&officer.password_hash)
            .bind(officer.enrolled)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load_directory(&self) -> Result<(Vec<Team>, Vec<Officer>), StorageError> {
        let teams = sqlx::query("SELECT team_id, name FROM teams ORDER BY team_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Team {
                    id: row.try_get("team_id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let officers = sqlx::query(
            "SELECT officer_id, name, team_id, credential_number, role, password_hash, enrolled FROM officers ORDER BY officer_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(Officer {
                id: row.try_get("officer_id")?,
                name: row.try_get("name")?,
                team_id: row.try_get("team_id")?,
                credential_number: row.try_get("credential_number")?,
                role: Role::parse(&role).ok_or_else(|| StorageError::Corrupt(format!("role {role}")))?,
                password_hash: row.try_get("password_hash")?,
                enrolled: row.try_get("enrolled")?,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
        Ok((teams, officers))
    }

    async fn insert_session_token(
        &self,
        token_sha256: &[u8],
        token: &SessionToken,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO session_tokens (token_sha256, officer_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms) \
             VALUES (?, ?, ?, ?, ?, NULL)",
        )
        .bind(token_sha256)
        .bind(&token.officer_id)
        .bind(&token.device_id)
        .bind(now_ms)
        .bind(token.expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_token(&self, token_sha256: &[u8]) -> Result<Option<SessionToken>, StorageError> {
        let row = sqlx::query(
            "SELECT officer_id, device_id, expires_at_ms, revoked_at_ms FROM session_tokens WHERE token_sha256 = ?",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionToken {
            officer_id: row.try_get("officer_id")?,
            device_id: row.try_get("device_id")?,
            expires_at_ms: row.try_get("expires_at_ms")?,
            revoked_at_ms: row.try_get("revoked_at_ms")?,
        }))
    }

    async fn revoke_session_tokens(&self, officer_id: &str, now_ms: i64) -> Result<u64, StorageError> {
        let result = sqlx::query(
            "UPDATE session_tokens SET revoked_at_ms = ? WHERE officer_id = ? AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(officer_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn record_presence(
        &self,
        node_id: &str,
        officers: &[(String, u32, i64)],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        for (officer, sessions, last_seen_ms) in officers {
            sqlx::query(
                "INSERT INTO presence (node_id, officer_id, sessions, last_seen_ms, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT(node_id, officer_id) DO UPDATE SET sessions = excluded.sessions, last_seen_ms = excluded.last_seen_ms, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(node_id)
            .bind(officer)
            .bind(i64::from(*sessions))
            .bind(last_seen_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn presence(
        &self,
        except_node: &str,
        fresh_after_ms: i64,
    ) -> Result<Vec<(String, u32, i64)>, StorageError> {
        sqlx::query(
            "SELECT officer_id, \
             CAST(SUM(CASE WHEN updated_at_ms >= ? THEN sessions ELSE 0 END) AS BIGINT) AS sessions, \
             MAX(last_seen_ms) AS last_seen_ms FROM presence WHERE node_id <> ? GROUP BY officer_id ORDER BY officer_id",
        )
        .bind(fresh_after_ms)
        .bind(except_node)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let sessions: i64 = row.try_get("sessions")?;
            Ok((
                row.try_get("officer_id")?,
                u32::try_from(sessions.max(0)).unwrap_or(u32::MAX),
                row.try_get("last_seen_ms")?,
            ))
        })
        .collect()
    }

    async fn note_device_certificate(
        &self,
        device_id: &str,
        serial_hex: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        sqlx::query("INSERT OR IGNORE INTO device_certificates (serial_hex, device_id, first_seen_ms) VALUES (?, ?, ?)")
            .bind(serial_hex)
            .bind(device_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_revocations(
        &self,
        serials_hex: &[String],
        now_ms: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut newly = Vec::new();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for serial in serials_hex {
            let device: Option<String> =
                sqlx::query_scalar("SELECT device_id FROM device_certificates WHERE serial_hex = ?")
                    .bind(serial)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(device) = device else { continue };
            let inserted = sqlx::query(
                "INSERT OR IGNORE INTO device_revocations (serial_hex, device_id, revoked_at_ms) VALUES (?, ?, ?)",
            )
            .bind(serial)
            .bind(&device)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() > 0 {
                newly.push(device);
            }
        }
        tx.commit().await?;
        Ok(newly)
    }

    async fn device_revoked_at(&self, device_id: &str) -> Result<Option<i64>, StorageError> {
        Ok(
            sqlx::query_scalar("SELECT MIN(revoked_at_ms) FROM device_revocations WHERE device_id = ?")
                .bind(device_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn insert_officers(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    item_id: &str,
    officer_ids: &[String],
) -> Result<(), StorageError> {
    for officer_id in officer_ids {
        sqlx::query("INSERT INTO item_officers (item_id, officer_id) VALUES (?, ?)")
            .bind(item_id)
            .bind(officer_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn assignment_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredAssignment, StorageError> {
    let bytes: Vec<u8> = row.try_get("snapshot")?;
    Ok(StoredAssignment {
        assignment: <fieldlink_protocol::pb::Assignment as prost::Message>::decode(bytes.as_slice())
            .map_err(|e| StorageError::Corrupt(format!("assignment snapshot: {e}")))?,
        version: to_u64(row.try_get("version")?)?,
    })
}

fn partial_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<PartialUpload, StorageError> {
    let evidence_id: String = row.try_get("evidence_id")?;
    let header_sha256: Vec<u8> = row.try_get("header_sha256")?;
    Ok(PartialUpload {
        evidence_id: Uuid::parse_str(&evidence_id).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        device_id: row.try_get("device_id")?,
        officer_id: row.try_get("officer_id")?,
        header_sha256: header_sha256
            .try_into()
            .map_err(|_| StorageError::Corrupt("header_sha256 is not 32 bytes".into()))?,
        size_bytes: to_u64(row.try_get("size_bytes")?)?,
        durable_offset: to_u64(row.try_get("durable_offset")?)?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

/// The index rows of every inspection record among `items`, a few
/// multi-row statements for the whole batch.
async fn insert_inspection_indexes<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    items: impl Iterator<Item = (&'a str, &'a ItemIndex)>,
) -> Result<(), StorageError> {
    let mut records = Vec::new();
    let mut officers = Vec::new();
    let mut photos = Vec::new();
    for (item_id, index) in items {
        if let ItemIndex::Inspection {
            matter_code,
            outcome,
            started_at_ms,
            latitude,
            longitude,
            assignment_id,
            officer_ids,
            photo_ids,
        } = index
        {
            records.push((
                item_id,
                matter_code,
                outcome,
                started_at_ms,
                latitude,
                longitude,
                assignment_id,
            ));
            officers.extend(officer_ids.iter().map(|officer| (item_id, officer)));
            photos.extend(photo_ids.iter().map(|photo| (item_id, photo)));
        }
    }
    for chunk in records.chunks(ROWS_PER_STATEMENT_MAX) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO inspections (item_id, matter_code, outcome, started_at_ms, latitude, longitude, assignment_id) ",
        );
        insert.push_values(chunk, |mut row, record| {
            let (item_id, matter_code, outcome, started_at_ms, latitude, longitude, assignment_id) = *record;
            row.push_bind(item_id)
                .push_bind(matter_code)
                .push_bind(outcome)
                .push_bind(started_at_ms)
                .push_bind(latitude)
                .push_bind(longitude)
                .push_bind(assignment_id);
        });
        insert.build().execute(&mut **tx).await?;
    }
    for (table, column, rows) in [
        ("inspection_officers", "officer_id", &officers),
        ("inspection_photos", "photo_id", &photos),
    ] {
        for chunk in rows.chunks(ROWS_PER_STATEMENT_MAX) {
            let mut insert =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("INSERT INTO {table} (item_id, {column}) "));
            insert.push_values(chunk, |mut row, (item_id, value)| {
                row.push_bind(*item_id).push_bind(*value);
            });
            insert.build().execute(&mut **tx).await?;
        }
    }
    Ok(())
}

async fn insert_index(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    item_id: &str,
    index: &ItemIndex,
) -> Result<(), StorageError> {
    match index {
        ItemIndex::Inspection { .. } => {
            insert_inspection_indexes(tx, std::iter::once((item_id, index))).await?
        }
        ItemIndex::Service {
            document_type,
            document_number,
            document_sha256,
            channel,
            sent_at_ms,
            delivered_at_ms,
            confirmed_at_ms,
            officer_ids,
        } => {
            let case_id: Option<String> = sqlx::query_scalar("SELECT case_id FROM items WHERE item_id = ?")
                .bind(item_id)
                .fetch_one(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO services (item_id, case_id, document_type, document_number, document_sha256, channel, \
                 sent_at_ms, delivered_at_ms, confirmed_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(item_id)
            .bind(case_id.unwrap_or_default())
            .bind(document_type)
            .bind(document_number)
            .bind(&document_sha256[..])
            .bind(channel)
            .bind(sent_at_ms)
            .bind(delivered_at_ms)
            .bind(confirmed_at_ms)
            .execute(&mut **tx)
            .await?;
            insert_officers(tx, item_id, officer_ids).await?;
        }
        ItemIndex::ServiceEvent {
            service_id,
            kind,
            at_ms,
        } => {
            sqlx::query("INSERT INTO service_events (item_id, service_id, kind, at_ms) VALUES (?, ?, ?, ?)")
                .bind(item_id)
                .bind(service_id)
                .bind(kind)
                .bind(at_ms)
                .execute(&mut **tx)
                .await?;
        }
        ItemIndex::Interview {
            started_at_ms,
            ended_at_ms,
            interviewer_ids,
        } => {
            let case_id: Option<String> = sqlx::query_scalar("SELECT case_id FROM items WHERE item_id = ?")
                .bind(item_id)
                .fetch_one(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO interviews (item_id, case_id, started_at_ms, ended_at_ms) VALUES (?, ?, ?, ?)",
            )
            .bind(item_id)
            .bind(case_id.unwrap_or_default())
            .bind(started_at_ms)
            .bind(ended_at_ms)
            .execute(&mut **tx)
            .await?;
            insert_officers(tx, item_id, interviewer_ids).await?;
        }
        ItemIndex::Photo(photo) => {
            sqlx::query(
                "INSERT INTO photos (item_id, record_id, size_bytes, sha256, sm3, content_type, width, height, \
                 captured_at_ms, latitude, longitude, exif_time_ms, exif_latitude, exif_longitude, flags) \
                 VALUES (?, ?, ?, (SELECT sha256 FROM items WHERE item_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(item_id)
            .bind(&photo.record_id)
            .bind(to_i64(photo.size_bytes)?)
            .bind(item_id)
            .bind(&photo.sm3[..])
            .bind(&photo.content_type)
            .bind(photo.width)
            .bind(photo.height)
            .bind(photo.captured_at_ms)
            .bind(photo.position.map(|p| p.0))
            .bind(photo.position.map(|p| p.1))
            .bind(photo.exif_time_ms)
            .bind(photo.exif_position.map(|p| p.0))
            .bind(photo.exif_position.map(|p| p.1))
            .bind(flags_text(&photo.flags))
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Checks and appends one assignment event inside `tx`; a conflict or a
/// taken event id returns before anything is written.
async fn append_assignment_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    expected_version: Option<u64>,
    new: &NewAssignmentEvent,
) -> Result<AssignmentCommit, StorageError> {
    use fieldlink_protocol::pb::assignment::Assignee;
    use prost::Message;
    let snapshot = new
        .event
        .assignment
        .as_ref()
        .ok_or_else(|| StorageError::Corrupt("an assignment event without its assignment".into()))?;
    let assignment_id = snapshot.id.clone();
    let (officer_id, team_id) = match &snapshot.assignee {
        Some(Assignee::OfficerId(id)) => (Some(id.clone()), None),
        Some(Assignee::TeamId(id)) => (None, Some(id.clone())),
        None => (None, None),
    };
    let accepted_by = Some(snapshot.accepted_by.clone()).filter(|a| !a.is_empty());
    let taken: Option<i64> = sqlx::query_scalar("SELECT seq FROM assignment_events WHERE event_id = ?")
        .bind(new.event_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    if taken.is_some() {
        return Ok(AssignmentCommit::DuplicateEventId);
    }
    match expected_version {
        None => {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT version FROM assignments WHERE assignment_id = ?")
                    .bind(&assignment_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            if exists.is_some() {
                return Ok(AssignmentCommit::VersionConflict);
            }
            sqlx::query(
                    "INSERT INTO assignments (assignment_id, snapshot, state, officer_id, team_id, accepted_by, overdue, \
                     due_at_ms, created_at_ms, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                )
                .bind(&assignment_id)
                .bind(snapshot.encode_to_vec())
                .bind(snapshot.state)
                .bind(&officer_id)
                .bind(&team_id)
                .bind(&accepted_by)
                .bind(snapshot.overdue)
                .bind(snapshot.due_at_ms)
                .bind(snapshot.created_at_ms)
                .execute(&mut **tx)
                .await?;
        }
        Some(version) => {
            let updated = sqlx::query(
                    "UPDATE assignments SET snapshot = ?, state = ?, officer_id = ?, team_id = ?, accepted_by = ?, \
                     overdue = ?, due_at_ms = ? WHERE assignment_id = ? AND version = ?",
                )
                .bind(snapshot.encode_to_vec())
                .bind(snapshot.state)
                .bind(&officer_id)
                .bind(&team_id)
                .bind(&accepted_by)
                .bind(snapshot.overdue)
                .bind(snapshot.due_at_ms)
                .bind(&assignment_id)
                .bind(to_i64(version)?)
                .execute(&mut **tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Ok(AssignmentCommit::VersionConflict);
            }
        }
    }
    let mut event = new.event.clone();
    event.seq = 0;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO assignment_events (event_id, request_sha256, assignment_id, kind, event, at_ms) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(new.event_id.to_string())
    .bind(&new.request_sha256[..])
    .bind(&assignment_id)
    .bind(event.kind)
    .bind(event.encode_to_vec())
    .bind(event.at_ms)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("UPDATE assignments SET version = ? WHERE assignment_id = ?")
        .bind(seq)
        .bind(&assignment_id)
        .execute(&mut **tx)
        .await?;
    // Multi-row statements for the audience (a team may be thousands).
    for officers in new.audience.chunks(ROWS_PER_STATEMENT_MAX) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT OR IGNORE INTO event_audience (seq, officer_id) ",
        );
        insert.push_values(officers, |mut row, officer| {
            row.push_bind(seq).push_bind(officer);
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(AssignmentCommit::Committed { seq: to_u64(seq)? })
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
