//! The PostgreSQL backend, for several server nodes sharing one database.
//!
//! The queries live once in `queries.rs`, shared with SQLite; this file keeps
//! what PostgreSQL does its own way: opening, the durability check, the
//! batched inserts as UNNEST over arrays, the advisory lock and NOTIFY.
//! Same behaviour as the SQLite backend, proven by the shared storage suite
//! (`storage::suite`) and the end-to-end tests run against both. Differences
//! that matter:
//! - Durability: the server refuses to start unless `fsync` is on and
//!   `synchronous_commit` is not `off` (a commit returns only once its WAL is
//!   flushed; with synchronous standbys, once they have it too).
//! - Idempotency across nodes: `INSERT … ON CONFLICT DO NOTHING` waits for a
//!   concurrent insert of the same id on another node and then reads the
//!   winner, so a resend to any node gets the original receipt.
//! - Items commit one batch at a time across nodes (the log's advisory
//!   lock, taken first): item seqs are in commit order, as the protocol
//!   says, and the log lists items in seq order. (Before, only the leaf
//!   append took it, and a lower seq could commit after a higher one.)
//! - Assignment events commit one at a time (a transaction-scoped advisory
//!   lock): seq order is then commit order, so a feed reading "after seq N"
//!   can never miss a lower seq that commits later. Each commit sends
//!   `NOTIFY fieldlink_assignment_events` with its seq; every node's relay
//!   ([`crate::relay`]) listens and pushes the event to its own terminals.
//! - Append-only evidence: triggers refuse UPDATE, DELETE and TRUNCATE on
//!   every evidence table, for every role.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::capture_rows::CaptureRow;
use super::convert::to_i64;
use super::inspection_rows::InspectionRows;
use super::migrations::EmbeddedMigrations;
use super::{FeedCursor, NewItem, StorageError};

/// The migrations, embedded at build time. See migrations/NOTES.md.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "presence",
        include_str!("../../migrations/postgres/0002_presence.sql"),
    ),
    (3, "log", include_str!("../../migrations/postgres/0003_log.sql")),
    (
        4,
        "custody",
        include_str!("../../migrations/postgres/0004_custody.sql"),
    ),
    (
        5,
        "device captures and cosignatures",
        include_str!("../../migrations/postgres/0005_device_captures.sql"),
    ),
    (
        6,
        "incidents",
        include_str!("../../migrations/postgres/0006_incidents.sql"),
    ),
    (
        7,
        "camera alerts and grid reports",
        include_str!("../../migrations/postgres/0007_intake_reports.sql"),
    ),
    (
        8,
        "incident splits and monitor silence",
        include_str!("../../migrations/postgres/0008_incident_splits.sql"),
    ),
    (
        9,
        "media jobs and findings",
        include_str!("../../migrations/postgres/0009_media_jobs.sql"),
    ),
    (
        10,
        "blob and upload leases",
        include_str!("../../migrations/postgres/0010_blob_leases.sql"),
    ),
    (
        11,
        "media facts",
        include_str!("../../migrations/postgres/0011_media_facts.sql"),
    ),
    (
        12,
        "database epochs",
        include_str!("../../migrations/postgres/0012_database_epochs.sql"),
    ),
    (
        13,
        "statistics",
        include_str!("../../migrations/postgres/0013_statistics.sql"),
    ),
    (
        14,
        "credentials",
        include_str!("../../migrations/postgres/0014_credentials.sql"),
    ),
    (
        15,
        "position track",
        include_str!("../../migrations/postgres/0015_position_track.sql"),
    ),
];

/// What the runtime role may do when another role owns the schema.
const RUNTIME_GRANTS: &str = include_str!("../../data/postgres-runtime-grants.sql");

/// The channel assignment-event commits are announced on.
pub const ASSIGNMENT_CHANNEL: &str = "fieldlink_assignment_events";

/// Advisory lock key serializing incident reports and changes ("fl-incd"):
/// a report must see every open incident to join one instead of opening a
/// second.
const INCIDENT_LOCK: i64 = 0x0066_6c2d_696e_6364;

/// Advisory lock key serializing assignment-event commits ("fl-asgn").
const ASSIGNMENT_LOCK: i64 = 0x0066_6c2d_6173_676e;
/// Advisory lock key serializing appends to the transparency log ("fl-tlog").
const LOG_LOCK: i64 = 0x0066_6c2d_746c_6f67;

// The queries both backends share (`queries.rs`), compiled for PostgreSQL.
mod queries {
    type Store = super::PgStorage;
    type Db = sqlx::Postgres;
    include!("queries.rs");
    include!("incident_queries.rs");
    include!("stats_queries.rs");
}

