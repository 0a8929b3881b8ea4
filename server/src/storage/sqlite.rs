//! The embedded SQLite backend: WAL, `synchronous=FULL` (asserted at start),
//! embedded numbered migrations, runtime queries.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_core_shim::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::{
    CommitOutcome, ItemIndex, NewItem, SessionToken, Storage, StorageError, StoredItem, StoredReceipt,
};
use crate::directory::{Officer, Role, Team};

/// The migrations, embedded at build time. See migrations/NOTES.md.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "foundation",
    include_str!("../../migrations/sqlite/0001_foundation.sql"),
)];

/// `PRAGMA synchronous` value of FULL.
const SYNCHRONOUS_FULL: i64 = 2;

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
        Migrator::new(EmbeddedMigrations)
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

/// The embedded migrations as a sqlx migration source.
#[derive(Debug)]
struct EmbeddedMigrations;

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

mod futures_core_shim {
    /// A boxed future, as sqlx's `MigrationSource` wants it.
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
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
impl Storage for SqliteStorage {
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            let item_id = item.item_id.to_string();
            let existing =
                sqlx::query("SELECT seq, item_id, received_at_ms, sha256 FROM items WHERE item_id = ?")
                    .bind(&item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(row) = existing {
                let receipt = receipt_from_row(&row)?;
                outcomes.push(if receipt.sha256 == item.sha256 {
                    CommitOutcome::Replayed(receipt)
                } else {
                    CommitOutcome::Conflict {
                        existing_seq: receipt.server_seq,
                    }
                });
                continue;
            }
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO items (item_id, kind, device_id, officer_id, case_id, received_at_ms, sha256, body) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            )
            .bind(&item_id)
            .bind(item.kind.as_str())
            .bind(&item.device_id)
            .bind(&item.officer_id)
            .bind(&item.case_id)
            .bind(now_ms)
            .bind(&item.sha256[..])
            .bind(&item.body)
            .fetch_one(&mut *tx)
            .await?;
            insert_index(&mut tx, &item_id, &item.index).await?;
            outcomes.push(CommitOutcome::Stored(StoredReceipt {
                item_id: item.item_id,
                server_seq: u64::try_from(seq).map_err(|_| StorageError::Corrupt("negative seq".into()))?,
                received_at_ms: now_ms,
                sha256: item.sha256,
            }));
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn item(&self, item_id: Uuid) -> Result<Option<StoredItem>, StorageError> {
        let row = sqlx::query(
            "SELECT seq, item_id, received_at_ms, sha256, kind, device_id, officer_id, body FROM items WHERE item_id = ?",
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
            body: row.try_get("body")?,
        }))
    }

    async fn item_count(&self) -> Result<u64, StorageError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
            .fetch_one(&self.pool)
            .await?;
        Ok(count.max(0) as u64)
    }

    async fn upsert_directory(&self, teams: &[Team], officers: &[Officer]) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
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
}

async fn insert_index(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    item_id: &str,
    index: &ItemIndex,
) -> Result<(), StorageError> {
    match index {
        ItemIndex::Inspection {
            matter_code,
            outcome,
            started_at_ms,
            latitude,
            longitude,
            assignment_id,
            officer_ids,
            photo_ids,
        } => {
            sqlx::query(
                "INSERT INTO inspections (item_id, matter_code, outcome, started_at_ms, latitude, longitude, assignment_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(item_id)
            .bind(matter_code)
            .bind(outcome)
            .bind(started_at_ms)
            .bind(latitude)
            .bind(longitude)
            .bind(assignment_id)
            .execute(&mut **tx)
            .await?;
            for officer_id in officer_ids {
                sqlx::query("INSERT INTO inspection_officers (item_id, officer_id) VALUES (?, ?)")
                    .bind(item_id)
                    .bind(officer_id)
                    .execute(&mut **tx)
                    .await?;
            }
            for photo_id in photo_ids {
                sqlx::query("INSERT INTO inspection_photos (item_id, photo_id) VALUES (?, ?)")
                    .bind(item_id)
                    .bind(photo_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ItemKind;
    use sha2::{Digest, Sha256};

    fn item(id: Uuid, body: &[u8]) -> NewItem {
        NewItem {
            item_id: id,
            kind: ItemKind::Inspection,
            device_id: "device-001".into(),
            officer_id: "officer-01".into(),
            case_id: None,
            sha256: Sha256::digest(body).into(),
            body: body.to_vec(),
            index: ItemIndex::Inspection {
                matter_code: "ZJ-001".into(),
                outcome: 1,
                started_at_ms: 1,
                latitude: 0.0,
                longitude: 0.0,
                assignment_id: None,
                officer_ids: vec!["officer-01".into()],
                photo_ids: vec![],
            },
        }
    }

    async fn open() -> (tempfile::TempDir, SqliteStorage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("db.sqlite")).await.unwrap();
        (dir, storage)
    }

    #[tokio::test]
    async fn resend_replays_and_changed_bytes_conflict() {
        let (_dir, storage) = open().await;
        let id = Uuid::now_v7();
        let first = storage.commit_items(&[item(id, b"a")], 10).await.unwrap();
        let CommitOutcome::Stored(receipt) = &first[0] else {
            panic!("{first:?}")
        };
        let again = storage
            .commit_items(&[item(id, b"a"), item(id, b"b")], 20)
            .await
            .unwrap();
        assert_eq!(again[0], CommitOutcome::Replayed(receipt.clone()));
        assert_eq!(
            again[1],
            CommitOutcome::Conflict {
                existing_seq: receipt.server_seq
            }
        );
        assert_eq!(storage.item_count().await.unwrap(), 1);
        assert_eq!(storage.item(id).await.unwrap().unwrap().body, b"a");
    }

    #[tokio::test]
    async fn the_database_refuses_updates_and_deletes_of_items() {
        let (_dir, storage) = open().await;
        let id = Uuid::now_v7();
        storage.commit_items(&[item(id, b"a")], 10).await.unwrap();
        assert!(sqlx::query("UPDATE items SET body = x'00'")
            .execute(storage.pool())
            .await
            .is_err());
        assert!(sqlx::query("DELETE FROM items")
            .execute(storage.pool())
            .await
            .is_err());
        assert!(sqlx::query("DELETE FROM inspections")
            .execute(storage.pool())
            .await
            .is_err());
        assert_eq!(storage.item(id).await.unwrap().unwrap().body, b"a");
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
