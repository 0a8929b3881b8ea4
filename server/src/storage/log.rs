//! The transparency log's storage: leaves, stored subtree hashes and signed
//! checkpoints. Leaves are appended by the commit paths themselves (items in
//! [`super::ItemStore::commit_items`], assignment events in
//! [`super::AssignmentStore::commit_assignment_events`]), in the same
//! transaction, so a receipt and its leaf commit together or not at all.

use async_trait::async_trait;
use uuid::Uuid;

use super::StorageError;

/// Where an item sits in the log, as its receipt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRef {
    /// The leaf's index, 0-based.
    pub index: u64,
    /// SM3 of the same bytes as the receipt's SHA-256 (from the leaf); none
    /// where the two are of different bytes (an assignment result's SHA-256
    /// is of the request, its leaf's digests of the event as stored).
    pub sm3: Option<[u8; 32]>,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it commits to.
    pub tree_size: u64,
    /// The root hash at that size.
    pub root: [u8; 32],
    /// The signed note (C2SP tlog-checkpoint).
    pub note: String,
    /// When it was signed.
    pub signed_at_ms: i64,
}

/// A custody event as stored: its sequence number, its leaf and its bytes
/// (a `CustodyEvent` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCustody {
    /// Its sequence number among custody events (1, 2, …).
    pub seq: u64,
    /// Its leaf's index.
    pub leaf_index: u64,
    /// The `CustodyEvent` encoding, as logged.
    pub bytes: Vec<u8>,
}

/// The transparency log.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Leaves in the log.
    async fn log_size(&self) -> Result<u64, StorageError>;

    /// The stored hashes at these tlog stored-hash indexes, in the same
    /// order; one not stored is an error.
    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StorageError>;

    /// An item's (or assignment event's) leaf: its index and data.
    async fn log_leaf(&self, item_id: Uuid) -> Result<Option<(u64, Vec<u8>)>, StorageError>;

    /// The leaves from `from_index` on, at most `limit`, in order.
    async fn log_leaves(&self, from_index: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StorageError>;

    /// The newest signed checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError>;

    /// The stored checkpoint of exactly `tree_size` leaves.
    async fn checkpoint_at(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StorageError>;

    /// Stored checkpoints of `from_size` leaves or more, smallest first.
    async fn checkpoints(&self, from_size: u64, limit: u32) -> Result<Vec<StoredCheckpoint>, StorageError>;

    /// Ids of stored items and assignment events that have no leaf (none,
    /// unless rows were added behind the server's back), at most `limit`.
    async fn unlogged_ids(&self, limit: u32) -> Result<Vec<Uuid>, StorageError>;

    /// Keeps a signed checkpoint (a second one for the same size is ignored).
    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError>;

    /// Gives leaves to items and assignment events stored before the log
    /// existed (items in seq order, then events), at most `limit`; returns
    /// how many it appended.
    async fn append_unlogged(&self, limit: u32) -> Result<u64, StorageError>;

    /// Stores a custody event and its leaf in one transaction. `event`
    /// must carry its id, time, actor and origin.
    async fn record_custody(
        &self,
        event: &fieldlink_protocol::pb::CustodyEvent,
    ) -> Result<StoredCustody, StorageError>;

    /// A custody event by its id.
    async fn custody_event(&self, event_id: Uuid) -> Result<Option<StoredCustody>, StorageError>;

    /// The custody events that name an item, oldest first, at most `limit`;
    /// with `action`, only those of that action (`review_flag`, …).
    async fn item_custody(
        &self,
        item_id: Uuid,
        action: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredCustody>, StorageError>;

    /// Keeps a witness's cosigned note of the checkpoint of `tree_size` (a
    /// second one of the same witness and size is ignored).
    async fn store_cosignature(&self, tree_size: u64, witness: &str, note: &str) -> Result<(), StorageError>;

    /// The cosigned notes of the checkpoint of `tree_size`, one per witness.
    async fn cosignatures(&self, tree_size: u64) -> Result<Vec<String>, StorageError>;

    /// The largest tree size any witness cosigned.
    async fn latest_cosigned_size(&self) -> Result<Option<u64>, StorageError>;
}
