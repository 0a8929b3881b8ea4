//! Storage behind one narrow interface. SQL lives only below this module.
//!
//! [`Storage`] is what the services need and nothing more; [`sqlite`] is the
//! embedded default. Writes of items go through [`group_commit`], which puts
//! concurrent submissions into one transaction: one fsync'd commit costs
//! milliseconds here, so a transaction per record would cap the server at a
//! few hundred records a second.

mod convert;
pub mod cursor_commit;
pub mod event_commit;
pub mod group_commit;
mod migrations;
pub mod postgres;
pub mod scratch_pg;
pub mod sqlite;
#[cfg(test)]
mod suite;

use async_trait::async_trait;
use uuid::Uuid;

use crate::directory::{Officer, Team};

/// What kind of item a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An inspection record.
    Inspection,
    /// A photo (the row holds its header; the bytes are in the blob store).
    Photo,
    /// An electronic-service confirmation.
    Service,
    /// A later event of a service.
    ServiceEvent,
    /// Remote-interview metadata.
    Interview,
}

impl ItemKind {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Inspection => "inspection",
            ItemKind::Photo => "photo",
            ItemKind::Service => "service",
            ItemKind::ServiceEvent => "service_event",
            ItemKind::Interview => "interview",
        }
    }
}

/// An item to store: its raw bytes, who sent it, and its queryable columns.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// The client-generated id.
    pub item_id: Uuid,
    /// What it is.
    pub kind: ItemKind,
    /// The device that sent it (from its certificate).
    pub device_id: String,
    /// The signed-in officer who sent it.
    pub officer_id: String,
    /// The case it belongs to.
    pub case_id: Option<String>,
    /// SHA-256 of `body`.
    pub sha256: [u8; 32],
    /// The item's bytes exactly as received.
    pub body: Vec<u8>,
    /// Kind-specific columns.
    pub index: ItemIndex,
}

/// Kind-specific queryable columns.
#[derive(Debug, Clone)]
pub enum ItemIndex {
    /// Columns of an inspection record.
    Inspection {
        /// Catalogue matter code.
        matter_code: String,
        /// Outcome enum value.
        outcome: i32,
        /// Start time.
        started_at_ms: i64,
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// Assignment answered.
        assignment_id: Option<String>,
        /// Officers present.
        officer_ids: Vec<String>,
        /// Linked photos.
        photo_ids: Vec<String>,
    },
    /// Columns of a photo.
    Photo(PhotoIndex),
    /// Columns of a service confirmation.
    Service {
        /// Document type enum value.
        document_type: i32,
        /// Document number.
        document_number: String,
        /// Document digest.
        document_sha256: [u8; 32],
        /// Channel enum value.
        channel: i32,
        /// Sent.
        sent_at_ms: i64,
        /// Delivered, if reported.
        delivered_at_ms: Option<i64>,
        /// Confirmed, if reported.
        confirmed_at_ms: Option<i64>,
        /// Serving officers.
        officer_ids: Vec<String>,
    },
    /// Columns of a service event.
    ServiceEvent {
        /// The service.
        service_id: String,
        /// `ServiceEventKind` value.
        kind: i32,
        /// When.
        at_ms: i64,
    },
    /// Columns of an interview.
    Interview {
        /// Start.
        started_at_ms: i64,
        /// End.
        ended_at_ms: i64,
        /// Interviewers.
        interviewer_ids: Vec<String>,
    },
}

/// A service's history, for deriving its state and checking new events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHistory {
    /// Officers who served it.
    pub officer_ids: Vec<String>,
    /// Sent.
    pub sent_at_ms: i64,
    /// Delivered: from the confirmation or a DELIVERED event.
    pub delivered_at_ms: Option<i64>,
    /// Confirmed: from the confirmation or a CONFIRMED event.
    pub confirmed_at_ms: Option<i64>,
}

/// One row of the case view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseItemRow {
    /// Receipt facts.
    pub receipt: StoredReceipt,
    /// Kind (text form).
    pub kind: String,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// Sending device.
    pub device_id: String,
    /// Sending officer.
    pub officer_id: String,
}

