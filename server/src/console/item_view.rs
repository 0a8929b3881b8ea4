//! One item as the console opens it, and the review of its flags.
//!
//! - `GET /api/items/{id}`: the receipt with both digests, the decoded
//!   content, the media facts (EXIF time and place beside what the terminal
//!   declared), each flag with its reviews, what post-processing found, and
//!   the chain of custody. Opening an item is itself a custody event.
//! - `POST /api/items/{id}/flag-reviews`: a supervisor's conclusion about
//!   one flag, appended as a custody event (and a leaf of the log); the
//!   item, its flags and its receipt never change.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;
use fieldlink_protocol::pb::{self, Code};
use fieldlink_protocol::status::reason;
use prost::Message;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::PathId;
use super::request::{accessor, json_body, uuid_param};
use super::views::{flag_names, flag_reviews, media_summary, FlagReviews, REVIEWS_PER_ITEM_MAX};
use super::{supervisor, ApiError, ConsoleState};
use crate::custody::{self, Action, FlagReview};
use crate::services::capture_check::sm3_of;

/// Most custody events an item view lists (oldest first).
const CUSTODY_SHOWN_MAX: u32 = 200;

/// Longest review note, in bytes of UTF-8.
pub const REVIEW_NOTE_BYTES_MAX: usize = 500;

/// The item, decoded, with its receipt, media facts, flags and custody.
pub async fn one_item(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let id = uuid_param("item_id", &id)?;
    let item = state
        .app
        .storage
        .item(id)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such item"))?;
    // Viewing evidence is a custody event, logged before it is shown.
    let storage = state.app.storage.as_ref();
    let case_id = item.case_id.clone().unwrap_or_default();
    custody::record(
        storage,
        &accessor(&session, peer),
        Action::ViewItem,
        &case_id,
        vec![id.to_string()],
    )
    .await?;
    let custody_history = custody_json(&storage.item_custody(id, None, CUSTODY_SHOWN_MAX).await?);
    let photo = state.app.storage.photo(id).await?;
    // Both digests of what the receipt stands for: the file for media, the
    // item's bytes otherwise.
    let (sha256, sm3) = match &photo {
        Some(photo) => (photo.receipt.sha256, photo.index.sm3),
        None => (item.receipt.sha256, sm3_of(&item.body)),
    };
    let mut value = json!({
        "item_id": id.to_string(),
        "kind": item.kind,
        "receipt": {
            "server_seq": item.receipt.server_seq,
            "received_at_ms": item.receipt.received_at_ms,
            "sha256": hex::encode(sha256),
            "sm3": hex::encode(sm3),
        },
        "device_id": item.device_id,
        "officer_id": item.officer_id,
        "case_id": item.case_id,
        "body": decode_body(&item.kind, &item.body),
        "body_bytes": item.body.len(),
        "leaf_index": item.receipt.leaf.map(|leaf| leaf.index),
        "device_signed": item.capture.is_some(),
        "custody": custody_history,
    });
    if let Some(photo) = photo {
        let place = |p: Option<(f64, f64)>| {
            p.map(|(latitude, longitude)| json!({"latitude": latitude, "longitude": longitude}))
        };
        let reviews = flag_reviews(storage, id, &photo.index.flags).await?;
        let mut facts = media_summary(storage, &photo).await?;
        let more = json!({
            "sha256": hex::encode(photo.receipt.sha256),
            "sm3": hex::encode(photo.index.sm3),
            "container_time_ms": photo.index.container_time_ms,
            "captured_at_ms": photo.index.captured_at_ms,
            "position": place(photo.index.position),
            "exif_time_ms": photo.index.exif_time_ms,
            "exif_position": place(photo.index.exif_position),
            "reviews": reviews.to_json(),
        });
        if let (Some(facts), Value::Object(more)) = (facts.as_object_mut(), more) {
            facts.extend(more);
        }
        value["photo"] = facts;
    }
    // The enforcement credentials of the officers it names, as the directory
    // had recorded them when it was received, and whether each was valid
    // when the work was done.
    let named: Vec<String> = ["officerIds", "interviewerIds"]
        .iter()
        .filter_map(|field| value["body"][field].as_array())
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    if !named.is_empty() {
        let done_at = value["body"]["startedAtMs"]
            .as_str()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(item.receipt.received_at_ms);
        let recorded = storage
            .credentials_recorded_by(&named, item.receipt.received_at_ms)
            .await?;
        value["credentials"] = json!(named
            .iter()
            .map(|officer| {
                let record = recorded.iter().find(|(id, _)| id == officer).map(|(_, r)| r);
                json!({
                    "officer_id": officer,
                    "credential_number": record.map(|r| r.credential_number.as_str()).filter(|n| !n.is_empty()),
                    "valid_from": record.and_then(|r| r.valid_from.as_deref()),
                    "valid_until": record.and_then(|r| r.valid_until.as_deref()),
                    "in_force": record.is_some_and(|r| r.in_force_at(done_at)),
                })
            })
            .collect::<Vec<_>>());
    }
    // What post-processing found after the receipt (an undecodable image).
    value["findings"] = json!(state
        .app
        .storage
        .media_findings(id)
        .await?
        .into_iter()
        .map(|f| json!({"finding": f.finding, "detail": f.detail, "at_ms": f.at_ms}))
        .collect::<Vec<_>>());
    Ok(Json(value))
}

