//! SubmitService: an electronic-service confirmation (电子送达).

use fieldlink_protocol::pb;
use fieldlink_protocol::service::Service;

use crate::error::ServiceError;
use crate::services::capture_check;
use crate::services::{commit, participants};
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{ItemIndex, ItemKind, NewItem};
use fieldlink_protocol::log::LeafKind;

/// Stores a service confirmation and returns its receipt.
pub async fn submit(
    state: &AppState,
    session: &Session,
    service: pb::ServiceConfirmation,
    body_bytes: &[u8],
    capture: Option<&pb::CaptureSignature>,
) -> Result<pb::Receipt, ServiceError> {
    let (item_id, sha256) = commit::arrive(&service.id, body_bytes)?;
    let checked = check(state, session, service, sha256, body_bytes)
        .and_then(|item| capture_check::attach(session, capture, LeafKind::Service, item));
    let checked = crate::services::case_access::admit_item(state, session, checked).await;
    commit::commit_checked(state, item_id, &sha256, checked).await
}

/// The confirmation checked and ready to commit.
fn check(
    state: &AppState,
    session: &Session,
    service: pb::ServiceConfirmation,
    sha256: [u8; 32],
    body_bytes: &[u8],
) -> Result<NewItem, ServiceError> {
    let context = state.validation_context();
    let service = Service::parse(service, &context)?;
    participants::check(state, session, "officer_ids", &service.officer_ids, None)?;
    Ok(NewItem {
        item_id: service.id,
        kind: ItemKind::Service,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: Some(service.case_id),
        sha256,
        body: body_bytes.to_vec(),
        capture: None,
        index: ItemIndex::Service {
            document_type: service.document_type as i32,
            document_number: service.document_number,
            document_sha256: service.document_sha256,
            channel: service.channel as i32,
            sent_at_ms: service.sent_at_ms,
            delivered_at_ms: service.delivered_at_ms,
            confirmed_at_ms: service.confirmed_at_ms,
            officer_ids: service.officer_ids,
        },
    })
}

/// The state derived from a service's history.
pub fn state_of(history: &crate::storage::ServiceHistory) -> pb::ServiceState {
    match (history.delivered_at_ms, history.confirmed_at_ms) {
        (_, Some(_)) => pb::ServiceState::Confirmed,
        (Some(_), None) => pb::ServiceState::Delivered,
        (None, None) => pb::ServiceState::Sent,
    }
}