/// Queryable facts of a stored photo.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoIndex {
    /// The record it belongs to.
    pub record_id: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SM3 of the bytes.
    pub sm3: [u8; 32],
    /// MIME type.
    pub content_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Declared capture time.
    pub captured_at_ms: i64,
    /// Declared capture position.
    pub position: Option<(f64, f64)>,
    /// EXIF capture time.
    pub exif_time_ms: Option<i64>,
    /// EXIF position.
    pub exif_position: Option<(f64, f64)>,
    /// Review flags (`EvidenceFlag` values).
    pub flags: Vec<i32>,
}

/// A stored photo, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPhoto {
    /// Receipt facts (sha256 = the photo's SHA-256).
    pub receipt: StoredReceipt,
    /// Uploading device.
    pub device_id: String,
    /// Uploading officer.
    pub officer_id: String,
    /// The photo's columns.
    pub index: PhotoIndex,
}

/// An unfinished upload's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialUpload {
    /// Evidence id.
    pub evidence_id: Uuid,
    /// Uploading device.
    pub device_id: String,
    /// Uploading officer.
    pub officer_id: String,
    /// The declared SHA-256 of the whole photo.
    pub header_sha256: [u8; 32],
    /// The declared size.
    pub size_bytes: u64,
    /// Bytes held durably.
    pub durable_offset: u64,
    /// When the upload began.
    pub created_at_ms: i64,
    /// When bytes last became durable.
    pub updated_at_ms: i64,
}

/// How a record and photos point at each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordLinks {
    /// (device, officer) that stored the record, if stored.
    pub creator: Option<(String, String)>,
    /// Photo ids the record lists.
    pub listed: Vec<String>,
    /// Stored photos naming the record: (photo id, device, officer).
    pub naming: Vec<(String, String, String)>,
}

/// The durable facts a receipt reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// Item id.
    pub item_id: Uuid,
    /// Server sequence number.
    pub server_seq: u64,
    /// When first stored.
    pub received_at_ms: i64,
    /// SHA-256 of the stored bytes.
    pub sha256: [u8; 32],
}

/// What committing one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Newly stored.
    Stored(StoredReceipt),
    /// Already stored with the same bytes: the original receipt.
    Replayed(StoredReceipt),
    /// Already stored with different bytes; nothing changed.
    Conflict {
        /// The sequence number of the stored item.
        existing_seq: u64,
    },
}

/// An item without its body (for lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSummary {
    /// Its receipt.
    pub receipt: StoredReceipt,
    /// Its kind (`inspection`, `photo`, …).
    pub kind: String,
    /// The submitting device.
    pub device_id: String,
    /// The submitting officer.
    pub officer_id: String,
    /// Its case, if any.
    pub case_id: Option<String>,
}

/// A stored item, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// Its receipt facts.
    pub receipt: StoredReceipt,
    /// Kind (text form).
    pub kind: String,
    /// Sending device.
    pub device_id: String,
    /// Sending officer.
    pub officer_id: String,
    /// The case, if any.
    pub case_id: Option<String>,
    /// The bytes as received.
    pub body: Vec<u8>,
}

/// A session token's stored facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken {
    /// The officer it signs in.
    pub officer_id: String,
    /// The device it is bound to.
    pub device_id: String,
    /// Expiry.
    pub expires_at_ms: i64,
    /// Set once revoked.
    pub revoked_at_ms: Option<i64>,
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

