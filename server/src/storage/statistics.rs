//! What the statistics are computed from: counts grouped in the database
//! (inspections by matter, officer or day and outcome; incidents by
//! category and state) and the assignments' lifecycle times. The grouping
//! into domains, teams and months, and every rate, is done above
//! (crate::statistics), from these few rows.

use async_trait::async_trait;

use super::StorageError;

/// How inspections are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionKey {
    /// By matter code.
    Matter,
    /// By the officer who sent the record.
    Officer,
    /// By day (China Standard Time), as days since 1970-01-01.
    Day,
}

/// A time range, [from, to) in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, inclusive.
    pub from_ms: i64,
    /// End, exclusive.
    pub to_ms: i64,
}

/// Inspections of one key and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionCount {
    /// The matter code, officer id, or day number (as text).
    pub key: String,
    /// The outcome (`Outcome` value).
    pub outcome: i32,
    /// How many.
    pub count: u64,
}

/// Incidents of one category and state, opened in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCount {
    /// The category (`lampblack_exceedance`, …).
    pub category: String,
    /// The state now (`IncidentState` value).
    pub state: i32,
    /// How many.
    pub count: u64,
}

/// One lifecycle event of an assignment created in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentMoment {
    /// The assignment.
    pub assignment_id: String,
    /// The event's kind (`AssignmentEventKind` value).
    pub kind: i32,
    /// When, ms.
    pub at_ms: i64,
}

/// The statistics' sources.
#[async_trait]
pub trait StatsStore: Send + Sync + 'static {
    /// Inspections begun in `range`, counted by `key` and outcome.
    async fn inspection_counts(
        &self,
        range: TimeRange,
        key: InspectionKey,
    ) -> Result<Vec<InspectionCount>, StorageError>;

    /// Incidents opened in `range`, counted by category and state now.
    async fn incident_counts(&self, range: TimeRange) -> Result<Vec<IncidentCount>, StorageError>;

    /// Reports that opened or joined incidents in `range`, counted by source
    /// kind (`monitor`, `camera`, `grid`, …).
    async fn incident_source_counts(&self, range: TimeRange) -> Result<Vec<(String, u64)>, StorageError>;

    /// Every event of the assignments created in `range` (at most `limit`
    /// events), by assignment then seq.
    async fn assignment_moments(
        &self,
        range: TimeRange,
        limit: u32,
    ) -> Result<Vec<AssignmentMoment>, StorageError>;
}