/// The PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PgStorage {
    pool: PgPool,
    url: String,
    /// Always true (the field the shared queries read; see SQLite's).
    log_writes: bool,
}

impl PgStorage {
    /// Connects to `url` (`postgres://user@host:port/database`), applies the
    /// migrations (several nodes starting at once take turns: sqlx holds an
    /// advisory lock while migrating) and checks the durability settings.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let storage = Self::connect(url, max_connections).await?;
        storage.check_durability().await?;
        EmbeddedMigrations(MIGRATIONS).apply(&storage.pool).await?;
        Ok(storage)
    }

    /// Like [`PgStorage::open`], with least privilege: the migrations run as
    /// `owner_url`'s role (which owns the schema), which then grants `url`'s
    /// role only what `data/postgres-runtime-grants.sql` lists (no UPDATE,
    /// DELETE or TRUNCATE on evidence and log tables, no DDL); the server
    /// works as `url`'s role.
    pub async fn open_with_owner(
        url: &str,
        owner_url: &str,
        max_connections: u32,
    ) -> Result<Self, StorageError> {
        let runtime_role = PgConnectOptions::from_str(url)?.get_username().to_owned();
        if runtime_role.is_empty()
            || !runtime_role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StorageError::Unsafe(format!(
                "the runtime role {runtime_role:?} must be a plain name (letters, digits, _)"
            )));
        }
        let owner = Self::connect(owner_url, 1).await?;
        EmbeddedMigrations(MIGRATIONS).apply(&owner.pool).await?;
        let grants = RUNTIME_GRANTS.replace("fieldlink_app", &format!("\"{runtime_role}\""));
        sqlx::raw_sql(&grants).execute(&owner.pool).await?;
        owner.pool.close().await;
        let storage = Self::connect(url, max_connections).await?;
        storage.check_durability().await?;
        Ok(storage)
    }

    async fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url)?.application_name("fieldlink-server");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            url: url.to_owned(),
            log_writes: true,
        })
    }

    /// The connection URL (the relay opens its own listening connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pool, for tests that inspect the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn check_durability(&self) -> Result<(), StorageError> {
        let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&self.pool).await?;
        if fsync != "on" {
            return Err(StorageError::Unsafe(format!("fsync is {fsync}; on is required")));
        }
        let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&self.pool)
            .await?;
        if commit == "off" {
            return Err(StorageError::Unsafe(
                "synchronous_commit is off: a commit could be acknowledged and then lost".into(),
            ));
        }
        Ok(())
    }
}

/// What PostgreSQL does its own way; the shared queries (`queries.rs`) call
/// these.
impl PgStorage {
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StorageError> {
        Ok(self.pool.begin().await?)
    }

