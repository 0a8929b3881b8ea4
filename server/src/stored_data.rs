//! Opening a server's stored data from a command (`audit`, `export`): its
//! SQLite file or PostgreSQL database and its evidence store, as the
//! configuration names them. The server may be running meanwhile.

use std::sync::Arc;

use crate::evidence::Evidence;
use crate::storage::{Storage, StorageError};

/// Why the stored data cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// There is no database to read.
    #[error("no database at {0}")]
    NoDatabase(String),
    /// The database cannot be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The evidence store cannot be opened.
    #[error("evidence store: {0}")]
    Evidence(std::io::Error),
}

/// The storage and evidence store `config` names. A missing SQLite file is
/// an error (a command never creates an empty database).
pub async fn open(config: &crate::Config) -> Result<(Arc<dyn Storage>, Evidence), OpenError> {
    let storage: Arc<dyn Storage> = match &config.database {
        None => {
            let file = config.data_dir.join("fieldlink.sqlite");
            if !file.exists() {
                return Err(OpenError::NoDatabase(file.display().to_string()));
            }
            Arc::new(crate::storage::sqlite::SqliteStorage::open(&file).await?)
        }
        Some(url) => Arc::new(crate::storage::postgres::PgStorage::open(url, 2).await?),
    };
    let evidence = Evidence::open(&config.data_dir.join("evidence"), config.evidence_s3().as_ref())
        .map_err(OpenError::Evidence)?;
    Ok((storage, evidence))
}

/// Who runs a command, for its custody event: `by` when given, else the
/// operating-system user.
pub fn actor(by: Option<&str>) -> String {
    by.map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
