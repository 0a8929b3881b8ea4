//! The database's epochs: one unbroken history of seqs each. Restoring a
//! backup rewinds the seqs, so the restored database starts a new epoch and
//! everything that carries a seq (receipts, feed cursors) also carries the
//! epoch it belongs to (docs/operations.md, "Restoring a backup").

use async_trait::async_trait;
use uuid::Uuid;

use super::StorageError;

/// One epoch, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseEpoch {
    /// 1, 2, …: the current epoch has the highest.
    pub number: u64,
    /// Its id, sent to terminals.
    pub epoch: Uuid,
    /// Why it began: `initial`, `restored` (an operator said so) or
    /// `rollback_detected` (the server found the database behind what it
    /// had served).
    pub reason: String,
    /// When it began, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// What the database held when it began.
    pub began_at: HighWater,
}

/// The highest seqs the database holds, and its log's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HighWater {
    /// The highest item seq (0: none).
    pub item_seq: u64,
    /// The highest assignment-event seq (0: none).
    pub event_seq: u64,
    /// The transparency log's size.
    pub log_size: u64,
}

impl HighWater {
    /// Whether anything here is behind `other`: a database that once held
    /// `other` has lost something.
    pub fn is_behind(&self, other: &HighWater) -> bool {
        self.item_seq < other.item_seq || self.event_seq < other.event_seq || self.log_size < other.log_size
    }
}

/// The epochs table.
#[async_trait]
pub trait EpochStore: Send + Sync + 'static {
    /// Every epoch, oldest first.
    async fn epochs(&self) -> Result<Vec<DatabaseEpoch>, StorageError>;

    /// What the database holds now.
    async fn high_water(&self) -> Result<HighWater, StorageError>;

    /// Starts epoch `after + 1` (1 when `after` is `None`) with this id and
    /// reason. `None` when another node started that number first (the
    /// caller reads the epochs again).
    async fn start_epoch(
        &self,
        after: Option<u64>,
        epoch: Uuid,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<DatabaseEpoch>, StorageError>;
}
