//! Storage behind a few narrow interfaces, one per concern. SQL lives only
//! below this module.
//!
//! [`Storage`] is the sum of [`ItemStore`] (items and receipts),
//! [`EvidenceStore`] (photos, uploads, thumbnails), [`AssignmentStore`]
//! (assignments, events, feeds), [`PeopleStore`] (directory, tokens,
//! presence, devices) and [`LogStore`] (the transparency log); code that
//! needs one concern takes that trait.
//! [`sqlite`] is the embedded default, [`postgres`] the engine for several
//! nodes. Writes of items go through [`group_commit`], which puts concurrent
//! submissions into one transaction: one fsync'd commit costs milliseconds
//! here, so a transaction per record would cap the server at a few hundred
//! records a second; assignment events and feed cursors have writers of
//! their own ([`event_commit`], [`cursor_commit`]).

mod assignments;
mod capture_rows;
mod convert;
pub mod cursor_commit;
mod epochs;
pub mod event_commit;
mod evidence;
pub mod group_commit;
#[cfg(test)]
mod held_store;
#[cfg(test)]
mod incident_suite;
mod incidents;
mod inspection_rows;
mod items;
mod log;
mod log_append;
mod migrations;
mod people;
mod position_track;
pub mod postgres;
#[cfg(any(test, feature = "test-support"))]
pub mod scratch_pg;
pub mod sqlite;
pub mod statistics;
#[cfg(test)]
mod suite;
#[cfg(test)]
mod suite_backend;

use async_trait::async_trait;

pub use assignments::{
    AssignmentCommit, AssignmentFilter, AssignmentStore, FeedCursor, NewAssignmentEvent, RecordedEvent,
    StoredAssignment,
};
pub use epochs::{DatabaseEpoch, EpochStore, HighWater};
pub use evidence::{
    EvidenceStore, MediaFinding, MediaJob, PartialUpload, PhotoIndex, RecordLinks, StoredPhoto,
};
pub use incidents::{
    GridReportRow, IncidentCommit, IncidentFilter, IncidentReport, IncidentStore, JoinRule, ReportOutcome,
    StoredIncident,
};
pub use items::{
    CaseFilter, CaseItemRow, CasePage, CaseSummary, CommitOutcome, DeviceCapture, ItemIndex, ItemKind,
    ItemStore, ItemSummary, NewItem, ServiceHistory, StoredItem, StoredReceipt,
};
pub use log::{LeafRef, LogStore, StoredCheckpoint, StoredCustody};
pub(crate) use log_append::{custody_leaf, incident_leaf, stored_event_leaf, stored_item_leaf};
pub use people::{CredentialRecord, DeviceRecord, PeopleStore, SessionToken};
pub use position_track::{PositionFix, PositionStore};

/// Why storage failed. Shown to terminals only as UNAVAILABLE, never in detail.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database is not configured as durability requires.
    #[error("unsafe database configuration: {0}")]
    Unsafe(String),
    /// A stored value is not what the schema promises.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// Everything the server stores, one trait per concern. Each backend
/// implements all of them; code that needs one concern takes that trait.
#[async_trait]
pub trait Storage:
    ItemStore
    + EvidenceStore
    + AssignmentStore
    + PeopleStore
    + LogStore
    + IncidentStore
    + EpochStore
    + PositionStore
    + statistics::StatsStore
{
    /// Closes the database (pending writes are already committed).
    async fn close(&self);
}