    /// A write transaction holding the log's lock, begun and locked in one
    /// round trip (a simple query of two statements): an item batch's
    /// commit pays for each round trip, and under load each costs the
    /// scheduling of two processes.
    async fn begin_log_write(&self) -> Result<Transaction<'static, Postgres>, StorageError> {
        Ok(self
            .pool
            .begin_with(format!("BEGIN; SELECT pg_advisory_xact_lock({LOG_LOCK})"))
            .await?)
    }

    /// Inserts the items not stored yet in one statement (UNNEST over
    /// column arrays); returns the (item id, seq) of each inserted.
    async fn insert_new_items(
        tx: &mut Transaction<'_, Postgres>,
        items: &[NewItem],
        ids: &[String],
        now_ms: i64,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        Ok(sqlx::query_as(
            "INSERT INTO items (item_id, kind, device_id, officer_id, case_id, received_at_ms, sha256, body) \
             SELECT id, kind, device, officer, case_id, $6, sha256, body \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $7::bytea[], $8::bytea[]) \
               AS t(id, kind, device, officer, case_id, sha256, body) \
             ON CONFLICT (item_id) DO NOTHING RETURNING item_id, seq",
        )
        .bind(ids)
        .bind(items.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.device_id.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.officer_id.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.case_id.as_deref()).collect::<Vec<_>>())
        .bind(now_ms)
        .bind(items.iter().map(|i| i.sha256.to_vec()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.body.as_slice()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?)
    }

    /// The inspection index rows of a batch in one statement: UNNEST over
    /// each table's columns, the three inserts joined as data-modifying
    /// WITH clauses (one round trip, and one prepared statement whatever
    /// the batch's size).
    async fn insert_inspections(
        tx: &mut Transaction<'_, Postgres>,
        rows: &InspectionRows<'_>,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "WITH officers AS (\
               INSERT INTO inspection_officers (item_id, officer_id) SELECT * FROM UNNEST($9::text[], $10::text[])\
             ), photos AS (\
               INSERT INTO inspection_photos (item_id, photo_id) SELECT * FROM UNNEST($11::text[], $12::text[])\
             ) \
             INSERT INTO inspections (item_id, matter_code, outcome, started_at_ms, latitude, longitude, assignment_id, \
             sender_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int4[], $4::int8[], $5::float8[], $6::float8[], $7::text[], \
             $8::text[])",
        )
        .bind(&rows.item_ids)
        .bind(&rows.matter_codes)
        .bind(&rows.outcomes)
        .bind(&rows.started_at_ms)
        .bind(&rows.latitudes)
        .bind(&rows.longitudes)
        .bind(&rows.assignment_ids)
        .bind(&rows.senders)
        .bind(&rows.officers.0)
        .bind(&rows.officers.1)
        .bind(&rows.photos.0)
        .bind(&rows.photos.1)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A batch's device-signed captures and the certificates they name in
    /// one statement (the certificates' insert as a WITH clause; the
    /// foreign key is checked at the statement's end, when both are in).
    async fn insert_device_captures(
        tx: &mut Transaction<'_, Postgres>,
        certificates: &[(&[u8], &[u8])],
        captures: &[CaptureRow<'_>],
    ) -> Result<(), StorageError> {
        sqlx::query(
            "WITH certificates AS (\
               INSERT INTO device_certificate_ders (sha256, der) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
               ON CONFLICT (sha256) DO NOTHING\
             ) \
             INSERT INTO device_captures (item_id, scheme, statement, signature, certificate_sha256) \
             SELECT * FROM UNNEST($3::text[], $4::int4[], $5::bytea[], $6::bytea[], $7::bytea[])",
        )
        .bind(certificates.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind(certificates.iter().map(|c| c.1).collect::<Vec<_>>())
        .bind(captures.iter().map(|c| c.item_id.as_str()).collect::<Vec<_>>())
        .bind(captures.iter().map(|c| c.scheme).collect::<Vec<_>>())
        .bind(captures.iter().map(|c| c.statement).collect::<Vec<_>>())
        .bind(captures.iter().map(|c| c.signature).collect::<Vec<_>>())
        .bind(captures.iter().map(|c| c.certificate_sha256).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// New log leaves and stored hashes in one statement (UNNEST, the
    /// leaves' insert as a WITH clause).
    async fn insert_log_rows(
        tx: &mut Transaction<'_, Postgres>,
        leaves: &[(i64, &str, &[u8])],
        hashes: &[(i64, &[u8])],
    ) -> Result<(), StorageError> {
        sqlx::query(
            "WITH leaves AS (\
               INSERT INTO log_leaves (leaf_index, item_id, data) SELECT * FROM UNNEST($1::int8[], $2::text[], $3::bytea[])\
             ) \
             INSERT INTO log_hashes (stored_index, hash) SELECT * FROM UNNEST($4::int8[], $5::bytea[])",
        )
        .bind(leaves.iter().map(|l| l.0).collect::<Vec<_>>())
        .bind(leaves.iter().map(|l| l.1).collect::<Vec<_>>())
        .bind(leaves.iter().map(|l| l.2).collect::<Vec<_>>())
        .bind(hashes.iter().map(|h| h.0).collect::<Vec<_>>())
        .bind(hashes.iter().map(|h| h.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// One assignment-event transaction at a time, across every node (a
    /// transaction-scoped advisory lock): see the module comment.
    async fn lock_event_order(tx: &mut Transaction<'_, Postgres>) -> Result<(), StorageError> {
        advisory_lock(tx, ASSIGNMENT_LOCK).await
    }

    /// One log appender (and item writer) at a time, across every node:
    /// item seqs and leaves take their numbers in commit order.
    async fn lock_log(tx: &mut Transaction<'_, Postgres>) -> Result<(), StorageError> {
        advisory_lock(tx, LOG_LOCK).await
    }

    /// One incident writer at a time, across every node.
    async fn lock_incidents(tx: &mut Transaction<'_, Postgres>) -> Result<(), StorageError> {
        advisory_lock(tx, INCIDENT_LOCK).await
    }

    /// An event's audience in one statement (a team may be thousands).
    async fn insert_audience(
        tx: &mut Transaction<'_, Postgres>,
        seq: i64,
        audience: &[String],
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO event_audience (seq, officer_id) SELECT $1, officer FROM UNNEST($2::text[]) AS officer \
             ON CONFLICT DO NOTHING",
        )
        .bind(seq)
        .bind(audience)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Delivered to every listening node when (and only if) `tx` commits.
    async fn announce_event(tx: &mut Transaction<'_, Postgres>, seq: i64) -> Result<(), StorageError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ASSIGNMENT_CHANNEL)
            .bind(seq.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn upsert_feed_cursors(&self, cursors: &[FeedCursor], now_ms: i64) -> Result<(), StorageError> {
        // One statement may not update a row twice: the largest cursor per key.
        let mut largest: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for c in cursors {
            let entry = largest.entry((&c.officer_id, &c.device_id)).or_default();
            *entry = (*entry).max(c.cursor);
        }
        let (mut officers, mut devices, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for ((officer, device), cursor) in largest {
            officers.push(officer);
            devices.push(device);
            values.push(to_i64(cursor)?);
        }
        sqlx::query(
            "INSERT INTO feed_cursors (officer_id, device_id, cursor, updated_at_ms) \
             SELECT o, d, c, $4 FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS t(o, d, c) \
             ON CONFLICT (officer_id, device_id) DO UPDATE SET \
             cursor = GREATEST(feed_cursors.cursor, excluded.cursor), updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&officers)
        .bind(&devices)
        .bind(&values)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Waits for a transaction-scoped advisory lock (released by commit or
/// rollback; the same transaction may take it again).
async fn advisory_lock(tx: &mut Transaction<'_, Postgres>, key: i64) -> Result<(), StorageError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::scratch_pg::ScratchDatabase;
    use crate::storage::{ItemStore, PeopleStore, Storage};
    use sqlx::PgPool;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), MIGRATIONS.len());
    }

    #[tokio::test]
    async fn a_database_that_could_lose_commits_is_refused() {
        let Some(database) = ScratchDatabase::create().await else {
            return;
        };
        let first = PgStorage::open(&database.url, 2).await.unwrap();
        let name = sqlx::query_scalar::<_, String>("SELECT current_database()")
            .fetch_one(first.pool())
            .await
            .unwrap();
        sqlx::query(&format!("ALTER DATABASE {name} SET synchronous_commit = off"))
            .execute(first.pool())
            .await
            .unwrap();
        first.close().await;
        match PgStorage::open(&database.url, 2).await {
            Err(StorageError::Unsafe(detail)) => assert!(detail.contains("synchronous_commit"), "{detail}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_runtime_role_stores_evidence_but_cannot_alter_it_or_its_triggers() {
        let Some(database) = ScratchDatabase::create().await else {
            return;
        };
        let owner = PgPool::connect(&database.url).await.unwrap();
        let role = format!("fl_app_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE ROLE {role} LOGIN"))
            .execute(&owner)
            .await
            .unwrap();
        let (user, rest) = database.url.split_once("://").unwrap();
        let at = rest.find('@').unwrap();
        let runtime_url = format!("{user}://{role}{}", &rest[at..]);
        let storage = PgStorage::open_with_owner(&runtime_url, &database.url, 2)
            .await
            .unwrap();
        // What the server does works as the runtime role.
        let id = uuid::Uuid::now_v7();
        let item = crate::storage::suite::inspection(id, b"evidence", None, 1);
        storage.commit_items(&[item], 1).await.unwrap();
        assert_eq!(storage.item(id).await.unwrap().unwrap().body, b"evidence");
        storage.revoke_session_tokens("officer-01", 2).await.unwrap();
        // Changing evidence or its protection does not.
        let runtime = PgPool::connect(&runtime_url).await.unwrap();
        for sql in [
            "DROP TRIGGER items_append_only ON items",
            "ALTER TABLE items DISABLE TRIGGER ALL",
            "UPDATE items SET body = 'x'",
            "DELETE FROM log_leaves",
            "TRUNCATE log_hashes",
            "ALTER TABLE log_leaves DROP COLUMN data",
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'x', true, '\\x00', 0)",
        ] {
            let refused = sqlx::query(sql).execute(&runtime).await;
            assert!(refused.is_err(), "the runtime role could: {sql}");
        }
        runtime.close().await;
        storage.close().await;
        // The same statements are valid: the owner may (so the refusals
        // above are the runtime role's privileges, not typos).
        for sql in [
            "DROP TRIGGER items_append_only ON items",
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'x', true, '\\x00', 0)",
        ] {
            sqlx::query(sql).execute(&owner).await.unwrap();
        }
        for sql in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
            sqlx::query(&sql).execute(&owner).await.unwrap();
        }
    }

    #[tokio::test]
    async fn nodes_starting_together_migrate_once() {
        let Some(database) = ScratchDatabase::create().await else {
            return;
        };
        let (a, b) = tokio::join!(
            PgStorage::open(&database.url, 2),
            PgStorage::open(&database.url, 2)
        );
        let (a, _b) = (a.unwrap(), b.unwrap());
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(a.pool())
            .await
            .unwrap();
        assert_eq!(applied, MIGRATIONS.len() as i64);
    }
}
