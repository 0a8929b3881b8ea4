//! What the console's API and its event stream both show: evidence
//! summaries, flag names and flag reviews. Below both, so neither imports
//! the other.

use fieldlink_protocol::pb;
use prost::Message;
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
                value["photo"] = media_summary(state.app.storage.as_ref(), &photo).await?;
            }
        }
        out.push(value);
    }
    Ok(out)
}

/// What every view shows of a media item: record, type, size, dimensions,
/// duration and codecs, its flags and those no review has answered yet, and
/// whether its thumbnail exists.
pub async fn media_summary(
    storage: &dyn crate::storage::Storage,
    photo: &crate::storage::StoredPhoto,
) -> Result<Value, crate::storage::StorageError> {
    let item_id = photo.receipt.item_id;
    Ok(json!({
        "record_id": photo.index.record_id,
        "size_bytes": photo.index.size_bytes,
        "content_type": photo.index.content_type,
        "width": photo.index.width,
        "height": photo.index.height,
        "duration_ms": photo.index.duration_ms,
        "codecs": photo.index.codecs,
        "flags": flag_names(&photo.index.flags),
        "pending_flags": flag_reviews(storage, item_id, &photo.index.flags).await?.pending(),
        "thumbnail": storage.thumbnail(item_id).await?.is_some(),
    }))
}

/// Evidence flags by name (`EVIDENCE_FLAG_…`).
pub fn flag_names(flags: &[i32]) -> Vec<&'static str> {
    flags
        .iter()
        .filter_map(|f| pb::EvidenceFlag::try_from(*f).ok().map(|f| f.as_str_name()))
        .collect()
}

/// Most reviews one item may gather (all its flags together).
pub const REVIEWS_PER_ITEM_MAX: usize = 100;

/// An item's flags with the reviews each has had (custody events of action
/// `review_flag`, oldest first).
#[derive(Debug, Default)]
pub struct FlagReviews {
    flags: Vec<&'static str>,
    reviews: Vec<(pb::CustodyEvent, u64)>,
}

impl FlagReviews {
    /// The flags no review has answered yet.
    pub fn pending(&self) -> Vec<&'static str> {
        self.flags
            .iter()
            .copied()
            .filter(|flag| !self.reviews.iter().any(|(review, _)| review.flag == *flag))
            .collect()
    }

    /// How many reviews the item has.
    pub fn count(&self) -> usize {
        self.reviews.len()
    }

    /// The reviews as the console shows them.
    pub fn to_json(&self) -> Vec<Value> {
        self.reviews
            .iter()
            .map(|(review, leaf_index)| {
                json!({
                    "review_id": review.event_id,
                    "flag": review.flag,
                    "note": review.note,
                    "actor": review.actor,
                    "at_ms": review.at_ms,
                    "leaf_index": leaf_index,
                })
            })
            .collect()
    }
}

/// The reviews of an item's flags. No flags, no query.
pub async fn flag_reviews(
    storage: &dyn crate::storage::Storage,
    item_id: uuid::Uuid,
    flags: &[i32],
) -> Result<FlagReviews, crate::storage::StorageError> {
    let flags = flag_names(flags);
    if flags.is_empty() {
        return Ok(FlagReviews::default());
    }
    let stored = storage
        .item_custody(
            item_id,
            Some(crate::custody::REVIEW_FLAG),
            // One more than the most allowed, so a count over it shows.
            (REVIEWS_PER_ITEM_MAX + 1) as u32,
        )
        .await?;
    let mut reviews = Vec::with_capacity(stored.len());
    for custody in stored {
        let review = pb::CustodyEvent::decode(custody.bytes.as_slice())
            .map_err(|e| crate::storage::StorageError::Corrupt(format!("custody event: {e}")))?;
        reviews.push((review, custody.leaf_index));
    }
    Ok(FlagReviews { flags, reviews })
}
