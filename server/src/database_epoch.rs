//! Which epoch of the database this server serves, and noticing a restore.
//!
//! Restoring a backup rewinds the database: seqs after the backup are handed
//! out again and terminals' feed cursors point past the end. So every
//! history of seqs is an epoch, whose id travels in the Welcome, in every
//! receipt and with feed cursors. A new epoch begins when an operator says
//! the database was restored (`fieldlink-server new-epoch`) or when the
//! server, starting, finds the database behind the high-water mark it wrote
//! beside its data (`data_dir/database-epoch.json`, kept up to date while
//! it runs): a restore nobody announced.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::storage::{DatabaseEpoch, EpochStore, HighWater, StorageError};

/// The marker file's name in the data directory.
pub const MARKER_FILE: &str = "database-epoch.json";
/// How often the marker is brought up to date while the server runs.
const MARKER_INTERVAL: Duration = Duration::from_secs(1);
/// Tries to start an epoch while other nodes race to start one too.
const START_TRIES_MAX: u32 = 8;

/// Why the epoch cannot be settled.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Other nodes kept starting epochs.
    #[error("could not start a database epoch: other nodes kept starting one")]
    Contended,
    /// The marker cannot be written.
    #[error("cannot write {path}: {error}")]
    Marker {
        /// The marker file.
        path: PathBuf,
        /// The failure.
        error: std::io::Error,
    },
}

/// What this node last saw the database hold, in which epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    /// The epoch served.
    pub epoch: Uuid,
    /// What the database held in it.
    #[serde(flatten)]
    pub high_water: HighWater,
}

/// The marker's path for a data directory.
pub fn marker_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MARKER_FILE)
}

/// Reads the marker; a missing or unreadable one is `None` (and logged):
/// the check it enables is a safety net, never a reason to refuse to start.
pub fn read_marker(path: &Path) -> Option<Marker> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "database epoch marker unreadable; not checked");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(marker) => Some(marker),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "database epoch marker malformed; not checked");
            None
        }
    }
}

