//! SubmitInspection: check the record, check who may submit it, commit it,
//! answer with the receipt.

use fieldlink_protocol::inspection::{outcome_is_enforcement_action, Inspection};
use fieldlink_protocol::pb;
use fieldlink_protocol::FieldError;

use crate::error::ServiceError;
use crate::services::capture_check;
use crate::services::{commit, participants};
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{ItemIndex, ItemKind, NewItem};
use fieldlink_protocol::log::LeafKind;

/// Stores an inspection record and returns its receipt.
///
/// `body_bytes` is the record exactly as received; it is what is stored and hashed.
pub async fn submit(
    state: &AppState,
    session: &Session,
    record: pb::InspectionRecord,
    body_bytes: &[u8],
    capture: Option<&pb::CaptureSignature>,
) -> Result<pb::Receipt, ServiceError> {
    let (item_id, sha256) = commit::arrive(&record.id, body_bytes)?;
    let orders_rectification = record.rectify_by_ms != 0;
    let follow_up = orders_rectification.then(|| record.clone());
    let checked = check(state, session, record, sha256, body_bytes)
        .and_then(|item| capture_check::attach(session, capture, LeafKind::Inspection, item));
    let checked = crate::services::case_access::admit_item(state, session, checked).await;
    let receipt = commit::commit_checked(state, item_id, &sha256, checked).await?;
    // The record is durable; its follow-up (复查) is scheduled now. A resend
    // of the record finishes what a failure here left undone.
    if let Some(record) = follow_up {
        if let Err(error) = crate::services::follow_up::ensure(state, session, &record).await {
            tracing::warn!(%error, record = %record.id, "follow-up inspection not scheduled yet");
        }
    }
    Ok(receipt)
}

/// The record checked and ready to commit.
fn check(
    state: &AppState,
    session: &Session,
    record: pb::InspectionRecord,
    sha256: [u8; 32],
    body_bytes: &[u8],
) -> Result<NewItem, ServiceError> {
    let context = state.validation_context();
    let inspection = Inspection::parse(record, &context)?;
    check_against_directory(state, session, &inspection)?;
    Ok(NewItem {
        item_id: inspection.id,
        kind: ItemKind::Inspection,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: inspection.case_id.clone(),
        sha256,
        body: body_bytes.to_vec(),
        capture: None,
        index: ItemIndex::Inspection {
            matter_code: inspection.matter_code,
            outcome: inspection.outcome as i32,
            started_at_ms: inspection.started_at_ms,
            latitude: inspection.place.latitude,
            longitude: inspection.place.longitude,
            assignment_id: inspection.assignment_id.map(|id| id.to_string()),
            officer_ids: inspection.officer_ids,
            photo_ids: inspection.photo_ids.iter().map(|id| id.to_string()).collect(),
        },
    })
}

/// The rules that need the catalogue and the directory.
fn check_against_directory(
    state: &AppState,
    session: &Session,
    inspection: &Inspection,
) -> Result<(), ServiceError> {
    // The catalogue version in force when the inspection began decides.
    let catalogue = state.catalogue.get();
    let matter = catalogue
        .matter_at(&inspection.matter_code, inspection.started_at_ms)
        .map_err(|why| FieldError::new("matter_code", why.to_string()))?;
    fieldlink_protocol::inspection::check_outcome_under_matter(
        inspection.outcome as i32,
        &matter.code,
        matter.enforcement_measure,
    )?;
    participants::check(
        state,
        session,
        "officer_ids",
        &inspection.officer_ids,
        outcome_is_enforcement_action(inspection.outcome).then_some(inspection.started_at_ms),
    )
}