#[derive(Deserialize)]
struct ReviewForm {
    review_id: String,
    flag: String,
    note: String,
}

/// Appends a review of one of the item's flags; a retry with the same
/// `review_id` answers as the first time.
pub async fn review_flag(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let item_id = uuid_param("item_id", &id)?;
    let form: ReviewForm = json_body(&body)?;
    let review_id = uuid_param("review_id", &form.review_id)?;
    let note = form.note.trim();
    if note.is_empty() {
        return Err(ApiError::invalid("note", "must say what the review concluded"));
    }
    if note.len() > REVIEW_NOTE_BYTES_MAX {
        return Err(ApiError::invalid(
            "note",
            &format!("must be at most {REVIEW_NOTE_BYTES_MAX} bytes"),
        ));
    }
    let storage = state.app.storage.as_ref();
    let item = storage
        .item(item_id)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such item"))?;
    let flags = storage
        .photo(item_id)
        .await?
        .map(|p| p.index.flags)
        .unwrap_or_default();
    if !flag_names(&flags).contains(&form.flag.as_str()) {
        return Err(ApiError::invalid("flag", "is not one of this item's flags"));
    }
    // A retry of a review already made: the same answer.
    if let Some(existing) = storage.custody_event(review_id).await? {
        let event = pb::CustodyEvent::decode(existing.bytes.as_slice())
            .map_err(|e| ApiError::from(crate::storage::StorageError::Corrupt(e.to_string())))?;
        let same = event.action == custody::REVIEW_FLAG
            && event.item_ids == [item_id.to_string()]
            && event.flag == form.flag;
        if !same {
            return Err(ApiError::new(
                Code::AlreadyExists,
                reason::ID_CONFLICT,
                "review_id is already the id of another custody event",
            ));
        }
    } else {
        let before = flag_reviews(storage, item_id, &flags).await?;
        if before.count() >= REVIEWS_PER_ITEM_MAX {
            return Err(ApiError::new(
                Code::FailedPrecondition,
                reason::INVALID_STATE,
                &format!("this item already has {REVIEWS_PER_ITEM_MAX} reviews"),
            ));
        }
        let review = FlagReview {
            review_id,
            item_id,
            case_id: item.case_id.clone().unwrap_or_default(),
            flag: form.flag.clone(),
            note: note.to_owned(),
        };
        custody::record_review(storage, &accessor(&session, peer), &review).await?;
    }
    let reviews: FlagReviews = flag_reviews(storage, item_id, &flags).await?;
    Ok(Json(json!({
        "item_id": item_id.to_string(),
        "review_id": review_id.to_string(),
        "flags": flag_names(&flags),
        "pending_flags": reviews.pending(),
        "reviews": reviews.to_json(),
    })))
}

/// Custody events as the console shows them.
fn custody_json(events: &[crate::storage::StoredCustody]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|stored| {
            let event = pb::CustodyEvent::decode(stored.bytes.as_slice()).ok()?;
            Some(json!({
                "event_id": event.event_id,
                "action": event.action,
                "actor": event.actor,
                "origin": event.origin,
                "at_ms": event.at_ms,
                "case_id": event.case_id,
                "flag": event.flag,
                "note": event.note,
                "leaf_index": stored.leaf_index,
            }))
        })
        .collect()
}

/// The stored item bytes as proto3 JSON, by kind.
pub fn decode_body(kind: &str, bytes: &[u8]) -> Value {
    fn as_json<M: Message + Default + serde::Serialize>(bytes: &[u8]) -> Value {
        M::decode(bytes)
            .ok()
            .and_then(|m| serde_json::to_value(m).ok())
            .unwrap_or(Value::Null)
    }
    match kind {
        "inspection" => as_json::<pb::InspectionRecord>(bytes),
        "photo" => as_json::<pb::PhotoHeader>(bytes),
        "service" => as_json::<pb::ServiceConfirmation>(bytes),
        "service_event" => as_json::<pb::ServiceEvent>(bytes),
        "interview" => as_json::<pb::InterviewRecord>(bytes),
        "grid_report" => as_json::<pb::GridReport>(bytes),
        // The alert as posted, its snapshot summarized (the bytes are in the item).
        "camera_alert" => match serde_json::from_slice::<Value>(bytes) {
            Ok(mut alert) => {
                if let Some(snapshot) = alert.get_mut("snapshot_base64") {
                    let length = snapshot.as_str().map_or(0, str::len);
                    *snapshot = Value::String(format!("({length} base64 characters)"));
                }
                alert
            }
            Err(_) => Value::Null,
        },
        "monitor_packet" => Value::String(String::from_utf8_lossy(bytes).trim_end().to_owned()),
        _ => Value::Null,
    }
}
