//! Items and their receipts: what terminals submit, stored byte-exact.

use async_trait::async_trait;
use uuid::Uuid;

use super::{PhotoIndex, StorageError};

/// Items and receipts: the group commit, reads of one item, the case and
/// console views over them.
#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// Stores a batch of items in one durable transaction, in order. Each item
    /// gets its outcome; a failure stores none of them.
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError>;

    /// Reads one item by id.
    async fn item(&self, item_id: Uuid) -> Result<Option<StoredItem>, StorageError>;

    /// Number of stored items.
    async fn item_count(&self) -> Result<u64, StorageError>;

    /// The officer whose item first named `case_id` (who opened the case),
    /// if any item names it.
    async fn case_opener(&self, case_id: &str) -> Result<Option<String>, StorageError>;

    /// A stored service's history.
    async fn service_history(&self, service_id: Uuid) -> Result<Option<ServiceHistory>, StorageError>;

    /// A case's items, ordered by when they happened, then by sequence:
    /// those after `page.after`, at most `page.limit` (every one when None).
    async fn case_items(&self, case_id: &str, page: &CasePage) -> Result<Vec<CaseItemRow>, StorageError>;

    /// Cases (the case ids items name), the most recently active first,
    /// as `filter` narrows them; counts and times cover every item of each.
    async fn case_summaries(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StorageError>;

    /// The most recent items (newest first), before `before_seq` when given —
    /// monitors' HJ 212 packets left out (machine data, many a minute: they
    /// would crowd the officers' evidence out of the console's feed).
    async fn recent_items(
        &self,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ItemSummary>, StorageError>;

    /// Each officer's last known position: from their latest inspection
    /// record (officer id, latitude, longitude, when).
    async fn last_positions(&self) -> Result<Vec<(String, f64, f64, i64)>, StorageError>;
}

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
    /// A monitor's HJ 212 packet, byte-exact as received.
    MonitorPacket,
    /// An AI-video alert from the signed webhook, byte-exact as received.
    CameraAlert,
    /// A grid worker's report.
    GridReport,
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
            ItemKind::MonitorPacket => "monitor_packet",
            ItemKind::CameraAlert => "camera_alert",
            ItemKind::GridReport => "grid_report",
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
    /// The device's capture signature, checked (None: sent unsigned).
    pub capture: Option<DeviceCapture>,
}

/// A device capture signature the server checked, with the certificate it
/// was checked against (docs/protocol.md §10b).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCapture {
    /// The TLS SignatureScheme code.
    pub scheme: u16,
    /// The capture statement, as signed.
    pub statement: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
    /// The device certificate (DER) of the connection that sent it.
    pub certificate: Vec<u8>,
}

impl DeviceCapture {
    /// The capture as the item's leaf carries it.
    pub fn leaf_capture(&self) -> fieldlink_protocol::log::LeafCapture {
        fieldlink_protocol::log::LeafCapture {
            scheme: self.scheme,
            statement: self.statement.clone(),
            signature: self.signature.clone(),
        }
    }
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
    /// Columns of a monitor packet.
    MonitorPacket {
        /// The monitor's unique code.
        mn: String,
        /// The command code.
        cn: String,
        /// When measured (DataTime), for data packets.
        data_time_ms: Option<i64>,
    },
    /// Columns of a camera alert.
    CameraAlert {
        /// The webhook source (the video platform).
        source: String,
        /// The camera.
        camera_id: String,
        /// The platform's event id.
        event_id: String,
    },
    /// Columns of a grid report.
    GridReport {
        /// Category code.
        category: String,
        /// When it was seen.
        observed_at_ms: i64,
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
    },
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
    /// Its leaf in the transparency log, where the query read it (commits,
    /// resends, single-item reads).
    pub leaf: Option<super::LeafRef>,
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
    /// A service step (delivered, confirmed) another report of which was
    /// stored first — earlier, or by a concurrent batch or node; nothing
    /// changed.
    StepTaken {
        /// When the stored report says the step happened.
        at_ms: i64,
    },
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
    /// The device's capture signature, when it came with one.
    pub capture: Option<DeviceCapture>,
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

/// Which cases to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases whose id contains this (any case of ASCII letters).
    pub id_contains: Option<String>,
    /// Only cases one of these officers sent an item to.
    pub officer_ids: Option<Vec<String>>,
    /// Only cases last active before this item seq (the next page).
    pub before_seq: Option<u64>,
    /// At most this many.
    pub limit: u32,
}

/// One case as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    /// The case id.
    pub case_id: String,
    /// How many items name it.
    pub items: u64,
    /// When its first item was received (ms).
    pub first_at_ms: i64,
    /// When its latest item was received (ms).
    pub last_at_ms: i64,
    /// The seq of its latest item (the paging key).
    pub last_seq: u64,
}

/// Which items of a case to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CasePage {
    /// Only items after this (occurred_at_ms, server_seq).
    pub after: Option<(i64, u64)>,
    /// At most this many; None: all.
    pub limit: Option<u32>,
}

impl CasePage {
    /// Every item.
    pub const ALL: CasePage = CasePage {
        after: None,
        limit: None,
    };
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
