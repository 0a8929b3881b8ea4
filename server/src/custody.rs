//! The chain of custody (保管链): every access to evidence outside the
//! terminal that made it — a console view of an item, a download of an
//! original, an export, an audit — is an append-only custody event and a
//! leaf of the log (docs/protocol.md §10a, kind 7), naming who, when, what
//! and from where.

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
}

impl Action {
    /// The name stored in the event.
    pub fn name(self) -> &'static str {
        match self {
            Self::Export => fieldlink_protocol::export::EXPORT_ACTION,
            Self::Audit => "audit",
            Self::ViewItem => "view_item",
            Self::DownloadOriginal => "download_original",
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

/// Records one custody event (and its leaf) now.
pub async fn record(
    storage: &dyn LogStore,
    accessor: &Accessor,
    action: Action,
    case_id: &str,
    item_ids: Vec<String>,
) -> Result<StoredCustody, StorageError> {
    let event = pb::CustodyEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        action: action.name().into(),
        actor: accessor.actor.clone(),
        origin: accessor.origin.clone(),
        at_ms: crate::state::system_clock_ms(),
        case_id: case_id.to_owned(),
        item_ids,
    };
    storage.record_custody(&event).await
}
