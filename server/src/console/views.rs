//! What the console's API and its event stream both show: evidence
//! summaries and flag names. Below both, so neither imports the other.

use fieldlink_protocol::pb;
use serde_json::{json, Value};

use super::{ApiError, ConsoleState};

/// JSON summaries of `items` (in their order), with photo flags and whether a thumbnail exists.
pub async fn evidence_summaries(
    state: &ConsoleState,
    items: Vec<crate::storage::ItemSummary>,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut value = json!({
            "item_id": item.receipt.item_id.to_string(),
            "kind": item.kind,
            "server_seq": item.receipt.server_seq,
            "received_at_ms": item.receipt.received_at_ms,
            "sha256": hex::encode(item.receipt.sha256),
            "device_id": item.device_id,
            "officer_id": item.officer_id,
            "case_id": item.case_id,
        });
        if item.kind == "photo" {
            if let Some(photo) = state.app.storage.photo(item.receipt.item_id).await? {
                value["photo"] = json!({
                    "record_id": photo.index.record_id,
                    "size_bytes": photo.index.size_bytes,
                    "content_type": photo.index.content_type,
                    "width": photo.index.width,
                    "height": photo.index.height,
                    "duration_ms": photo.index.duration_ms,
                    "codecs": photo.index.codecs,
                    "flags": flag_names(&photo.index.flags),
                    "thumbnail": state.app.storage.thumbnail(item.receipt.item_id).await?.is_some(),
                });
            }
        }
        out.push(value);
    }
    Ok(out)
}

/// Evidence flags by name (`EVIDENCE_FLAG_…`).
pub fn flag_names(flags: &[i32]) -> Vec<&'static str> {
    flags
        .iter()
        .filter_map(|f| pb::EvidenceFlag::try_from(*f).ok().map(|f| f.as_str_name()))
        .collect()
}
