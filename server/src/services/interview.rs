//! SubmitInterview: remote-interview metadata (远程询问).

use fieldlink_protocol::interview::Interview;
use fieldlink_protocol::pb;

use crate::error::ServiceError;
use crate::services::capture_check;
use crate::services::{commit, participants};
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{ItemIndex, ItemKind, NewItem};
use fieldlink_protocol::log::LeafKind;

/// Stores an interview record and returns its receipt.
pub async fn submit(
    state: &AppState,
    session: &Session,
    record: pb::InterviewRecord,
    body_bytes: &[u8],
    capture: Option<&pb::CaptureSignature>,
) -> Result<pb::Receipt, ServiceError> {
    let (item_id, sha256) = commit::arrive(&record.id, body_bytes)?;
    let checked = check(state, session, record, sha256, body_bytes)
        .and_then(|item| capture_check::attach(session, capture, LeafKind::Interview, item));
    let checked = crate::services::case_access::admit_item(state, session, checked).await;
    commit::commit_checked(state, item_id, &sha256, checked).await
}

/// The record checked and ready to commit.
fn check(
    state: &AppState,
    session: &Session,
    record: pb::InterviewRecord,
    sha256: [u8; 32],
    body_bytes: &[u8],
) -> Result<NewItem, ServiceError> {
    let context = state.validation_context();
    let interview = Interview::parse(record, &context)?;
    // Interviews are investigative acts: credentialed officers (art. 42).
    participants::check(
        state,
        session,
        "interviewer_ids",
        &interview.interviewer_ids,
        Some(interview.started_at_ms),
    )?;
    Ok(NewItem {
        item_id: interview.id,
        kind: ItemKind::Interview,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: Some(interview.case_id),
        sha256,
        body: body_bytes.to_vec(),
        capture: None,
        index: ItemIndex::Interview {
            started_at_ms: interview.started_at_ms,
            ended_at_ms: interview.ended_at_ms,
            interviewer_ids: interview.interviewer_ids,
        },
    })
}
