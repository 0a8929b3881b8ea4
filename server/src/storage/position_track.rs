//! Officers' live positions as stored: the sampled track
//! (`position_track`), pruned after `position_retention_days`.

use async_trait::async_trait;

use super::StorageError;

/// One position fix of an officer, as received.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PositionFix {
    /// The officer.
    pub officer_id: String,
    /// The device that sent it.
    pub device_id: String,
    /// Degrees.
    pub latitude: f64,
    /// Degrees.
    pub longitude: f64,
    /// Metres; 0 if unknown.
    pub accuracy_m: f32,
    /// Metres per second; 0 if unknown.
    pub speed_mps: f32,
    /// When the fix was taken (terminal's clock), ms since the epoch.
    pub at_ms: i64,
    /// When a node received it, ms since the epoch.
    pub received_at_ms: i64,
}

/// The stored tracks.
#[async_trait]
pub trait PositionStore: Send + Sync + 'static {
    /// Stores sampled points; a point an officer already has at the same
    /// `at_ms` is kept as it was.
    async fn record_track(&self, points: &[PositionFix]) -> Result<(), StorageError>;

    /// An officer's points taken from `from_ms` to `to_ms`, oldest first,
    /// at most `limit`.
    async fn track(
        &self,
        officer_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<PositionFix>, StorageError>;

    /// Each officer's newest stored point received from `since_ms` on
    /// (samples from every node).
    async fn latest_track_points(&self, since_ms: i64) -> Result<Vec<PositionFix>, StorageError>;

    /// Deletes the points received before `before_ms`; returns how many.
    async fn prune_track(&self, before_ms: i64) -> Result<u64, StorageError>;
}
