// The queries both databases share, written once.
//
// This file is compiled twice: `sqlite.rs` and `postgres.rs` each include it
// in a module that names its database (`Db`) and its storage type (`Store`).
// Every instance is type-checked against that driver's concrete types, and
// no query is written twice. (Generic sqlx code would need a score of
// higher-ranked trait bounds on every impl; two instances need none.)
//
// The SQL here is what both engines accept: `$n` placeholders (SQLite binds
// `$1` like `?1`), `ON CONFLICT … DO NOTHING/UPDATE`, `INSERT … SELECT`,
// booleans tested bare (`WHERE NOT overdue`), BIGINT casts spelled `CAST`.
// Each backend supplies only what really differs, as inherent functions of
// `Store`: `begin_write` and `begin_log_write` (SQLite takes the write lock
// up front; PostgreSQL begins and takes the log's advisory lock in one round
// trip), `insert_new_items`, `insert_inspections`, `insert_device_captures`,
// `insert_log_rows` and `insert_audience` (multi-row VALUES versus UNNEST,
// PostgreSQL joining a batch's inserts into one statement with WITH: each
// round trip to its server costs more than the statement),
// `lock_event_order` and `announce_event` (an advisory lock and NOTIFY on
// PostgreSQL) and `upsert_feed_cursors`.
//
// rustfmt does not reach an included file: `.ci/run` checks it by name.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Transaction};
use uuid::Uuid;

use crate::directory::{Officer, Role, Team};
use crate::storage::convert::{
    apply_service_event, assignment, assignment_event, digest32, flags_text, parse_flags, to_i64, to_u64,
    uuid,
};
use crate::storage::inspection_rows::InspectionRows;
use crate::storage::log_append::{event_leaf, item_leaf, LogAppend};
use crate::storage::{
    AssignmentCommit, AssignmentFilter, AssignmentStore, CaseFilter, CaseItemRow, CasePage, CaseSummary,
    CommitOutcome, DatabaseEpoch, DeviceCapture, EpochStore, EvidenceStore, FeedCursor, HighWater, ItemIndex,
    ItemStore, ItemSummary, LeafRef, LogStore, MediaFinding, MediaJob, NewAssignmentEvent, NewItem,
    PartialUpload, PeopleStore, PhotoIndex, PositionFix, PositionStore, RecordLinks, RecordedEvent,
    ServiceHistory, SessionToken, Storage, StorageError, StoredAssignment, StoredCheckpoint, StoredCustody,
    StoredItem, StoredPhoto, StoredReceipt,
};

type DbRow = <Db as sqlx::Database>::Row;

/// Ids in one `IN (…)` lookup (SQLite allows 32,766 bound parameters).
const IDS_PER_LOOKUP_MAX: usize = 500;

const PARTIAL_COLUMNS: &str =
    "evidence_id, device_id, officer_id, header_sha256, size_bytes, durable_offset, created_at_ms, updated_at_ms";

fn receipt_from_row(row: &DbRow) -> Result<StoredReceipt, StorageError> {
    let item_id: String = row.try_get("item_id")?;
    Ok(StoredReceipt {
        item_id: uuid(&item_id)?,
        server_seq: to_u64(row.try_get("seq")?)?,
        received_at_ms: row.try_get("received_at_ms")?,
        sha256: digest32(row.try_get("sha256")?, "sha256")?,
        leaf: None,
    })
}

/// A receipt from a row that also has the item's leaf joined in
/// (`LEFT JOIN log_leaves l`: `l.leaf_index`, `l.data AS leaf_data`).
fn receipt_with_leaf(row: &DbRow) -> Result<StoredReceipt, StorageError> {
    let mut receipt = receipt_from_row(row)?;
    let index: Option<i64> = row.try_get("leaf_index")?;
    let data: Option<Vec<u8>> = row.try_get("leaf_data")?;
    if let (Some(index), Some(data)) = (index, data) {
        let leaf = fieldlink_protocol::log::Leaf::decode(&data)
            .map_err(|e| StorageError::Corrupt(format!("log leaf {index}: {e}")))?;
        receipt.leaf = Some(LeafRef {
            index: to_u64(index)?,
            sm3: Some(leaf.sm3),
        });
    }
    Ok(receipt)
}

/// The columns `receipt_with_leaf` reads, for `items i LEFT JOIN log_leaves l`.
const RECEIPT_COLUMNS: &str =
    "i.seq, i.item_id, i.received_at_ms, i.sha256, l.leaf_index, l.data AS leaf_data";

