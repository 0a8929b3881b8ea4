//! SubmitServiceEvent: a later fact about a service, appended to its history.
//!
//! Events never overwrite: a service is delivered once and confirmed once,
//! in that order, each no earlier than what came before.

use fieldlink_protocol::pb::{self, ServiceEventKind};
use fieldlink_protocol::service::ServiceEvent;
use fieldlink_protocol::FieldError;

use crate::error::ServiceError;
use crate::services::capture_check;
use crate::services::commit;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{ItemIndex, ItemKind, NewItem};
use fieldlink_protocol::log::LeafKind;

/// Appends an event to a stored service and returns its receipt.
pub async fn submit(
    state: &AppState,
    session: &Session,
    event: pb::ServiceEvent,
    body_bytes: &[u8],
    capture: Option<&pb::CaptureSignature>,
) -> Result<pb::Receipt, ServiceError> {
    let (item_id, sha256) = commit::arrive(&event.id, body_bytes)?;
    let checked = check(state, session, event, sha256, body_bytes)
        .await
        .and_then(|item| capture_check::attach(session, capture, LeafKind::ServiceEvent, item));
    commit::commit_checked(state, item_id, &sha256, checked).await
}

/// The event checked against its service's history and ready to commit.
async fn check(
    state: &AppState,
    session: &Session,
    event: pb::ServiceEvent,
    sha256: [u8; 32],
    body_bytes: &[u8],
) -> Result<NewItem, ServiceError> {
    let context = state.validation_context();
    let event = ServiceEvent::parse(event, &context)?;
    // Only the serving officers may report on a service; anyone else is told
    // the same as for a service that does not exist.
    let history = state
        .storage
        .service_history(event.service_id)
        .await?
        .filter(|history| history.officer_ids.contains(&session.officer.id))
        .ok_or_else(|| FieldError::new("service_id", "names no service this officer served"))?;
    match event.kind {
        ServiceEventKind::Delivered => {
            if let Some(delivered) = history.delivered_at_ms {
                return Err(already("delivered", delivered));
            }
            if event.at_ms < history.sent_at_ms {
                return Err(FieldError::new("at_ms", "delivery cannot precede sending").into());
            }
        }
        ServiceEventKind::Confirmed => {
            if let Some(confirmed) = history.confirmed_at_ms {
                return Err(already("confirmed", confirmed));
            }
            let Some(delivered) = history.delivered_at_ms else {
                return Err(ServiceError::FailedPrecondition {
                    field: "kind".into(),
                    message: "the service is not delivered yet; report DELIVERED first".into(),
                });
            };
            if event.at_ms < delivered {
                return Err(FieldError::new("at_ms", "confirmation cannot precede delivery").into());
            }
        }
        ServiceEventKind::Unspecified => return Err(FieldError::new("kind", "is required").into()),
    }
    // The event belongs to the service's case.
    let service_case = state
        .storage
        .item(event.service_id)
        .await?
        .and_then(|item| item.case_id);
    Ok(NewItem {
        item_id: event.id,
        kind: ItemKind::ServiceEvent,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: service_case,
        sha256,
        body: body_bytes.to_vec(),
        capture: None,
        index: ItemIndex::ServiceEvent {
            service_id: event.service_id.to_string(),
            kind: event.kind as i32,
            at_ms: event.at_ms,
        },
    })
}

fn already(what: &str, at_ms: i64) -> ServiceError {
    ServiceError::FailedPrecondition {
        field: "kind".into(),
        message: format!("the service is already {what} (at {at_ms} ms); events never overwrite"),
    }
}