/// The storage interface.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Stores a batch of items in one durable transaction, in order. Each item
    /// gets its outcome; a failure stores none of them.
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError>;

    /// Reads one item by id.
    async fn item(&self, item_id: Uuid) -> Result<Option<StoredItem>, StorageError>;

    /// Number of stored items.
    async fn item_count(&self) -> Result<u64, StorageError>;

    /// Inserts or updates teams and officers.
    async fn upsert_directory(&self, teams: &[Team], officers: &[Officer]) -> Result<(), StorageError>;

    /// Loads all teams and officers.
    async fn load_directory(&self) -> Result<(Vec<Team>, Vec<Officer>), StorageError>;

    /// Stores a new session token's digest.
    async fn insert_session_token(
        &self,
        token_sha256: &[u8],
        token: &SessionToken,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Looks up a session token by digest.
    async fn session_token(&self, token_sha256: &[u8]) -> Result<Option<SessionToken>, StorageError>;

    /// Revokes every session token of an officer; returns how many.
    async fn revoke_session_tokens(&self, officer_id: &str, now_ms: i64) -> Result<u64, StorageError>;

    /// Reads a stored photo.
    async fn photo(&self, evidence_id: Uuid) -> Result<Option<StoredPhoto>, StorageError>;

    /// Reads a device's unfinished upload of an evidence id.
    async fn partial_upload(
        &self,
        device_id: &str,
        evidence_id: Uuid,
    ) -> Result<Option<PartialUpload>, StorageError>;

    /// Records a new unfinished upload (replacing any with the same key).
    async fn put_partial_upload(&self, upload: &PartialUpload) -> Result<(), StorageError>;

    /// Moves an unfinished upload's durable offset.
    async fn set_partial_offset(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        durable_offset: u64,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Forgets an unfinished upload.
    async fn delete_partial_upload(&self, device_id: &str, evidence_id: Uuid) -> Result<(), StorageError>;

    /// Declared bytes of a device's unfinished uploads.
    async fn partial_bytes_for_device(&self, device_id: &str) -> Result<u64, StorageError>;

    /// Unfinished uploads with no progress since `updated_before_ms`.
    async fn stale_partial_uploads(&self, updated_before_ms: i64)
        -> Result<Vec<PartialUpload>, StorageError>;

    /// How a record and photos point at each other.
    async fn record_links(&self, record_id: Uuid) -> Result<RecordLinks, StorageError>;

    /// Records a photo's thumbnail (stored in the blob store).
    async fn insert_thumbnail(
        &self,
        evidence_id: Uuid,
        sha256: &[u8; 32],
        width: u32,
        height: u32,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// A photo's thumbnail blob, if made.
    async fn thumbnail(&self, evidence_id: Uuid) -> Result<Option<[u8; 32]>, StorageError>;

    /// Whether any photo or thumbnail references the blob.
    async fn blob_is_referenced(&self, sha256: &[u8; 32]) -> Result<bool, StorageError>;

    /// A stored service's history.
    async fn service_history(&self, service_id: Uuid) -> Result<Option<ServiceHistory>, StorageError>;

    /// Every item of a case, ordered by when it happened, then by sequence.
    async fn case_items(&self, case_id: &str) -> Result<Vec<CaseItemRow>, StorageError>;

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

    /// The seq of the newest assignment event (0 if none).
    async fn latest_assignment_seq(&self) -> Result<u64, StorageError>;

    /// The most recent items (newest first), before `before_seq` when given.
    async fn recent_items(
        &self,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ItemSummary>, StorageError>;

    /// One assignment's events, oldest first.
    async fn assignment_history(
        &self,
        assignment_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError>;

    /// Each officer's last known position: from their latest inspection
    /// record (officer id, latitude, longitude, when).
    async fn last_positions(&self) -> Result<Vec<(String, f64, f64, i64)>, StorageError>;

    /// Replaces this node's presence rows: (officer, sessions, last seen ms).
    async fn record_presence(
        &self,
        node_id: &str,
        officers: &[(String, u32, i64)],
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Everyone's presence on other nodes than `except_node`: sessions
    /// counted from rows refreshed at or after `fresh_after_ms`, last seen
    /// from all rows.
    async fn presence(
        &self,
        except_node: &str,
        fresh_after_ms: i64,
    ) -> Result<Vec<(String, u32, i64)>, StorageError>;

    /// Events after `after_seq` in seq order, each with its audience: what a
    /// node relays to its live feeds when another node committed them.
    async fn events_with_audience(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(fieldlink_protocol::pb::AssignmentEvent, Vec<String>)>, StorageError>;

    /// Remembers which device presented a certificate serial (hex).
    async fn note_device_certificate(
        &self,
        device_id: &str,
        serial_hex: &str,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Records revocations of known serials; returns the devices newly revoked.
    async fn record_revocations(
        &self,
        serials_hex: &[String],
        now_ms: i64,
    ) -> Result<Vec<String>, StorageError>;

    /// When a device was first found revoked, if it was.
    async fn device_revoked_at(&self, device_id: &str) -> Result<Option<i64>, StorageError>;

    /// Closes the database (pending writes are already committed).
    async fn close(&self);
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
    /// Page size.
    pub limit: u32,
    /// Only ids below this one (UUIDv7 ids sort by creation time).
    pub before_id: Option<String>,
    /// Visibility for an officer: their team's (team id, its officers).
    pub visible_to_team: Option<(String, Vec<String>)>,
}