fn partial_from_row(row: &DbRow) -> Result<PartialUpload, StorageError> {
    let evidence_id: String = row.try_get("evidence_id")?;
    Ok(PartialUpload {
        evidence_id: uuid(&evidence_id)?,
        device_id: row.try_get("device_id")?,
        officer_id: row.try_get("officer_id")?,
        header_sha256: digest32(row.try_get("header_sha256")?, "header_sha256")?,
        size_bytes: to_u64(row.try_get("size_bytes")?)?,
        durable_offset: to_u64(row.try_get("durable_offset")?)?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn assignment_from_row(row: &DbRow) -> Result<StoredAssignment, StorageError> {
    let bytes: Vec<u8> = row.try_get("snapshot")?;
    Ok(StoredAssignment {
        assignment: assignment(&bytes)?,
        version: to_u64(row.try_get("version")?)?,
    })
}

fn checkpoint_from_row(row: &DbRow) -> Result<StoredCheckpoint, StorageError> {
    Ok(StoredCheckpoint {
        tree_size: to_u64(row.try_get("tree_size")?)?,
        root: digest32(row.try_get("root")?, "checkpoint root")?,
        note: row.try_get("note")?,
        signed_at_ms: row.try_get("signed_at_ms")?,
    })
}

fn event_from_row(row: &DbRow) -> Result<fieldlink_protocol::pb::AssignmentEvent, StorageError> {
    let bytes: Vec<u8> = row.try_get("event")?;
    assignment_event(&bytes, row.try_get("seq")?)
}

#[async_trait]
impl ItemStore for Store {
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError> {
        // A batch costs a few statements, not several per item: one insert
        // of the items, one lookup of the ids already stored, and one per
        // inspection index table.
        // One item writer at a time (PostgreSQL: across nodes, the log's
        // advisory lock, held to the commit): seqs are then allocated in
        // commit order, so a reader paging "after seq N" never misses a
        // lower seq that commits later, and the log lists items in seq order.
        let mut tx = self.begin_log_write().await?;
        // A service is delivered once and confirmed once: of two reports of
        // one step (two terminals at the same moment, on any node), the
        // first to commit is stored and the other is told the step is taken.
        let taken = service_steps_taken(&mut tx, items).await?;
        let kept: Vec<NewItem>;
        let all = items;
        let items: &[NewItem] = if taken.is_empty() {
            all
        } else {
            kept = all
                .iter()
                .filter(|item| !taken.contains_key(&item.item_id))
                .cloned()
                .collect();
            &kept
        };
        let ids: Vec<String> = items.iter().map(|item| item.item_id.to_string()).collect();
        // The insert skips an id stored already and a second copy of an id
        // in this batch (ON CONFLICT DO NOTHING; on PostgreSQL it first waits
        // for another node's transaction inserting the same id).
        let mut new_seqs: HashMap<String, i64> = Store::insert_new_items(&mut tx, items, &ids, now_ms)
            .await?
            .into_iter()
            .collect();
        // Everything not inserted just now is a resend or a conflict.
        let others: Vec<&str> = ids
            .iter()
            .filter(|id| !new_seqs.contains_key(*id))
            .map(String::as_str)
            .collect();
        let mut existing = HashMap::new();
        for chunk in others.chunks(IDS_PER_LOOKUP_MAX) {
            let mut lookup = QueryBuilder::<Db>::new(format!(
                "SELECT {RECEIPT_COLUMNS} FROM items i LEFT JOIN log_leaves l ON l.item_id = i.item_id \
                 WHERE i.item_id IN ("
            ));
            let mut separated = lookup.separated(", ");
            for id in chunk {
                separated.push_bind(*id);
            }
            lookup.push(")");
            for row in lookup.build().fetch_all(&mut *tx).await? {
                let receipt = receipt_with_leaf(&row)?;
                existing.insert(receipt.item_id, receipt);
            }
        }
        // The new items, in the order they were stored, with their leaves.
        let mut stored = Vec::new();
        let mut new_leaves = Vec::new();
        for (item, id) in items.iter().zip(&ids) {
            if let Some(seq) = new_seqs.remove(id) {
                new_leaves.push(item_leaf(item, to_u64(seq)?, now_ms));
                stored.push(item);
            }
        }
        // Inspection records (the bulk) in one batch; the rarer kinds one by one.
        let inspections = InspectionRows::of(&stored);
        if !inspections.item_ids.is_empty() {
            Store::insert_inspections(&mut tx, &inspections).await?;
        }
        for item in &stored {
            if !matches!(item.index, ItemIndex::Inspection { .. }) {
                insert_index(&mut tx, &item.item_id.to_string(), &item.index, now_ms).await?;
            }
        }
        insert_captures(&mut tx, &stored).await?;
        // Last, the leaves: on PostgreSQL appending holds the log's lock,
        // which the commit releases right after.
        let leaves: Vec<(String, Vec<u8>)> = match self.log_writes {
            true => stored
                .iter()
                .zip(&new_leaves)
                .map(|(item, leaf)| (item.item_id.to_string(), leaf.encode()))
                .collect(),
            false => Vec::new(),
        };
        let indexes = append_leaves_locked(&mut tx, &leaves).await?;
        for (position, (item, leaf)) in stored.iter().zip(&new_leaves).enumerate() {
            let receipt = StoredReceipt {
                item_id: item.item_id,
                server_seq: leaf.server_seq,
                received_at_ms: now_ms,
                sha256: item.sha256,
                leaf: indexes.get(position).map(|&index| LeafRef {
                    index,
                    sm3: Some(leaf.sm3),
                }),
            };
            existing.insert(item.item_id, receipt);
        }
        let mut outcomes = Vec::with_capacity(items.len());
        let mut first_copies: std::collections::HashSet<Uuid> = stored.iter().map(|i| i.item_id).collect();
        for (item, id) in items.iter().zip(&ids) {
            // The first copy of an id inserted in this batch is stored; later
            // copies compare against it.
            if first_copies.remove(&item.item_id) {
                let receipt = existing
                    .get(&item.item_id)
                    .cloned()
                    .ok_or_else(|| StorageError::Corrupt(format!("item {id} inserted but not kept")))?;
                outcomes.push(CommitOutcome::Stored(receipt));
                continue;
            }
            let receipt = existing
                .get(&item.item_id)
                .ok_or_else(|| StorageError::Corrupt(format!("item {id} neither inserted nor found")))?;
            outcomes.push(if receipt.sha256 == item.sha256 {
                CommitOutcome::Replayed(receipt.clone())
            } else {
                CommitOutcome::Conflict {
                    existing_seq: receipt.server_seq,
                }
            });
        }
        tx.commit().await?;
        if taken.is_empty() {
            return Ok(outcomes);
        }
        // Every item of the batch its answer, in order.
        let mut kept_outcomes = outcomes.into_iter();
        all.iter()
            .map(|item| match taken.get(&item.item_id) {
                Some(&at_ms) => Ok(CommitOutcome::StepTaken { at_ms }),
                None => kept_outcomes
                    .next()
                    .ok_or_else(|| StorageError::Corrupt("a batch lost an outcome".into())),
            })
            .collect()
    }

    async fn item(&self, item_id: Uuid) -> Result<Option<StoredItem>, StorageError> {
        let row = sqlx::query(&format!(
            "SELECT {RECEIPT_COLUMNS}, i.kind, i.device_id, i.officer_id, i.case_id, i.body, {CAPTURE_COLUMNS} \
             FROM items i LEFT JOIN log_leaves l ON l.item_id = i.item_id {CAPTURE_JOINS} WHERE i.item_id = $1"
        ))
        .bind(item_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredItem {
            receipt: receipt_with_leaf(&row)?,
            kind: row.try_get("kind")?,
            device_id: row.try_get("device_id")?,
            officer_id: row.try_get("officer_id")?,
            case_id: row.try_get("case_id")?,
            body: row.try_get("body")?,
            capture: capture_from_row(&row)?,
        }))
    }

    async fn item_count(&self) -> Result<u64, StorageError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
            .fetch_one(&self.pool)
            .await?;
        to_u64(count)
    }

    async fn case_opener(&self, case_id: &str) -> Result<Option<String>, StorageError> {
        Ok(
            sqlx::query_scalar("SELECT officer_id FROM items WHERE case_id = $1 ORDER BY seq LIMIT 1")
                .bind(case_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn service_history(&self, service_id: Uuid) -> Result<Option<ServiceHistory>, StorageError> {
        let id = service_id.to_string();
        let Some(row) = sqlx::query(
            "SELECT sent_at_ms, delivered_at_ms, confirmed_at_ms FROM services WHERE item_id = $1",
        )
        .bind(&id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut history = ServiceHistory {
            officer_ids: sqlx::query_scalar(
                "SELECT officer_id FROM item_officers WHERE item_id = $1 ORDER BY officer_id",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?,
            sent_at_ms: row.try_get("sent_at_ms")?,
            delivered_at_ms: row.try_get("delivered_at_ms")?,
            confirmed_at_ms: row.try_get("confirmed_at_ms")?,
        };
        let events =
            sqlx::query("SELECT kind, at_ms FROM service_events WHERE service_id = $1 ORDER BY at_ms")
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
        for event in events {
            apply_service_event(&mut history, event.try_get("kind")?, event.try_get("at_ms")?)?;
        }
        Ok(Some(history))
    }

    async fn case_items(&self, case_id: &str, page: &CasePage) -> Result<Vec<CaseItemRow>, StorageError> {
        // The time an item happened is computed per kind; paging is by it
        // and the seq, so the outer query filters and orders on both.
        let mut query = QueryBuilder::<Db>::new(
            "SELECT * FROM (SELECT i.seq, i.item_id, i.received_at_ms, i.sha256, i.kind, i.device_id, \
             i.officer_id, \
             COALESCE(n.started_at_ms, p.captured_at_ms, s.sent_at_ms, e.at_ms, v.started_at_ms, i.received_at_ms) \
               AS occurred_at_ms \
             FROM items i \
             LEFT JOIN inspections n ON n.item_id = i.item_id \
             LEFT JOIN photos p ON p.item_id = i.item_id \
             LEFT JOIN services s ON s.item_id = i.item_id \
             LEFT JOIN service_events e ON e.item_id = i.item_id \
             LEFT JOIN interviews v ON v.item_id = i.item_id \
             WHERE i.case_id = ",
        );
        query.push_bind(case_id.to_owned()).push(") c WHERE 1 = 1");
        if let Some((occurred_at_ms, seq)) = page.after {
            query
                .push(" AND (c.occurred_at_ms > ")
                .push_bind(occurred_at_ms)
                .push(" OR (c.occurred_at_ms = ")
                .push_bind(occurred_at_ms)
                .push(" AND c.seq > ")
                .push_bind(to_i64(seq)?)
                .push("))");
        }
        query.push(" ORDER BY c.occurred_at_ms, c.seq");
        if let Some(limit) = page.limit {
            query.push(" LIMIT ").push_bind(i64::from(limit));
        }
        let rows = query.build().fetch_all(&self.pool).await?;
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

    async fn case_summaries(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StorageError> {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT case_id, CAST(COUNT(*) AS BIGINT) AS items, MIN(received_at_ms) AS first_at_ms, \
             MAX(received_at_ms) AS last_at_ms, MAX(seq) AS last_seq FROM items WHERE case_id IS NOT NULL",
        );
        if let Some(text) = &filter.id_contains {
            // LIKE's own characters in the text match themselves.
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            query
                .push(" AND LOWER(case_id) LIKE ")
                .push_bind(format!("%{}%", escaped.to_lowercase()))
                .push(" ESCAPE '\\'");
        }
        if let Some(officers) = &filter.officer_ids {
            if officers.is_empty() {
                return Ok(Vec::new());
            }
            query.push(
                " AND case_id IN (SELECT case_id FROM items WHERE case_id IS NOT NULL AND officer_id IN (",
            );
            let mut list = query.separated(", ");
            for officer in officers.iter().take(IDS_PER_LOOKUP_MAX) {
                list.push_bind(officer.clone());
            }
            query.push("))");
        }
        query.push(" GROUP BY case_id");
        if let Some(before) = filter.before_seq {
            query.push(" HAVING MAX(seq) < ").push_bind(to_i64(before)?);
        }
        query
            .push(" ORDER BY MAX(seq) DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        query
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(CaseSummary {
                    case_id: row.try_get("case_id")?,
                    items: to_u64(row.try_get("items")?)?,
                    first_at_ms: row.try_get("first_at_ms")?,
                    last_at_ms: row.try_get("last_at_ms")?,
                    last_seq: to_u64(row.try_get("last_seq")?)?,
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
             WHERE seq < $1 AND kind <> $3 ORDER BY seq DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .bind(crate::storage::ItemKind::MonitorPacket.as_str())
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

const POSITION_COLUMNS: &str =
    "officer_id, device_id, latitude, longitude, accuracy_m, speed_mps, at_ms, received_at_ms";

fn position_from_row(row: &DbRow) -> Result<PositionFix, StorageError> {
    Ok(PositionFix {
        officer_id: row.try_get("officer_id")?,
        device_id: row.try_get("device_id")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        accuracy_m: row.try_get("accuracy_m")?,
        speed_mps: row.try_get("speed_mps")?,
        at_ms: row.try_get("at_ms")?,
        received_at_ms: row.try_get("received_at_ms")?,
    })
}

#[async_trait]
impl PositionStore for Store {
    async fn record_track(&self, points: &[PositionFix]) -> Result<(), StorageError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in points.chunks(IDS_PER_LOOKUP_MAX / 8) {
            let mut insert =
                QueryBuilder::<Db>::new(format!("INSERT INTO position_track ({POSITION_COLUMNS}) "));
            insert.push_values(chunk, |mut row, p| {
                row.push_bind(&p.officer_id)
                    .push_bind(&p.device_id)
                    .push_bind(p.latitude)
                    .push_bind(p.longitude)
                    .push_bind(p.accuracy_m)
                    .push_bind(p.speed_mps)
                    .push_bind(p.at_ms)
                    .push_bind(p.received_at_ms);
            });
            insert.push(" ON CONFLICT (officer_id, at_ms) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn track(
        &self,
        officer_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<PositionFix>, StorageError> {
        sqlx::query(&format!(
            "SELECT {POSITION_COLUMNS} FROM position_track WHERE officer_id = $1 AND at_ms >= $2 AND at_ms <= $3 \
             ORDER BY at_ms LIMIT $4"
        ))
        .bind(officer_id)
        .bind(from_ms)
        .bind(to_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(position_from_row)
        .collect()
    }

    async fn latest_track_points(&self, since_ms: i64) -> Result<Vec<PositionFix>, StorageError> {
        // The recent points only (by the received_at_ms index), not the
        // whole retained track.
        sqlx::query(&format!(
            "SELECT {POSITION_COLUMNS} FROM position_track t WHERE received_at_ms >= $1 \
             AND at_ms = (SELECT MAX(at_ms) FROM position_track l \
                          WHERE l.officer_id = t.officer_id AND l.received_at_ms >= $1) \
             ORDER BY officer_id"
        ))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(position_from_row)
        .collect()
    }

    async fn prune_track(&self, before_ms: i64) -> Result<u64, StorageError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM position_track WHERE received_at_ms < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }
}

#[async_trait]
impl EvidenceStore for Store {
    async fn photo(&self, evidence_id: Uuid) -> Result<Option<StoredPhoto>, StorageError> {
        let row = sqlx::query(
            "SELECT i.seq, i.item_id, i.received_at_ms, i.sha256, i.device_id, i.officer_id, p.record_id, \
             p.size_bytes, p.sm3, p.content_type, p.width, p.height, p.captured_at_ms, p.latitude, p.longitude, \
             p.exif_time_ms, p.exif_latitude, p.exif_longitude, p.flags, p.duration_ms, p.codecs, \
             p.container_time_ms, l.leaf_index, l.data AS leaf_data \
             FROM items i JOIN photos p ON p.item_id = i.item_id \
             LEFT JOIN log_leaves l ON l.item_id = i.item_id WHERE i.item_id = $1",
        )
        .bind(evidence_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let pair = |a: Option<f64>, b: Option<f64>| a.zip(b);
        let flags: String = row.try_get("flags")?;
        let dimension = |column: &str| -> Result<u32, StorageError> {
            let value: i64 = row.try_get(column)?;
            u32::try_from(value).map_err(|_| StorageError::Corrupt(format!("{column} {value}")))
        };
        Ok(Some(StoredPhoto {
            receipt: receipt_with_leaf(&row)?,
            device_id: row.try_get("device_id")?,
            officer_id: row.try_get("officer_id")?,
            index: PhotoIndex {
                record_id: row.try_get("record_id")?,
                size_bytes: to_u64(row.try_get("size_bytes")?)?,
                sm3: digest32(row.try_get("sm3")?, "sm3")?,
                content_type: row.try_get("content_type")?,
                width: dimension("width")?,
                height: dimension("height")?,
                captured_at_ms: row.try_get("captured_at_ms")?,
                position: pair(row.try_get("latitude")?, row.try_get("longitude")?),
                exif_time_ms: row.try_get("exif_time_ms")?,
                exif_position: pair(row.try_get("exif_latitude")?, row.try_get("exif_longitude")?),
                flags: parse_flags(&flags)?,
                duration_ms: row
                    .try_get::<Option<i64>, _>("duration_ms")?
                    .map(to_u64)
                    .transpose()?,
                codecs: row.try_get("codecs")?,
                container_time_ms: row.try_get("container_time_ms")?,
            },
        }))
    }

    async fn partial_upload(
        &self,
        device_id: &str,
        evidence_id: Uuid,
    ) -> Result<Option<PartialUpload>, StorageError> {
        let row = sqlx::query(&format!(
            "SELECT {PARTIAL_COLUMNS} FROM partial_uploads WHERE device_id = $1 AND evidence_id = $2"
        ))
        .bind(device_id)
        .bind(evidence_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(partial_from_row).transpose()
    }

    async fn put_partial_upload(&self, upload: &PartialUpload) -> Result<(), StorageError> {
        sqlx::query(&format!(
            "INSERT INTO partial_uploads ({PARTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (device_id, evidence_id) DO UPDATE SET officer_id = excluded.officer_id, \
             header_sha256 = excluded.header_sha256, size_bytes = excluded.size_bytes, \
             durable_offset = excluded.durable_offset, created_at_ms = excluded.created_at_ms, \
             updated_at_ms = excluded.updated_at_ms"
        ))
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
            "UPDATE partial_uploads SET durable_offset = $1, updated_at_ms = $2 \
             WHERE device_id = $3 AND evidence_id = $4",
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
        sqlx::query("DELETE FROM partial_uploads WHERE device_id = $1 AND evidence_id = $2")
            .bind(device_id)
            .bind(evidence_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn partial_bytes_for_device(&self, device_id: &str) -> Result<u64, StorageError> {
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM partial_uploads WHERE device_id = $1",
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
        sqlx::query(&format!(
            "SELECT {PARTIAL_COLUMNS} FROM partial_uploads WHERE updated_at_ms < $1"
        ))
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
            sqlx::query("SELECT device_id, officer_id FROM items WHERE item_id = $1 AND kind = 'inspection'")
                .bind(&record_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| -> Result<_, StorageError> {
                    Ok((row.try_get("device_id")?, row.try_get("officer_id")?))
                })
                .transpose()?;
        let listed =
            sqlx::query_scalar("SELECT photo_id FROM inspection_photos WHERE item_id = $1 ORDER BY photo_id")
                .bind(&record_id)
                .fetch_all(&self.pool)
                .await?;
        let naming = sqlx::query(
            "SELECT i.item_id, i.device_id, i.officer_id FROM photos p JOIN items i ON i.item_id = p.item_id \
             WHERE p.record_id = $1 ORDER BY i.seq",
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
            "INSERT INTO thumbnails (item_id, sha256, width, height, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (item_id) DO NOTHING",
        )
        .bind(evidence_id.to_string())
        .bind(&sha256[..])
        .bind(i64::from(width))
        .bind(i64::from(height))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_media_jobs(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StorageError> {
        let due = sqlx::query(
            "SELECT item_id, attempts FROM media_jobs WHERE lease_until_ms < $1 \
             ORDER BY queued_at_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in &due {
            let item_id: String = row.try_get("item_id")?;
            // Taken only if no other worker (or node) took it meanwhile.
            let taken = sqlx::query(
                "UPDATE media_jobs SET lease_until_ms = $2, attempts = attempts + 1 \
                 WHERE item_id = $1 AND lease_until_ms < $3",
            )
            .bind(&item_id)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if taken == 1 {
                claimed.push(MediaJob {
                    item_id: Uuid::parse_str(&item_id)
                        .map_err(|e| StorageError::Corrupt(format!("media job id: {e}")))?,
                    attempts: to_u64(row.try_get::<i64, _>("attempts")?)?.saturating_add(1),
                });
            }
        }
        Ok(claimed)
    }

    async fn finish_media_job(&self, item_id: Uuid) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM media_jobs WHERE item_id = $1")
            .bind(item_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_media_job(&self, item_id: Uuid, retry_at_ms: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE media_jobs SET lease_until_ms = $2 WHERE item_id = $1")
            .bind(item_id.to_string())
            .bind(retry_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn media_jobs_pending(&self) -> Result<u64, StorageError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_jobs")
            .fetch_one(&self.pool)
            .await?;
        to_u64(count)
    }

    async fn add_media_finding(
        &self,
        item_id: Uuid,
        finding: &str,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO media_findings (item_id, finding, detail, at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (item_id, finding) DO NOTHING",
        )
        .bind(item_id.to_string())
        .bind(finding)
        .bind(detail)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn media_findings(&self, item_id: Uuid) -> Result<Vec<MediaFinding>, StorageError> {
        let rows = sqlx::query(
            "SELECT finding, detail, at_ms FROM media_findings WHERE item_id = $1 ORDER BY at_ms, finding",
        )
        .bind(item_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MediaFinding {
                    finding: row.try_get("finding")?,
                    detail: row.try_get("detail")?,
                    at_ms: row.try_get("at_ms")?,
                })
            })
            .collect()
    }

    async fn thumbnail(&self, evidence_id: Uuid) -> Result<Option<[u8; 32]>, StorageError> {
        let sha: Option<Vec<u8>> = sqlx::query_scalar("SELECT sha256 FROM thumbnails WHERE item_id = $1")
            .bind(evidence_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        sha.map(|sha| digest32(sha, "thumbnail sha256")).transpose()
    }

    async fn blob_is_referenced(&self, sha256: &[u8; 32]) -> Result<bool, StorageError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM photos WHERE sha256 = $1) + (SELECT COUNT(*) FROM thumbnails WHERE sha256 = $1)",
        )
        .bind(&sha256[..])
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }

    async fn take_blob_lease(
        &self,
        sha256: &[u8; 32],
        holder: &str,
        until_ms: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO blob_leases (sha256, holder, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256, holder) DO UPDATE SET until_ms = excluded.until_ms",
        )
        .bind(&sha256[..])
        .bind(holder)
        .bind(until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_blob_lease(&self, sha256: &[u8; 32], holder: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM blob_leases WHERE sha256 = $1 AND holder = $2")
            .bind(&sha256[..])
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
        node_prefix: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StorageError> {
        let taken = sqlx::query(
            "INSERT INTO upload_leases (device_id, evidence_id, holder, until_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (device_id, evidence_id) DO UPDATE SET holder = excluded.holder, \
             until_ms = excluded.until_ms \
             WHERE upload_leases.until_ms < $5 OR substr(upload_leases.holder, 1, length($6)) = $6",
        )
        .bind(device_id)
        .bind(evidence_id.to_string())
        .bind(holder)
        .bind(until_ms)
        .bind(now_ms)
        .bind(node_prefix)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn renew_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
        until_ms: i64,
    ) -> Result<bool, StorageError> {
        let renewed = sqlx::query(
            "UPDATE upload_leases SET until_ms = $4 WHERE device_id = $1 AND evidence_id = $2 AND holder = $3",
        )
        .bind(device_id)
        .bind(evidence_id.to_string())
        .bind(holder)
        .bind(until_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    async fn release_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
    ) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM upload_leases WHERE device_id = $1 AND evidence_id = $2 AND holder = $3")
            .bind(device_id)
            .bind(evidence_id.to_string())
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn blob_is_wanted(&self, sha256: &[u8; 32], now_ms: i64) -> Result<bool, StorageError> {
        sqlx::query("DELETE FROM blob_leases WHERE sha256 = $1 AND until_ms <= $2")
            .bind(&sha256[..])
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        let leased: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blob_leases WHERE sha256 = $1")
            .bind(&sha256[..])
            .fetch_one(&self.pool)
            .await?;
        Ok(leased > 0 || self.blob_is_referenced(sha256).await?)
    }
}

#[async_trait]
impl AssignmentStore for Store {
    async fn assignment(&self, assignment_id: Uuid) -> Result<Option<StoredAssignment>, StorageError> {
        sqlx::query("SELECT snapshot, version FROM assignments WHERE assignment_id = $1")
            .bind(assignment_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(assignment_from_row)
            .transpose()
    }

    async fn assignment_event_by_id(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StorageError> {
        let row = sqlx::query(
            "SELECT seq, request_sha256, at_ms, assignment_id FROM assignment_events WHERE event_id = $1",
        )
        .bind(event_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let assignment_id: String = row.try_get("assignment_id")?;
        Ok(Some(RecordedEvent {
            seq: to_u64(row.try_get("seq")?)?,
            request_sha256: digest32(row.try_get("request_sha256")?, "request_sha256")?,
            at_ms: row.try_get("at_ms")?,
            assignment_id: uuid(&assignment_id)?,
        }))
    }

    async fn commit_assignment_events(
        &self,
        events: &[(Option<u64>, &NewAssignmentEvent)],
    ) -> Result<Vec<AssignmentCommit>, StorageError> {
        let mut tx = self.begin_write().await?;
        // Seq order must be commit order, so that a feed reading "after seq
        // N" never misses a lower seq committed later.
        Store::lock_event_order(&mut tx).await?;
        let mut outcomes = Vec::with_capacity(events.len());
        let mut leaves = Vec::new();
        for (expected_version, new) in events {
            let outcome = append_assignment_event(&mut tx, *expected_version, new).await?;
            if let AssignmentCommit::Committed { seq } = outcome {
                leaves.push((new.event_id.to_string(), event_leaf(new, seq).encode()));
            }
            outcomes.push(outcome);
        }
        append_leaves(&mut tx, &leaves).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn feed_events(
        &self,
        officer_id: Option<&str>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        let rows = match officer_id {
            Some(officer) => {
                sqlx::query(
                    "SELECT e.seq, e.event FROM event_audience a JOIN assignment_events e ON e.seq = a.seq \
                     WHERE a.officer_id = $1 AND a.seq > $2 ORDER BY a.seq LIMIT $3",
                )
                .bind(officer)
                .bind(to_i64(after_seq)?)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT seq, event FROM assignment_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(to_i64(after_seq)?)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(event_from_row).collect()
    }

    async fn feed_cursor(&self, officer_id: &str, device_id: &str) -> Result<u64, StorageError> {
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT cursor FROM feed_cursors WHERE officer_id = $1 AND device_id = $2")
                .bind(officer_id)
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?;
        to_u64(cursor.unwrap_or(0))
    }

    async fn store_feed_cursors(&self, cursors: &[FeedCursor], now_ms: i64) -> Result<(), StorageError> {
        self.upsert_feed_cursors(cursors, now_ms).await
    }

    async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        let mut query = QueryBuilder::<Db>::new("SELECT snapshot, version FROM assignments WHERE TRUE");
        let team_clause = |query: &mut QueryBuilder<'_, Db>, team: &(String, Vec<String>)| {
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
            query.push(" AND overdue");
        }
        if let Some(from) = filter.created_from_ms {
            query.push(" AND created_at_ms >= ").push_bind(from);
        }
        if let Some(before) = filter.created_before_ms {
            query.push(" AND created_at_ms < ").push_bind(before);
        }
        if let Some(before) = &filter.before_id {
            query.push(" AND assignment_id < ").push_bind(before.clone());
        }
        query
            .push(" ORDER BY assignment_id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        query
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(assignment_from_row)
            .collect()
    }

    async fn unaccepted_team_assignments(
        &self,
        created_before_ms: i64,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        use fieldlink_protocol::pb::AssignmentState;
        sqlx::query(
            "SELECT snapshot, version FROM assignments WHERE team_id IS NOT NULL AND state IN ($1, $2) \
             AND created_at_ms < $3 ORDER BY created_at_ms LIMIT 1000",
        )
        .bind(AssignmentState::Dispatched as i32)
        .bind(AssignmentState::Delivered as i32)
        .bind(created_before_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(assignment_from_row)
        .collect()
    }

    async fn overdue_assignments(&self, now_ms: i64) -> Result<Vec<StoredAssignment>, StorageError> {
        use fieldlink_protocol::pb::AssignmentState;
        sqlx::query(
            "SELECT snapshot, version FROM assignments WHERE NOT overdue AND due_at_ms > 0 AND due_at_ms < $1 \
             AND state NOT IN ($2, $3, $4, $5) ORDER BY due_at_ms LIMIT 1000",
        )
        .bind(now_ms)
        .bind(AssignmentState::Completed as i32)
        .bind(AssignmentState::Cancelled as i32)
        .bind(AssignmentState::Rejected as i32)
        .bind(AssignmentState::PendingReview as i32)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(assignment_from_row)
        .collect()
    }

    async fn latest_assignment_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM assignment_events")
                .fetch_one(&self.pool)
                .await?;
        to_u64(seq)
    }

    async fn assignment_history(
        &self,
        assignment_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        sqlx::query("SELECT seq, event FROM assignment_events WHERE assignment_id = $1 ORDER BY seq")
            .bind(assignment_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn events_with_audience(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(fieldlink_protocol::pb::AssignmentEvent, Vec<String>)>, StorageError> {
        let events =
            sqlx::query("SELECT seq, event FROM assignment_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(to_i64(after_seq)?)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>, StorageError>>()?;
        let Some(last) = events.last() else {
            return Ok(Vec::new());
        };
        // An event's audience commits with it: every event read above has
        // all of its rows here.
        let mut audiences: HashMap<i64, Vec<String>> = HashMap::new();
        let rows = sqlx::query(
            "SELECT seq, officer_id FROM event_audience WHERE seq > $1 AND seq <= $2 ORDER BY seq, officer_id",
        )
        .bind(to_i64(after_seq)?)
        .bind(to_i64(last.seq)?)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            audiences
                .entry(row.try_get("seq")?)
                .or_default()
                .push(row.try_get("officer_id")?);
        }
        events
            .into_iter()
            .map(|event| {
                let audience = audiences.remove(&to_i64(event.seq)?).unwrap_or_default();
                Ok((event, audience))
            })
            .collect()
    }
}

#[async_trait]
impl PeopleStore for Store {
    async fn upsert_directory(&self, teams: &[Team], officers: &[Officer]) -> Result<(), StorageError> {
        let mut tx = self.begin_write().await?;
        for team in teams {
            sqlx::query(
                "INSERT INTO teams (team_id, name) VALUES ($1, $2) \
                 ON CONFLICT (team_id) DO UPDATE SET name = excluded.name",
            )
            .bind(&team.id)
            .bind(&team.name)
            .execute(&mut *tx)
            .await?;
        }
        for officer in officers {
            sqlx::query(
                "INSERT INTO officers (officer_id, name, team_id, credential_number, role, password_hash, enrolled, \
                 credential_valid_from, credential_valid_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (officer_id) DO UPDATE SET \
                 name = excluded.name, team_id = excluded.team_id, credential_number = excluded.credential_number, \
                 role = excluded.role, password_hash = excluded.password_hash, enrolled = excluded.enrolled, \
                 credential_valid_from = excluded.credential_valid_from, \
                 credential_valid_until = excluded.credential_valid_until",
            )
            .bind(&officer.id)
            .bind(&officer.name)
            .bind(&officer.team_id)
            .bind(&officer.credential_number)
            .bind(officer.role.as_str())
            .bind(&officer.password_hash)
            .bind(officer.enrolled)
            .bind(&officer.credential_valid_from)
            .bind(&officer.credential_valid_until)
            .execute(&mut *tx)
            .await?;
            // The credential's history: a new row whenever it changes.
            let held = crate::storage::CredentialRecord {
                credential_number: officer.credential_number.clone().unwrap_or_default(),
                valid_from: officer.credential_valid_from.clone(),
                valid_until: officer.credential_valid_until.clone(),
            };
            let latest = sqlx::query(
                "SELECT credential_number, valid_from, valid_until FROM credential_history \
                 WHERE officer_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&officer.id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| credential_from_row(&row))
            .transpose()?;
            let changed = match &latest {
                Some(latest) => *latest != held,
                None => !held.credential_number.is_empty(),
            };
            if changed {
                sqlx::query(
                    "INSERT INTO credential_history (officer_id, credential_number, valid_from, valid_until, \
                     recorded_at_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&officer.id)
                .bind(&held.credential_number)
                .bind(&held.valid_from)
                .bind(&held.valid_until)
                .bind(crate::clock::system_clock_ms())
                .execute(&mut *tx)
                .await?;
            }
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
            "SELECT officer_id, name, team_id, credential_number, role, password_hash, enrolled, \
             credential_valid_from, credential_valid_until FROM officers ORDER BY officer_id",
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
                credential_valid_from: row.try_get("credential_valid_from")?,
                credential_valid_until: row.try_get("credential_valid_until")?,
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
            "INSERT INTO session_tokens (token_sha256, officer_id, device_id, created_at_ms, expires_at_ms, \
             revoked_at_ms) VALUES ($1, $2, $3, $4, $5, NULL)",
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
            "SELECT officer_id, device_id, expires_at_ms, revoked_at_ms FROM session_tokens WHERE token_sha256 = $1",
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
            "UPDATE session_tokens SET revoked_at_ms = $1 WHERE officer_id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(officer_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn credentials_recorded_by(
        &self,
        officer_ids: &[String],
        at_ms: i64,
    ) -> Result<Vec<(String, crate::storage::CredentialRecord)>, StorageError> {
        let mut found = Vec::with_capacity(officer_ids.len());
        for officer in officer_ids {
            let row = sqlx::query(
                "SELECT credential_number, valid_from, valid_until FROM credential_history \
                 WHERE officer_id = $1 AND recorded_at_ms <= $2 ORDER BY seq DESC LIMIT 1",
            )
            .bind(officer)
            .bind(at_ms)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                found.push((officer.clone(), credential_from_row(&row)?));
            }
        }
        Ok(found)
    }

    async fn tokens_revoked_since(&self, since_ms: i64) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(sqlx::query_scalar(
            "SELECT token_sha256 FROM session_tokens WHERE revoked_at_ms >= $1 ORDER BY token_sha256",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn disable_officers_not_in(&self, keep: &[String]) -> Result<Vec<String>, StorageError> {
        let mut tx = self.begin_write().await?;
        let enrolled: Vec<String> =
            sqlx::query_scalar("SELECT officer_id FROM officers WHERE enrolled ORDER BY officer_id")
                .fetch_all(&mut *tx)
                .await?;
        let leaving: Vec<String> = enrolled.into_iter().filter(|id| !keep.contains(id)).collect();
        for officer in &leaving {
            sqlx::query("UPDATE officers SET enrolled = FALSE WHERE officer_id = $1")
                .bind(officer)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(leaving)
    }

    async fn record_presence(
        &self,
        node_id: &str,
        officers: &[(String, u32, i64)],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let mut tx = self.begin_write().await?;
        for (officer, sessions, last_seen_ms) in officers {
            sqlx::query(
                "INSERT INTO presence (node_id, officer_id, sessions, last_seen_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node_id, officer_id) DO UPDATE SET \
                 sessions = excluded.sessions, last_seen_ms = excluded.last_seen_ms, \
                 updated_at_ms = excluded.updated_at_ms",
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
             CAST(SUM(CASE WHEN updated_at_ms >= $1 THEN sessions ELSE 0 END) AS BIGINT) AS sessions, \
             MAX(last_seen_ms) AS last_seen_ms FROM presence WHERE node_id <> $2 GROUP BY officer_id ORDER BY officer_id",
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
        sqlx::query(
            "INSERT INTO device_certificates (serial_hex, device_id, first_seen_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (serial_hex) DO NOTHING",
        )
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
        let mut tx = self.begin_write().await?;
        for serial in serials_hex {
            let device: Option<String> =
                sqlx::query_scalar("SELECT device_id FROM device_certificates WHERE serial_hex = $1")
                    .bind(serial)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(device) = device else { continue };
            let inserted = sqlx::query(
                "INSERT INTO device_revocations (serial_hex, device_id, revoked_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (serial_hex) DO NOTHING",
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
            sqlx::query_scalar("SELECT MIN(revoked_at_ms) FROM device_revocations WHERE device_id = $1")
                .bind(device_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn devices(&self) -> Result<Vec<crate::storage::DeviceRecord>, StorageError> {
        sqlx::query(
            "SELECT c.device_id, c.serial_hex, c.first_seen_ms, r.revoked_at_ms FROM device_certificates c \
             LEFT JOIN device_revocations r ON r.serial_hex = c.serial_hex \
             ORDER BY c.device_id, c.first_seen_ms, c.serial_hex",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(crate::storage::DeviceRecord {
                device_id: row.try_get("device_id")?,
                serial_hex: row.try_get("serial_hex")?,
                first_seen_ms: row.try_get("first_seen_ms")?,
                revoked_at_ms: row.try_get("revoked_at_ms")?,
            })
        })
        .collect()
    }
}

#[async_trait]
impl EpochStore for Store {
    async fn epochs(&self) -> Result<Vec<DatabaseEpoch>, StorageError> {
        let rows = sqlx::query(
            "SELECT number, epoch, reason, started_at_ms, item_seq, event_seq, log_size \
             FROM database_epochs ORDER BY number",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let epoch: String = row.try_get("epoch")?;
                Ok(DatabaseEpoch {
                    number: to_u64(row.try_get("number")?)?,
                    epoch: uuid(&epoch)?,
                    reason: row.try_get("reason")?,
                    started_at_ms: row.try_get("started_at_ms")?,
                    began_at: HighWater {
                        item_seq: to_u64(row.try_get("item_seq")?)?,
                        event_seq: to_u64(row.try_get("event_seq")?)?,
                        log_size: to_u64(row.try_get("log_size")?)?,
                    },
                })
            })
            .collect()
    }

    async fn high_water(&self) -> Result<HighWater, StorageError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE((SELECT MAX(seq) FROM items), 0) AS BIGINT) AS item_seq, \
                    CAST(COALESCE((SELECT MAX(seq) FROM assignment_events), 0) AS BIGINT) AS event_seq, \
                    CAST(COALESCE((SELECT MAX(leaf_index) + 1 FROM log_leaves), 0) AS BIGINT) AS log_size",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(HighWater {
            item_seq: to_u64(row.try_get("item_seq")?)?,
            event_seq: to_u64(row.try_get("event_seq")?)?,
            log_size: to_u64(row.try_get("log_size")?)?,
        })
    }

    async fn start_epoch(
        &self,
        after: Option<u64>,
        epoch: Uuid,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<DatabaseEpoch>, StorageError> {
        let began_at = self.high_water().await?;
        let number = after.unwrap_or(0) + 1;
        // The number is the key: of two nodes starting the same epoch, one
        // inserts and the other finds it taken.
        let inserted = sqlx::query(
            "INSERT INTO database_epochs (number, epoch, reason, started_at_ms, item_seq, event_seq, log_size) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (number) DO NOTHING",
        )
        .bind(to_i64(number)?)
        .bind(epoch.to_string())
        .bind(reason)
        .bind(now_ms)
        .bind(to_i64(began_at.item_seq)?)
        .bind(to_i64(began_at.event_seq)?)
        .bind(to_i64(began_at.log_size)?)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((inserted == 1).then(|| DatabaseEpoch {
            number,
            epoch,
            reason: reason.to_owned(),
            started_at_ms: now_ms,
            began_at,
        }))
    }
}

#[async_trait]
impl Storage for Store {
    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl LogStore for Store {
    async fn log_size(&self) -> Result<u64, StorageError> {
        let size: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(leaf_index) + 1, 0) AS BIGINT) FROM log_leaves")
                .fetch_one(&self.pool)
                .await?;
        to_u64(size)
    }

    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StorageError> {
        let mut connection = self.pool.acquire().await?;
        read_stored_hashes(&mut connection, indexes).await
    }

    async fn log_leaf(&self, item_id: Uuid) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        sqlx::query("SELECT leaf_index, data FROM log_leaves WHERE item_id = $1")
            .bind(item_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Ok((to_u64(row.try_get("leaf_index")?)?, row.try_get("data")?)))
            .transpose()
    }

    async fn log_leaves(&self, from_index: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        sqlx::query(
            "SELECT leaf_index, data FROM log_leaves WHERE leaf_index >= $1 ORDER BY leaf_index LIMIT $2",
        )
        .bind(to_i64(from_index)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((to_u64(row.try_get("leaf_index")?)?, row.try_get("data")?)))
        .collect()
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        sqlx::query(
            "SELECT tree_size, root, note, signed_at_ms FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(checkpoint_from_row)
        .transpose()
    }

    async fn checkpoint_at(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StorageError> {
        sqlx::query("SELECT tree_size, root, note, signed_at_ms FROM log_checkpoints WHERE tree_size = $1")
            .bind(to_i64(tree_size)?)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(checkpoint_from_row)
            .transpose()
    }

    async fn checkpoints(&self, from_size: u64, limit: u32) -> Result<Vec<StoredCheckpoint>, StorageError> {
        sqlx::query(
            "SELECT tree_size, root, note, signed_at_ms FROM log_checkpoints WHERE tree_size >= $1 \
             ORDER BY tree_size LIMIT $2",
        )
        .bind(to_i64(from_size)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(checkpoint_from_row)
        .collect()
    }

    async fn unlogged_ids(&self, limit: u32) -> Result<Vec<Uuid>, StorageError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM (SELECT i.item_id AS id, i.seq AS seq, 0 AS source FROM items i \
             LEFT JOIN log_leaves l ON l.item_id = i.item_id WHERE l.item_id IS NULL \
             UNION ALL SELECT e.event_id AS id, e.seq AS seq, 1 AS source FROM assignment_events e \
             LEFT JOIN log_leaves l ON l.item_id = e.event_id WHERE l.item_id IS NULL) AS unlogged \
             ORDER BY source, seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|id| uuid(id)).collect()
    }

    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO log_checkpoints (tree_size, root, note, signed_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(to_i64(checkpoint.tree_size)?)
        .bind(&checkpoint.root[..])
        .bind(&checkpoint.note)
        .bind(checkpoint.signed_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn append_unlogged(&self, limit: u32) -> Result<u64, StorageError> {
        // Cheap first (this runs at every start): commits write their
        // leaves in their own transaction and the backfill goes in seq
        // order, so when the newest item and the newest event have leaves,
        // nothing is behind. (Rows added behind the server's back are the
        // audit's to name, not the backfill's to log.)
        let behind: i64 = sqlx::query_scalar(
            "SELECT CAST((SELECT COUNT(*) FROM (SELECT item_id FROM items ORDER BY seq DESC LIMIT 1) AS i \
             WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.item_id = i.item_id)) \
             + (SELECT COUNT(*) FROM (SELECT event_id FROM assignment_events ORDER BY seq DESC LIMIT 1) AS e \
             WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.item_id = e.event_id)) AS BIGINT)",
        )
        .fetch_one(&self.pool)
        .await?;
        if behind == 0 {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        Store::lock_log(&mut tx).await?;
        let mut leaves = Vec::new();
        let items = sqlx::query(
            &format!(
                "SELECT i.seq, i.item_id, i.received_at_ms, i.sha256, i.kind, i.device_id, i.officer_id, i.body, \
                 p.sm3 AS photo_sm3, {CAPTURE_COLUMNS} FROM items i LEFT JOIN photos p ON p.item_id = i.item_id \
                 {CAPTURE_JOINS} LEFT JOIN log_leaves l ON l.item_id = i.item_id \
                 WHERE l.item_id IS NULL ORDER BY i.seq LIMIT $1"
            ),
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for row in &items {
            let receipt = receipt_from_row(row)?;
            let kind: String = row.try_get("kind")?;
            let body: Vec<u8> = row.try_get("body")?;
            let photo_sm3: Option<Vec<u8>> = row.try_get("photo_sm3")?;
            let leaf = crate::storage::log_append::stored_item_leaf(
                &kind,
                &receipt,
                row.try_get("device_id")?,
                row.try_get("officer_id")?,
                &body,
                photo_sm3.map(|sm3| digest32(sm3, "sm3")).transpose()?,
                capture_from_row(row)?.as_ref(),
            )?;
            leaves.push((receipt.item_id.to_string(), leaf.encode()));
        }
        let room = i64::from(limit) - leaves.len() as i64;
        if room > 0 {
            let events = sqlx::query(
                "SELECT e.seq, e.event_id, e.event FROM assignment_events e \
                 LEFT JOIN log_leaves l ON l.item_id = e.event_id WHERE l.item_id IS NULL ORDER BY e.seq LIMIT $1",
            )
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
            for row in &events {
                let bytes: Vec<u8> = row.try_get("event")?;
                let event_id: String = row.try_get("event_id")?;
                let leaf = crate::storage::log_append::stored_event_leaf(
                    uuid(&event_id)?,
                    to_u64(row.try_get("seq")?)?,
                    &bytes,
                )?;
                leaves.push((event_id, leaf.encode()));
            }
        }
        let appended = append_leaves(&mut tx, &leaves).await?.len() as u64;
        tx.commit().await?;
        Ok(appended)
    }

    async fn record_custody(
        &self,
        event: &fieldlink_protocol::pb::CustodyEvent,
    ) -> Result<StoredCustody, StorageError> {
        use prost::Message;
        let bytes = event.encode_to_vec();
        let mut tx = self.begin_write().await?;
        // The log lock orders custody seqs too (one appender at a time).
        Store::lock_log(&mut tx).await?;
        let seq: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM custody_events")
                .fetch_one(&mut *tx)
                .await?;
        let leaf = crate::storage::log_append::custody_leaf(to_u64(seq)?, &bytes)?;
        sqlx::query(
            "INSERT INTO custody_events (event_id, seq, at_ms, action, record) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&event.event_id)
        .bind(seq)
        .bind(event.at_ms)
        .bind(&event.action)
        .bind(&bytes)
        .execute(&mut *tx)
        .await?;
        let mut named: Vec<&String> = event.item_ids.iter().collect();
        named.sort();
        named.dedup();
        for chunk in named.chunks(IDS_PER_LOOKUP_MAX) {
            let mut insert = QueryBuilder::<Db>::new("INSERT INTO custody_items (item_id, event_id) ");
            insert.push_values(chunk, |mut row, item_id| {
                row.push_bind(item_id.as_str()).push_bind(event.event_id.as_str());
            });
            insert.build().execute(&mut *tx).await?;
        }
        let indexes = append_leaves(&mut tx, &[(event.event_id.clone(), leaf.encode())]).await?;
        tx.commit().await?;
        Ok(StoredCustody {
            seq: to_u64(seq)?,
            leaf_index: indexes.first().copied().unwrap_or_default(),
            bytes,
        })
    }

    async fn custody_event(&self, event_id: Uuid) -> Result<Option<StoredCustody>, StorageError> {
        let row = sqlx::query(
            "SELECT c.seq, c.record, l.leaf_index FROM custody_events c \
             JOIN log_leaves l ON l.item_id = c.event_id WHERE c.event_id = $1",
        )
        .bind(event_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(custody_from_row).transpose()
    }

    async fn store_cosignature(&self, tree_size: u64, witness: &str, note: &str) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO log_cosignatures (tree_size, witness, note) VALUES ($1, $2, $3) \
             ON CONFLICT (tree_size, witness) DO NOTHING",
        )
        .bind(to_i64(tree_size)?)
        .bind(witness)
        .bind(note)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cosignatures(&self, tree_size: u64) -> Result<Vec<String>, StorageError> {
        Ok(
            sqlx::query_scalar("SELECT note FROM log_cosignatures WHERE tree_size = $1 ORDER BY witness")
                .bind(to_i64(tree_size)?)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn latest_cosigned_size(&self) -> Result<Option<u64>, StorageError> {
        let size: Option<i64> = sqlx::query_scalar("SELECT MAX(tree_size) FROM log_cosignatures")
            .fetch_one(&self.pool)
            .await?;
        size.map(to_u64).transpose()
    }

    async fn item_custody(
        &self,
        item_id: Uuid,
        action: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredCustody>, StorageError> {
        let rows = sqlx::query(
            "SELECT c.seq, c.record, l.leaf_index FROM custody_items i \
             JOIN custody_events c ON c.event_id = i.event_id \
             JOIN log_leaves l ON l.item_id = c.event_id \
             WHERE i.item_id = $1 AND (CAST($2 AS TEXT) IS NULL OR c.action = $2) \
             ORDER BY c.seq LIMIT $3",
        )
        .bind(item_id.to_string())
        .bind(action)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(custody_from_row).collect()
    }
}

/// The columns `capture_from_row` reads, from `device_captures c` and
/// `device_certificate_ders d`.
const CAPTURE_COLUMNS: &str = "c.scheme AS capture_scheme, c.statement AS capture_statement, \
     c.signature AS capture_signature, d.der AS capture_certificate";

/// Joins for `CAPTURE_COLUMNS`, after `items i`.
const CAPTURE_JOINS: &str = "LEFT JOIN device_captures c ON c.item_id = i.item_id \
     LEFT JOIN device_certificate_ders d ON d.sha256 = c.certificate_sha256";

/// Stores the capture signatures of `items` (a batch): each certificate
/// once, then one row per signed item.
async fn insert_captures(tx: &mut Transaction<'_, Db>, items: &[&NewItem]) -> Result<(), StorageError> {
    let captures = crate::storage::capture_rows::CaptureRows::of(items);
    if captures.is_empty() {
        return Ok(());
    }
    Store::insert_device_captures(tx, &captures.certificates(), &captures.rows()).await
}

/// An item's capture signature from a row that LEFT JOINed `device_captures`.
fn capture_from_row(row: &DbRow) -> Result<Option<DeviceCapture>, StorageError> {
    let Some(scheme) = row.try_get::<Option<i32>, _>("capture_scheme")? else {
        return Ok(None);
    };
    Ok(Some(DeviceCapture {
        scheme: u16::try_from(scheme)
            .map_err(|_| StorageError::Corrupt(format!("capture signature scheme {scheme}")))?,
        statement: row.try_get("capture_statement")?,
        signature: row.try_get("capture_signature")?,
        certificate: row.try_get("capture_certificate")?,
    }))
}

fn credential_from_row(row: &DbRow) -> Result<crate::storage::CredentialRecord, StorageError> {
    Ok(crate::storage::CredentialRecord {
        credential_number: row.try_get("credential_number")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
    })
}

fn custody_from_row(row: &DbRow) -> Result<StoredCustody, StorageError> {
    Ok(StoredCustody {
        seq: to_u64(row.try_get("seq")?)?,
        leaf_index: to_u64(row.try_get("leaf_index")?)?,
        bytes: row.try_get("record")?,
    })
}

/// The stored hashes at these tlog stored-hash indexes, in order: a leaf's
/// own hash (level 0) from its data in `log_leaves`, every larger subtree's
/// from `log_hashes`. One that is not stored is an error.
async fn read_stored_hashes(
    connection: &mut <Db as sqlx::Database>::Connection,
    indexes: &[u64],
) -> Result<Vec<[u8; 32]>, StorageError> {
    let mut found: HashMap<u64, [u8; 32]> = HashMap::with_capacity(indexes.len());
    let (leaves, subtrees): (Vec<u64>, Vec<u64>) = indexes
        .iter()
        .partition(|index| tlog_tiles::split_stored_hash_index(**index).0 == 0);
    for chunk in subtrees.chunks(IDS_PER_LOOKUP_MAX) {
        let mut lookup =
            QueryBuilder::<Db>::new("SELECT stored_index, hash FROM log_hashes WHERE stored_index IN (");
        let mut separated = lookup.separated(", ");
        for index in chunk {
            separated.push_bind(to_i64(*index)?);
        }
        lookup.push(")");
        for row in lookup.build().fetch_all(&mut *connection).await? {
            found.insert(
                to_u64(row.try_get("stored_index")?)?,
                digest32(row.try_get("hash")?, "log hash")?,
            );
        }
    }
    for chunk in leaves.chunks(IDS_PER_LOOKUP_MAX) {
        let mut lookup =
            QueryBuilder::<Db>::new("SELECT leaf_index, data FROM log_leaves WHERE leaf_index IN (");
        let mut separated = lookup.separated(", ");
        for index in chunk {
            separated.push_bind(to_i64(tlog_tiles::split_stored_hash_index(*index).1)?);
        }
        lookup.push(")");
        for row in lookup.build().fetch_all(&mut *connection).await? {
            let leaf_index = to_u64(row.try_get("leaf_index")?)?;
            let data: Vec<u8> = row.try_get("data")?;
            found.insert(
                tlog_tiles::stored_hash_index(0, leaf_index),
                fieldlink_protocol::log::leaf_hash(&data),
            );
        }
    }
    indexes
        .iter()
        .map(|index| {
            found
                .get(index)
                .copied()
                .ok_or_else(|| StorageError::Corrupt(format!("log hash {index} is missing")))
        })
        .collect()
}

/// Appends leaves (item id, leaf data) to the log inside `tx`, after every
/// leaf committed before; returns their indexes. Writes each leaf and the
/// hashes of the subtrees it completes (tlog stored hashes): reading only
/// the O(log n) hashes of the complete subtrees left of the current size.
async fn append_leaves(
    tx: &mut Transaction<'_, Db>,
    leaves: &[(String, Vec<u8>)],
) -> Result<Vec<u64>, StorageError> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    // One appender at a time (PostgreSQL: across nodes), so the order of
    // the leaves is the order of the commits.
    Store::lock_log(tx).await?;
    append_leaves_locked(tx, leaves).await
}

/// `append_leaves` in a transaction that holds the log's lock already.
async fn append_leaves_locked(
    tx: &mut Transaction<'_, Db>,
    leaves: &[(String, Vec<u8>)],
) -> Result<Vec<u64>, StorageError> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    let size: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(leaf_index) + 1, 0) AS BIGINT) FROM log_leaves")
            .fetch_one(&mut **tx)
            .await?;
    let mut append = LogAppend::new(to_u64(size)?);
    let frontier = append.frontier_indexes();
    for (index, hash) in frontier
        .iter()
        .zip(read_stored_hashes(&mut *tx, &frontier).await?)
    {
        append.know(*index, hash);
    }
    let mut indexes = Vec::with_capacity(leaves.len());
    for (_, data) in leaves {
        indexes.push(append.push(data)?);
    }
    let rows: Vec<(i64, &str, &[u8])> = indexes
        .iter()
        .zip(leaves)
        .map(|(index, (item_id, data))| Ok((to_i64(*index)?, item_id.as_str(), data.as_slice())))
        .collect::<Result<_, StorageError>>()?;
    let hashes = append
        .new_hashes()
        .iter()
        .map(|(index, hash)| Ok((to_i64(*index)?, hash.as_slice())))
        .collect::<Result<Vec<_>, StorageError>>()?;
    Store::insert_log_rows(tx, &rows, &hashes).await?;
    Ok(indexes)
}

async fn insert_officers(
    tx: &mut Transaction<'_, Db>,
    item_id: &str,
    officer_ids: &[String],
) -> Result<(), StorageError> {
    for officer_id in officer_ids {
        sqlx::query("INSERT INTO item_officers (item_id, officer_id) VALUES ($1, $2)")
            .bind(item_id)
            .bind(officer_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The index rows of one newly stored item other than an inspection record
/// (those are batched: [`InspectionRows`]).
async fn insert_index(
    tx: &mut Transaction<'_, Db>,
    item_id: &str,
    index: &ItemIndex,
    now_ms: i64,
) -> Result<(), StorageError> {
    match index {
        ItemIndex::Inspection { .. } => {
            return Err(StorageError::Corrupt(
                "inspection records are indexed in batches".into(),
            ))
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
            sqlx::query(
                "INSERT INTO services (item_id, case_id, document_type, document_number, document_sha256, channel, \
                 sent_at_ms, delivered_at_ms, confirmed_at_ms) \
                 SELECT $1, COALESCE(case_id, ''), $2, $3, $4, $5, $6, $7, $8 FROM items WHERE item_id = $1",
            )
            .bind(item_id)
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
            sqlx::query(
                "INSERT INTO service_events (item_id, service_id, kind, at_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(item_id)
            .bind(service_id)
            .bind(kind)
            .bind(at_ms)
            .execute(&mut **tx)
            .await?;
        }
        ItemIndex::MonitorPacket { mn, cn, data_time_ms } => {
            sqlx::query(
                "INSERT INTO monitor_packets (item_id, mn, cn, data_time_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(item_id)
            .bind(mn)
            .bind(cn)
            .bind(data_time_ms)
            .execute(&mut **tx)
            .await?;
        }
        ItemIndex::CameraAlert {
            source,
            camera_id,
            event_id,
        } => {
            sqlx::query(
                "INSERT INTO camera_alerts (item_id, source, camera_id, event_id) VALUES ($1, $2, $3, $4)",
            )
            .bind(item_id)
            .bind(source)
            .bind(camera_id)
            .bind(event_id)
            .execute(&mut **tx)
            .await?;
        }
        ItemIndex::GridReport {
            category,
            observed_at_ms,
            latitude,
            longitude,
        } => {
            sqlx::query(
                "INSERT INTO grid_reports (item_id, category, observed_at_ms, latitude, longitude) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(item_id)
            .bind(category)
            .bind(observed_at_ms)
            .bind(latitude)
            .bind(longitude)
            .execute(&mut **tx)
            .await?;
        }
        ItemIndex::Interview {
            started_at_ms,
            ended_at_ms,
            interviewer_ids,
        } => {
            sqlx::query(
                "INSERT INTO interviews (item_id, case_id, started_at_ms, ended_at_ms) \
                 SELECT $1, COALESCE(case_id, ''), $2, $3 FROM items WHERE item_id = $1",
            )
            .bind(item_id)
            .bind(started_at_ms)
            .bind(ended_at_ms)
            .execute(&mut **tx)
            .await?;
            insert_officers(tx, item_id, interviewer_ids).await?;
        }
        ItemIndex::Photo(photo) => {
            sqlx::query(
                "INSERT INTO photos (item_id, record_id, size_bytes, sha256, sm3, content_type, width, height, \
                 captured_at_ms, latitude, longitude, exif_time_ms, exif_latitude, exif_longitude, flags, \
                 duration_ms, codecs, container_time_ms) \
                 SELECT $1, $2, $3, sha256, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 \
                 FROM items WHERE item_id = $1",
            )
            .bind(item_id)
            .bind(&photo.record_id)
            .bind(to_i64(photo.size_bytes)?)
            .bind(&photo.sm3[..])
            .bind(&photo.content_type)
            .bind(i64::from(photo.width))
            .bind(i64::from(photo.height))
            .bind(photo.captured_at_ms)
            .bind(photo.position.map(|p| p.0))
            .bind(photo.position.map(|p| p.1))
            .bind(photo.exif_time_ms)
            .bind(photo.exif_position.map(|p| p.0))
            .bind(photo.exif_position.map(|p| p.1))
            .bind(flags_text(&photo.flags))
            .bind(photo.duration_ms.map(to_i64).transpose()?)
            .bind(&photo.codecs)
            .bind(photo.container_time_ms)
            .execute(&mut **tx)
            .await?;
            // A picture's thumbnail is made after the receipt, from this
            // queue (HEIC, video, audio and documents have none).
            let decodable = fieldlink_protocol::photo::ContentType::from_mime(&photo.content_type)
                .is_some_and(crate::evidence::image_check::has_decoder);
            if decodable {
                sqlx::query("INSERT INTO media_jobs (item_id, queued_at_ms) VALUES ($1, $2)")
                    .bind(item_id)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
            }
            // The upload that filed these bytes is over: its partial upload
            // row goes, and the lease it took on the blob (held under the
            // photo's id: `services::photo_upload`), in this transaction
            // rather than in two more writes before the receipt.
            for end_of_upload in [
                "DELETE FROM partial_uploads WHERE evidence_id = $1 \
                 AND device_id = (SELECT device_id FROM items WHERE item_id = $1)",
                "DELETE FROM blob_leases WHERE holder = $1 \
                 AND sha256 = (SELECT sha256 FROM items WHERE item_id = $1)",
            ] {
                sqlx::query(end_of_upload)
                    .bind(item_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The service events of `items` whose step (a service's delivery or
/// confirmation) is stored already, or claimed by an earlier item of the
/// batch, with when the winning report says it happened. A resend of a
/// stored event is not among them (it is a replay).
async fn service_steps_taken(
    tx: &mut Transaction<'_, Db>,
    items: &[NewItem],
) -> Result<HashMap<Uuid, i64>, StorageError> {
    let mut taken = HashMap::new();
    let steps: Vec<(&NewItem, &String, i32, i64)> = items
        .iter()
        .filter_map(|item| match &item.index {
            ItemIndex::ServiceEvent {
                service_id,
                kind,
                at_ms,
            } => Some((item, service_id, *kind, *at_ms)),
            _ => None,
        })
        .collect();
    if steps.is_empty() {
        return Ok(taken);
    }
    // Item commits take turns (the lock at the start of `commit_items`): what
    // is read here is every step stored so far, on any node.
    let mut claimed: HashMap<(String, i32), (Uuid, i64)> = HashMap::new();
    for (item, service_id, kind, at_ms) in steps {
        let id = item.item_id.to_string();
        let stored: Option<i64> = sqlx::query_scalar("SELECT seq FROM items WHERE item_id = $1")
            .bind(&id)
            .fetch_optional(&mut **tx)
            .await?;
        if stored.is_some() {
            continue;
        }
        let winner: Option<i64> =
            sqlx::query_scalar("SELECT at_ms FROM service_events WHERE service_id = $1 AND kind = $2")
                .bind(service_id)
                .bind(kind)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(winner_at_ms) = winner {
            taken.insert(item.item_id, winner_at_ms);
            continue;
        }
        match claimed.get(&(service_id.clone(), kind)) {
            Some(&(first, first_at_ms)) if first != item.item_id => {
                taken.insert(item.item_id, first_at_ms);
            }
            Some(_) => {}
            None => {
                claimed.insert((service_id.clone(), kind), (item.item_id, at_ms));
            }
        }
    }
    Ok(taken)
}

/// Checks and appends one assignment event inside `tx`; a conflict or a
/// taken event id returns before anything is written.
async fn append_assignment_event(
    tx: &mut Transaction<'_, Db>,
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
    let taken: Option<i64> = sqlx::query_scalar("SELECT seq FROM assignment_events WHERE event_id = $1")
        .bind(new.event_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    if taken.is_some() {
        return Ok(AssignmentCommit::DuplicateEventId);
    }
    let written =
        match expected_version {
            None => sqlx::query(
                "INSERT INTO assignments (assignment_id, snapshot, state, officer_id, team_id, accepted_by, \
                 overdue, due_at_ms, created_at_ms, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) \
                 ON CONFLICT (assignment_id) DO NOTHING",
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
            .await?,
            Some(version) => {
                sqlx::query(
                    "UPDATE assignments SET snapshot = $1, state = $2, officer_id = $3, team_id = $4, \
                 accepted_by = $5, overdue = $6, due_at_ms = $7 WHERE assignment_id = $8 AND version = $9",
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
                .await?
            }
        };
    if written.rows_affected() == 0 {
        return Ok(AssignmentCommit::VersionConflict);
    }
    let mut event = new.event.clone();
    event.seq = 0;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO assignment_events (event_id, request_sha256, assignment_id, kind, event, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind(new.event_id.to_string())
    .bind(&new.request_sha256[..])
    .bind(&assignment_id)
    .bind(event.kind)
    .bind(event.encode_to_vec())
    .bind(event.at_ms)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("UPDATE assignments SET version = $1 WHERE assignment_id = $2")
        .bind(seq)
        .bind(&assignment_id)
        .execute(&mut **tx)
        .await?;
    Store::insert_audience(tx, seq, &new.audience).await?;
    Store::announce_event(tx, seq).await?;
    Ok(AssignmentCommit::Committed { seq: to_u64(seq)? })
}