/// Writes the marker whole (a temporary file renamed over it).
pub fn write_marker(path: &Path, marker: &Marker) -> Result<(), EpochError> {
    let failed = |error| EpochError::Marker {
        path: path.to_owned(),
        error,
    };
    let temporary = path.with_extension("json.tmp");
    let json = serde_json::to_vec(marker).map_err(|e| failed(std::io::Error::other(e)))?;
    std::fs::write(&temporary, json).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

/// Whether the database has gone back since the node wrote `marker`.
pub fn rolled_back(marker: &Marker, epochs: &[DatabaseEpoch], now: &HighWater) -> bool {
    let Some(current) = epochs.last() else {
        return false;
    };
    if marker.epoch == current.epoch {
        return now.is_behind(&marker.high_water);
    }
    if epochs.iter().any(|epoch| epoch.epoch == marker.epoch) {
        // An epoch begun since (by an operator or another node).
        return false;
    }
    // The database does not know the epoch this node served: restored from
    // before it began, unless it is a new, empty database.
    *now != HighWater::default()
}

/// Starts the epoch after `after` (another node may win; then its epoch is
/// the current one).
pub async fn start_new(
    storage: &dyn EpochStore,
    reason: &str,
    now_ms: i64,
) -> Result<DatabaseEpoch, EpochError> {
    for _ in 0..START_TRIES_MAX {
        let current = storage.epochs().await?.pop();
        let after = current.as_ref().map(|epoch| epoch.number);
        if let Some(started) = storage.start_epoch(after, Uuid::now_v7(), reason, now_ms).await? {
            return Ok(started);
        }
    }
    Err(EpochError::Contended)
}

/// The epoch to serve: the database's current one, the first one for a
/// database that has none, a new one when the marker shows the database
/// went back. Writes the marker.
pub async fn settle(
    storage: &dyn EpochStore,
    marker: &Path,
    now_ms: i64,
) -> Result<DatabaseEpoch, EpochError> {
    let mut epochs = storage.epochs().await?;
    if epochs.is_empty() {
        epochs.push(start_first(storage, now_ms).await?);
    }
    let now = storage.high_water().await?;
    let mut current = epochs.last().cloned().ok_or(EpochError::Contended)?;
    if let Some(last_seen) = read_marker(marker) {
        if rolled_back(&last_seen, &epochs, &now) {
            tracing::error!(
                served = %last_seen.epoch,
                seen = ?last_seen.high_water,
                now = ?now,
                "the database is behind what this server served (restored from a backup?): \
                 starting a new database epoch; terminals resend what they hold"
            );
            current = start_new(storage, "rollback_detected", now_ms).await?;
        }
    }
    write_marker(
        marker,
        &Marker {
            epoch: current.epoch,
            high_water: now,
        },
    )?;
    Ok(current)
}

async fn start_first(storage: &dyn EpochStore, now_ms: i64) -> Result<DatabaseEpoch, EpochError> {
    match storage
        .start_epoch(None, Uuid::now_v7(), "initial", now_ms)
        .await?
    {
        Some(first) => Ok(first),
        // Another node started it a moment ago.
        None => storage.epochs().await?.pop().ok_or(EpochError::Contended),
    }
}

/// This node's marker: the epoch it serves and where the file is.
#[derive(Debug, Clone)]
pub struct EpochMarker {
    epoch: Uuid,
    path: PathBuf,
}

impl EpochMarker {
    /// The marker of `epoch` in `data_dir`.
    pub fn new(epoch: Uuid, data_dir: &Path) -> Self {
        Self {
            epoch,
            path: marker_path(data_dir),
        }
    }

    /// Writes what the database holds now (the server's last word at
    /// shutdown, after its final commit).
    pub async fn update(&self, storage: &dyn EpochStore) -> Result<(), EpochError> {
        let high_water = storage.high_water().await?;
        self.write(high_water).await
    }

    /// Keeps the marker at what the database holds (checked every second),
    /// until shutdown.
    pub async fn keep(self, storage: Arc<dyn crate::storage::Storage>, shutdown: CancellationToken) {
        let mut written = HighWater::default();
        loop {
            match storage.high_water().await {
                Ok(now) if now != written => match self.write(now).await {
                    Ok(()) => written = now,
                    Err(error) => tracing::warn!(%error, "database epoch marker not updated"),
                },
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "database high-water mark not read"),
            }
            tokio::select! {
                () = tokio::time::sleep(MARKER_INTERVAL) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn write(&self, high_water: HighWater) -> Result<(), EpochError> {
        let update = Marker {
            epoch: self.epoch,
            high_water,
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_marker(&path, &update))
            .await
            .map_err(|e| EpochError::Marker {
                path: self.path.clone(),
                error: std::io::Error::other(e),
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(number: u64) -> DatabaseEpoch {
        DatabaseEpoch {
            number,
            epoch: Uuid::now_v7(),
            reason: "initial".into(),
            started_at_ms: 0,
            began_at: HighWater::default(),
        }
    }

    fn water(item_seq: u64, event_seq: u64, log_size: u64) -> HighWater {
        HighWater {
            item_seq,
            event_seq,
            log_size,
        }
    }

    #[test]
    fn a_database_behind_the_marker_of_its_own_epoch_was_rolled_back() {
        let epochs = vec![epoch(1)];
        let marker = Marker {
            epoch: epochs[0].epoch,
            high_water: water(10, 5, 15),
        };
        assert!(!rolled_back(&marker, &epochs, &water(10, 5, 15)));
        assert!(!rolled_back(&marker, &epochs, &water(11, 6, 17)));
        assert!(rolled_back(&marker, &epochs, &water(9, 5, 15)));
        assert!(rolled_back(&marker, &epochs, &water(10, 4, 15)));
        assert!(rolled_back(&marker, &epochs, &water(10, 5, 14)));
    }

    #[test]
    fn an_epoch_begun_since_is_no_rollback_but_an_unknown_one_is() {
        let epochs = vec![epoch(1), epoch(2)];
        let older = Marker {
            epoch: epochs[0].epoch,
            high_water: water(100, 100, 200),
        };
        assert!(!rolled_back(&older, &epochs, &water(3, 0, 3)));
        let unknown = Marker {
            epoch: Uuid::now_v7(),
            high_water: water(1, 0, 1),
        };
        assert!(rolled_back(&unknown, &epochs, &water(50, 0, 50)));
        // A new, empty database is not a restore.
        assert!(!rolled_back(&unknown, &epochs, &HighWater::default()));
        assert!(!rolled_back(&unknown, &[], &water(1, 0, 1)));
    }

    #[test]
    fn the_marker_round_trips_and_a_bad_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = marker_path(dir.path());
        assert_eq!(read_marker(&path), None);
        let marker = Marker {
            epoch: Uuid::now_v7(),
            high_water: water(1, 2, 3),
        };
        write_marker(&path, &marker).unwrap();
        assert_eq!(read_marker(&path), Some(marker));
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(read_marker(&path), None);
    }
}
