//! The backends the storage suite runs against: SQLite in a temporary
//! directory always, PostgreSQL in a scratch database when one is reachable.

use std::sync::Arc;

use super::Storage;

/// A backend under test and a way to run raw SQL against it.
pub struct Backend {
    pub storage: Arc<dyn Storage>,
    pub raw: Raw,
    _keep: Box<dyn std::any::Any + Send>,
}

pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    /// Whether `sql` succeeds.
    pub async fn succeeds(&self, sql: &str) -> bool {
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.is_ok(),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.is_ok(),
        }
    }

    /// The single integer `sql` selects (a count).
    pub async fn count_owned(&self, sql: String) -> i64 {
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Raw::Postgres(_))
    }
}

pub async fn sqlite() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let storage = super::sqlite::SqliteStorage::open(&dir.path().join("db.sqlite"))
        .await
        .unwrap();
    Some(Backend {
        raw: Raw::Sqlite(storage.pool().clone()),
        storage: Arc::new(storage),
        _keep: Box::new(dir),
    })
}

pub async fn postgres() -> Option<Backend> {
    let database = super::scratch_pg::ScratchDatabase::create().await?;
    let storage = super::postgres::PgStorage::open(&database.url, 8).await.unwrap();
    Some(Backend {
        raw: Raw::Postgres(storage.pool().clone()),
        storage: Arc::new(storage),
        _keep: Box::new(database),
    })
}
