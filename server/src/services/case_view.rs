//! CaseItems: everything stored for one case, in time order.
//!
//! Supervisors see every item; an officer sees the items sent by officers of
//! their own team (the design's rule: one's own and one's team's work).

use fieldlink_protocol::pb;
use fieldlink_protocol::validate;

use crate::directory::Role;
use crate::error::ServiceError;
use crate::services::service::state_of;
use crate::session::Session;
use crate::state::AppState;

/// Lists a case's items.
pub async fn query(
    state: &AppState,
    session: &Session,
    query: pb::CaseItemsQuery,
) -> Result<pb::CaseItems, ServiceError> {
    let case_id = validate::case_id("case_id", &query.case_id)?;
    let rows = state.storage.case_items(&case_id).await?;
    let supervisor = session.officer.role == Role::Supervisor;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let same_team = state
            .directory
            .officer(&row.officer_id)
            .is_some_and(|officer| officer.team_id == session.officer.team_id);
        if !supervisor && !same_team {
            continue;
        }
        let mut item = pb::CaseItem {
            item_id: row.receipt.item_id.to_string(),
            kind: row.kind.clone(),
            server_seq: row.receipt.server_seq,
            received_at_ms: row.receipt.received_at_ms,
            sha256: row.receipt.sha256.to_vec(),
            occurred_at_ms: row.occurred_at_ms,
            device_id: row.device_id,
            officer_id: row.officer_id,
            service_state: 0,
        };
        if row.kind == "service" {
            if let Some(history) = state.storage.service_history(row.receipt.item_id).await? {
                item.service_state = state_of(&history) as i32;
            }
        }
        items.push(item);
    }
    Ok(pb::CaseItems { case_id, items })
}
