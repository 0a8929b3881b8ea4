//! Splitting an incident (拆分): reports that joined one incident but are
//! about different things move to a new NEW incident (docs/intake.md §2).
//! The incident split gets a SPLIT event, the new one a SPLIT_OFF event,
//! both listing the reports moved, committed together; a report's incident
//! is its latest move from then on.

use fieldlink_protocol::assignment as rules;
use fieldlink_protocol::pb::{self, IncidentEventKind as Kind, IncidentState};
use fieldlink_protocol::{validate, FieldError};
use uuid::Uuid;

use crate::error::ServiceError;
use crate::services::assignment::require_supervisor;
use crate::services::incident_loop::{current_sources, no_incident};
use crate::services::incidents::{detail, not_new, reason_suffix, supervisor_event};
use crate::session::Session;
use crate::state::AppState;

/// Reports one split moves, at most.
pub const SPLIT_ITEMS_MAX: usize = 500;

/// Supervisors: split reports off a NEW incident into a new NEW one. The
/// reports named move; at least one stays. Both changes commit together,
/// the incident's under its version check.
pub async fn split(
    state: &AppState,
    session: &Session,
    request: pb::SplitIncident,
) -> Result<pb::IncidentDetail, ServiceError> {
    use crate::storage::IncidentCommit;
    require_supervisor(session)?;
    let from_id = validate::any_uuid("incident_id", &request.incident_id)?;
    let update_id = validate::item_id("update_id", &request.update_id)?;
    let new_id = validate::item_id("new_incident_id", &request.new_incident_id)?;
    validate::optional_text("reason", &request.reason, rules::REASON_BYTES_MAX)?;
    if !request.category.is_empty() {
        validate::category_code("category", &request.category)?;
    }
    if request.item_ids.is_empty() || request.item_ids.len() > SPLIT_ITEMS_MAX {
        return Err(FieldError::new(
            "item_ids",
            format!("name 1 to {SPLIT_ITEMS_MAX} of the incident's reports to move"),
        )
        .into());
    }
    let mut moving = Vec::with_capacity(request.item_ids.len());
    for (index, item) in request.item_ids.iter().enumerate() {
        let id = validate::any_uuid(&format!("item_ids[{index}]"), item)?.to_string();
        if moving.contains(&id) {
            return Err(FieldError::new(format!("item_ids[{index}]"), "is named twice").into());
        }
        moving.push(id);
    }
    if let Some((_, bytes)) = state.storage.incident_event(update_id).await? {
        // A resend: the split is done (the same split, or a refusal).
        use prost::Message;
        let event =
            pb::IncidentEvent::decode(bytes.as_slice()).map_err(|_| ServiceError::StorageUnavailable)?;
        if event.incident_id != from_id.to_string() || event.kind != Kind::Split as i32 {
            return Err(ServiceError::Conflict { existing_seq: 0 });
        }
        return detail(state, new_id).await;
    }
    if state.storage.incident(new_id).await?.is_some() {
        return Err(FieldError::new(
            "new_incident_id",
            "names an incident that exists: choose a new id",
        )
        .into());
    }
    for _ in 0..8 {
        let from = state.storage.incident(from_id).await?.ok_or_else(no_incident)?;
        if from.incident.state != IncidentState::New as i32 {
            return Err(not_new(&from.incident, "split"));
        }
        let sources = current_sources(&state.storage.incident_history(from_id).await?);
        let mut moved = Vec::with_capacity(moving.len());
        for (index, id) in moving.iter().enumerate() {
            match sources.iter().find(|source| &source.item_id == id) {
                Some(source) => moved.push(source.clone()),
                None => {
                    return Err(ServiceError::FailedPrecondition {
                        field: format!("item_ids[{index}]"),
                        message: "is not one of the incident's reports".into(),
                    })
                }
            }
        }
        let staying: Vec<_> = sources
            .iter()
            .filter(|source| !moving.contains(&source.item_id))
            .collect();
        let Some(first_staying) = staying.first() else {
            return Err(FieldError::new("item_ids", "at least one report stays with the incident").into());
        };
        let now = (state.clock)();
        let reason = reason_suffix(&request.reason);
        // What stays: its first remaining report gives its place and title.
        let mut kept = from.incident.clone();
        kept.report_count = kept.report_count.saturating_sub(moved.len() as u32).max(1);
        kept.place = first_staying.place.clone();
        kept.title = first_staying.summary.clone();
        kept.last_report_at_ms = staying
            .iter()
            .map(|s| s.at_ms)
            .max()
            .unwrap_or(kept.last_report_at_ms);
        let category = if request.category.is_empty() {
            from.incident.category.clone()
        } else {
            request.category.clone()
        };
        let matter_code = if category == from.incident.category {
            from.incident.matter_code.clone()
        } else {
            String::new()
        };
        let first_moved = &moved[0];
        let opened = pb::Incident {
            id: new_id.to_string(),
            category,
            matter_code,
            place: first_moved.place.clone(),
            state: IncidentState::New as i32,
            opened_at_ms: now,
            last_report_at_ms: moved.iter().map(|s| s.at_ms).max().unwrap_or(now),
            report_count: moved.len() as u32,
            team_id: from.incident.team_id.clone(),
            assignment_id: String::new(),
            title: first_moved.summary.clone(),
            dismiss_reason: String::new(),
            merged_into: String::new(),
            merged_ids: Vec::new(),
        };
        let event = |event_id, incident, kind, reason| {
            supervisor_event(session, now, event_id, incident, kind, reason, moved.clone())
        };
        let away = event(
            update_id,
            kept,
            Kind::Split,
            format!("拆分 split off into {new_id}{reason}"),
        );
        let new = event(
            Uuid::now_v7(),
            opened,
            Kind::SplitOff,
            format!("拆分自 split off from {from_id}{reason}"),
        );
        match state
            .storage
            .change_incidents(&[(Some(from.version), &away), (None, &new)])
            .await?
        {
            IncidentCommit::Committed { .. } => return detail(state, new_id).await,
            IncidentCommit::VersionConflict => continue,
        }
    }
    Err(ServiceError::Contended)
}
