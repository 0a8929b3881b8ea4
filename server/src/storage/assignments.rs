//! Assignments (派单), their append-only events and the terminals' feed cursors.

use async_trait::async_trait;
use uuid::Uuid;

use super::StorageError;

/// Assignments, their events, feeds and cursors.
#[async_trait]
pub trait AssignmentStore: Send + Sync + 'static {
    /// An assignment's current state and version.
    async fn assignment(&self, assignment_id: Uuid) -> Result<Option<StoredAssignment>, StorageError>;

    /// The event recorded under a client's create or update id, if any.
    async fn assignment_event_by_id(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StorageError>;

    /// Appends an event and moves the assignment's current state to its
    /// snapshot, in one transaction — only if the assignment's version is
    /// still `expected_version` (`None`: the assignment must not exist yet).
    async fn commit_assignment_event(
        &self,
        expected_version: Option<u64>,
        event: &NewAssignmentEvent,
    ) -> Result<AssignmentCommit, StorageError> {
        let mut outcomes = self
            .commit_assignment_events(&[(expected_version, event)])
            .await?;
        outcomes
            .pop()
            .ok_or_else(|| StorageError::Corrupt("no outcome for an assignment event".into()))
    }

    /// The same for several events in one durable transaction, in order:
    /// each is checked against what the ones before it wrote (a second
    /// change of the same assignment at the same version is a conflict).
    /// Each gets its outcome; a failure stores none of them.
    async fn commit_assignment_events(
        &self,
        events: &[(Option<u64>, &NewAssignmentEvent)],
    ) -> Result<Vec<AssignmentCommit>, StorageError>;

    /// Events after `after_seq` for `officer_id` (every event when `None`),
    /// in seq order, at most `limit`.
    async fn feed_events(
        &self,
        officer_id: Option<&str>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError>;

    /// The cursor an officer's terminal on a device acknowledged (0 if none).
    async fn feed_cursor(&self, officer_id: &str, device_id: &str) -> Result<u64, StorageError>;

    /// Stores acknowledged cursors in one durable transaction, never moving
    /// one backwards (the same officer and device may appear more than once).
    async fn store_feed_cursors(&self, cursors: &[FeedCursor], now_ms: i64) -> Result<(), StorageError>;

    /// Assignments matching a filter, newest first.
    async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> Result<Vec<StoredAssignment>, StorageError>;

    /// Open assignments past their due time and not yet marked overdue.
    async fn overdue_assignments(&self, now_ms: i64) -> Result<Vec<StoredAssignment>, StorageError>;

    /// Team assignments still waiting for an acceptance (DISPATCHED or
    /// DELIVERED) created before `created_before_ms`, oldest first, at most 1,000.
    async fn unaccepted_team_assignments(
        &self,
        created_before_ms: i64,
    ) -> Result<Vec<StoredAssignment>, StorageError>;

    /// The seq of the newest assignment event (0 if none).
    async fn latest_assignment_seq(&self) -> Result<u64, StorageError>;

    /// One assignment's events, oldest first.
    async fn assignment_history(
        &self,
        assignment_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError>;

    /// Events after `after_seq` in seq order, each with its audience: what a
    /// node relays to its live feeds when another node committed them.
    async fn events_with_audience(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(fieldlink_protocol::pb::AssignmentEvent, Vec<String>)>, StorageError>;
}

/// An assignment as stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAssignment {
    /// The current snapshot.
    pub assignment: fieldlink_protocol::pb::Assignment,
    /// The seq of the last event applied.
    pub version: u64,
}

/// An event already recorded under a client id.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Its seq.
    pub seq: u64,
    /// SHA-256 of the request that caused it.
    pub request_sha256: [u8; 32],
    /// When.
    pub at_ms: i64,
    /// The assignment it changed.
    pub assignment_id: Uuid,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssignmentEvent {
    /// The client's create or update id (idempotency key).
    pub event_id: Uuid,
    /// SHA-256 of the request body.
    pub request_sha256: [u8; 32],
    /// The event (its `seq` is assigned on commit); its `assignment` is the new state.
    pub event: fieldlink_protocol::pb::AssignmentEvent,
    /// Officers whose feed it goes to.
    pub audience: Vec<String>,
}

/// What committing an assignment event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentCommit {
    /// Appended with this seq.
    Committed {
        /// The event's seq.
        seq: u64,
    },
    /// Someone changed the assignment since it was read; read again.
    VersionConflict,
    /// The event id is taken (a resend raced us).
    DuplicateEventId,
}

/// Filters for listing assignments. Team filters carry the team's officers,
/// so that assignments to one officer of the team match too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    /// Only this state.
    pub state: Option<i32>,
    /// Only this team's: (team id, its officers).
    pub team: Option<(String, Vec<String>)>,
    /// Only assigned to or accepted by this officer.
    pub officer_id: Option<String>,
    /// Only overdue.
    pub overdue_only: bool,
    /// Only created at or after this time (ms).
    pub created_from_ms: Option<i64>,
    /// Only created before this time (ms).
    pub created_before_ms: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Only ids below this one (UUIDv7 ids sort by creation time).
    pub before_id: Option<String>,
    /// Visibility for an officer: their team's (team id, its officers).
    pub visible_to_team: Option<(String, Vec<String>)>,
}

/// A feed cursor a terminal acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCursor {
    /// The signed-in officer.
    pub officer_id: String,
    /// The terminal's device.
    pub device_id: String,
    /// The seq of the last event the terminal's app took.
    pub cursor: u64,
}
