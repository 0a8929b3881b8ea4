//! The chain of custody (保管链): every access to evidence outside the
//! terminal that made it — a console view of an item, a download of an
//! original, an export, an audit — is an append-only custody event and a
//! leaf of the log (docs/protocol.md §10a, kind 7), naming who, when, what
//! and from where. A supervisor's review of an evidence flag is one too: it
//! never changes the item, so what was concluded is appended beside it.

use fieldlink_protocol::pb;

use crate::storage::{LogStore, StorageError, StoredCustody};

/// What was done, as the event's `action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An export package was made (`export`).
    Export,
    /// The stored evidence was audited (`audit`).
    Audit,
    /// An item's record was viewed in the console (`view_item`).
    ViewItem,
    /// A photo's original was downloaded (`download_original`).
    DownloadOriginal,
    /// An evidence flag was reviewed (`review_flag`; the event names the
    /// flag and the reviewer's note).
    ReviewFlag,
}

impl Action {
    /// The name stored in the event.
    pub fn name(self) -> &'static str {
        match self {
            Self::Export => fieldlink_protocol::export::EXPORT_ACTION,
            Self::Audit => "audit",
            Self::ViewItem => "view_item",
            Self::DownloadOriginal => "download_original",
            Self::ReviewFlag => REVIEW_FLAG,
        }
    }
}

/// Who did it and from where.
#[derive(Debug, Clone)]
pub struct Accessor {
    /// An officer id, or the operating-system user of a command.
    pub actor: String,
    /// From where: "console 203.0.113.7", "fieldlink-server export", ….
    pub origin: String,
}

/// The action name of a flag review.
pub const REVIEW_FLAG: &str = "review_flag";

/// Records one custody event (and its leaf) now.
pub async fn record(
    storage: &dyn LogStore,
    accessor: &Accessor,
    action: Action,
    case_id: &str,
    item_ids: Vec<String>,
) -> Result<StoredCustody, StorageError> {
    let event = event(uuid::Uuid::now_v7(), accessor, action, case_id, item_ids);
    storage.record_custody(&event).await
}

/// What a reviewer concluded about one flag of one item.
#[derive(Debug, Clone)]
pub struct FlagReview {
    /// The review's id (the client's, so a retry is recognised).
    pub review_id: uuid::Uuid,
    /// The item reviewed.
    pub item_id: uuid::Uuid,
    /// Its case, if any.
    pub case_id: String,
    /// The flag, by name (`EVIDENCE_FLAG_…`).
    pub flag: String,
    /// The reviewer's words.
    pub note: String,
}

/// Records a flag review as a custody event (and its leaf) now.
pub async fn record_review(
    storage: &dyn LogStore,
    accessor: &Accessor,
    review: &FlagReview,
) -> Result<StoredCustody, StorageError> {
    let mut event = event(
        review.review_id,
        accessor,
        Action::ReviewFlag,
        &review.case_id,
        vec![review.item_id.to_string()],
    );
    event.flag.clone_from(&review.flag);
    event.note.clone_from(&review.note);
    storage.record_custody(&event).await
}

fn event(
    event_id: uuid::Uuid,
    accessor: &Accessor,
    action: Action,
    case_id: &str,
    item_ids: Vec<String>,
) -> pb::CustodyEvent {
    pb::CustodyEvent {
        event_id: event_id.to_string(),
        action: action.name().into(),
        actor: accessor.actor.clone(),
        origin: accessor.origin.clone(),
        at_ms: crate::state::system_clock_ms(),
        case_id: case_id.to_owned(),
        item_ids,
        flag: String::new(),
        note: String::new(),
    }
}
