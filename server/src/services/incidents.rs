//! Incidents for supervisors: list, show, dispatch as an assignment to a
//! team, dismiss with a reason (docs/intake.md). Terminals of officers see
//! none of this; they get the assignment.

use fieldlink_protocol::assignment::{self as rules, Assignee};
use fieldlink_protocol::pb::{self, IncidentEventKind as Kind, IncidentState, Priority};
use fieldlink_protocol::{validate, FieldError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ServiceError;
use crate::services::assignment::{check_assignee, commit_new, replay, require_supervisor, Actor};
use crate::services::incident_loop::{change_as, current_sources, no_incident};
use crate::session::Session;
use crate::state::AppState;
use crate::storage::IncidentFilter;

/// Supervisors: incidents, newest first.
pub async fn list(
    state: &AppState,
    session: &Session,
    request: pb::ListIncidents,
) -> Result<pb::IncidentList, ServiceError> {
    require_supervisor(session)?;
    let page = crate::services::paging::Page::parse(request.limit, &request.after)?;
    let state_filter = match request.state {
        0 => None,
        value => Some(validate::known_enum::<IncidentState>("state", value)? as i32),
    };
    let found = state
        .storage
        .list_incidents(&IncidentFilter {
            state: state_filter,
            limit: page.limit,
            before_id: page.before_id.clone(),
        })
        .await?;
    let next_after = page.next_after(
        found.len(),
        found.last().map(|stored| stored.incident.id.as_str()),
    );
    Ok(pb::IncidentList {
        incidents: found.into_iter().map(|stored| stored.incident).collect(),
        next_after,
    })
}

/// Supervisors: one incident and its events.
pub async fn show(
    state: &AppState,
    session: &Session,
    request: pb::IncidentQuery,
) -> Result<pb::IncidentDetail, ServiceError> {
    require_supervisor(session)?;
    let id = validate::any_uuid("incident_id", &request.incident_id)?;
    detail(state, id).await
}

pub(crate) async fn detail(state: &AppState, id: Uuid) -> Result<pb::IncidentDetail, ServiceError> {
    let stored = state.storage.incident(id).await?.ok_or_else(no_incident)?;
    let events = state.storage.incident_history(id).await?;
    Ok(pb::IncidentDetail {
        incident: Some(stored.incident),
        sources: current_sources(&events),
        events,
    })
}

/// Supervisors: dispatch a NEW incident as an assignment to a team. The
/// incident is marked first (under its version check, so two supervisors
/// cannot both dispatch it), then the assignment is created under the
/// client's id; sending the same request again finishes what a failure
/// between the two left undone.
pub async fn dispatch(
    state: &AppState,
    session: &Session,
    request: pb::DispatchIncident,
    body_bytes: &[u8],
) -> Result<pb::IncidentDetail, ServiceError> {
    require_supervisor(session)?;
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    dispatch_as(state, &Actor::of(session), request, sha256).await
}

/// Dispatches as `actor` (a supervisor, or the server's auto-dispatch);
/// `sha256` identifies the request for resends.
pub(crate) async fn dispatch_as(
    state: &AppState,
    actor: &Actor,
    request: pb::DispatchIncident,
    sha256: [u8; 32],
) -> Result<pb::IncidentDetail, ServiceError> {
    let incident_id = validate::any_uuid("incident_id", &request.incident_id)?;
    let assignment_id = validate::item_id("assignment_id", &request.assignment_id)?;
    if request.priority != 0 {
        validate::known_enum::<Priority>("priority", request.priority)?;
    }
    if let Some(_result) = replay(state, assignment_id, &sha256).await? {
        return detail(state, incident_id).await;
    }
    let current = state
        .storage
        .incident(incident_id)
        .await?
        .ok_or_else(no_incident)?
        .incident;
    let team = if request.team_id.is_empty() {
        current.team_id.clone()
    } else {
        request.team_id.clone()
    };
    if team.is_empty() {
        return Err(FieldError::new("team_id", "the incident names no team: choose one").into());
    }
    let matter_code = if request.matter_code.is_empty() {
        current.matter_code.clone()
    } else {
        request.matter_code.clone()
    };
    if matter_code.is_empty() {
        return Err(FieldError::new(
            "matter_code",
            "the incident names no matter: choose one from the catalogue",
        )
        .into());
    }
    if state.catalogue.get().matter(&matter_code).is_none() {
        return Err(FieldError::new(
            "matter_code",
            format!("{matter_code} is not in the enforcement-matters catalogue"),
        )
        .into());
    }
    // The officers need an address to go to; a source that gave none has
    // its coordinates.
    let mut place = current.place.clone();
    if let Some(place) = place.as_mut().filter(|place| place.address.trim().is_empty()) {
        place.address = format!("{:.5}, {:.5}", place.latitude, place.longitude);
    }
    let draft = pb::Assignment {
        id: assignment_id.to_string(),
        title: validate::prefix_within(&current.title, rules::TITLE_BYTES_MAX).to_owned(),
        instructions: request.instructions.clone(),
        matter_code,
        place,
        area: String::new(),
        priority: if request.priority == 0 {
            Priority::Normal as i32
        } else {
            request.priority
        },
        due_at_ms: request.due_at_ms,
        assignee: Some(Assignee::Team(team.clone()).to_wire()),
        ..Default::default()
    };
    let (id, assignee, mut assignment) = rules::parse_new(draft).map_err(|error| {
        // Name the dispatch's own fields.
        FieldError::new(error.field.trim_start_matches("assignment."), error.reason)
    })?;
    check_assignee(state, "team_id", &assignee)?;
    assignment.incident_id = incident_id.to_string();

    // Mark the incident (or find it marked for this very assignment).
    change_as(
        state,
        Uuid::now_v7(),
        incident_id,
        &actor.id,
        "",
        Kind::Dispatched,
        |incident| {
            if incident.state == IncidentState::Dispatched as i32 && incident.assignment_id == id.to_string()
            {
                return Ok(None);
            }
            if incident.state != IncidentState::New as i32 {
                return Err(not_new(incident, "dispatched"));
            }
            incident.state = IncidentState::Dispatched as i32;
            incident.assignment_id = id.to_string();
            incident.team_id = team.clone();
            Ok(Some(()))
        },
    )
    .await?;
    commit_new(state, actor, id, sha256, assignment).await?;
    detail(state, incident_id).await
}

/// Supervisors: dismiss a NEW incident with a reason.
pub async fn dismiss(
    state: &AppState,
    session: &Session,
    request: pb::DismissIncident,
) -> Result<pb::IncidentDetail, ServiceError> {
    require_supervisor(session)?;
    let incident_id = validate::any_uuid("incident_id", &request.incident_id)?;
    let update_id = validate::item_id("update_id", &request.update_id)?;
    validate::required_text("reason", &request.reason, rules::REASON_BYTES_MAX)?;
    if let Some((_, bytes)) = state.storage.incident_event(update_id).await? {
        // A resend: the same dismissal again is answered; another use of the id is a conflict.
        use prost::Message;
        let event =
            pb::IncidentEvent::decode(bytes.as_slice()).map_err(|_| ServiceError::StorageUnavailable)?;
        if event.incident_id != incident_id.to_string() || event.reason != request.reason {
            return Err(ServiceError::Conflict { existing_seq: 0 });
        }
        return detail(state, incident_id).await;
    }
    change_as(
        state,
        update_id,
        incident_id,
        &session.officer.id,
        &request.reason,
        Kind::Dismissed,
        |incident| {
            if incident.state != IncidentState::New as i32 {
                return Err(not_new(incident, "dismissed"));
            }
            incident.state = IncidentState::Dismissed as i32;
            incident.dismiss_reason = request.reason.clone();
            Ok(Some(()))
        },
    )
    .await?;
    detail(state, incident_id).await
}

/// Supervisors: merge a NEW incident into another NEW or DISPATCHED one.
/// Both changes commit together, under both version checks.
pub async fn merge(
    state: &AppState,
    session: &Session,
    request: pb::MergeIncidents,
) -> Result<pb::IncidentDetail, ServiceError> {
    use crate::storage::IncidentCommit;
    require_supervisor(session)?;
    let from_id = validate::any_uuid("incident_id", &request.incident_id)?;
    let into_id = validate::any_uuid("into_incident_id", &request.into_incident_id)?;
    let update_id = validate::item_id("update_id", &request.update_id)?;
    validate::optional_text("reason", &request.reason, rules::REASON_BYTES_MAX)?;
    if from_id == into_id {
        return Err(FieldError::new("into_incident_id", "an incident is not merged into itself").into());
    }
    if state.storage.incident_event(update_id).await?.is_some() {
        // A resend: the merge is done.
        return detail(state, into_id).await;
    }
    for _ in 0..8 {
        let from = state.storage.incident(from_id).await?.ok_or_else(no_incident)?;
        let into = state
            .storage
            .incident(into_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                field: "into_incident_id".into(),
                message: "no such incident".into(),
            })?;
        if from.incident.state != IncidentState::New as i32 {
            return Err(not_new(&from.incident, "merged away"));
        }
        let open = [IncidentState::New as i32, IncidentState::Dispatched as i32];
        if !open.contains(&into.incident.state) {
            return Err(ServiceError::FailedPrecondition {
                field: "into_incident_id".into(),
                message: "only a NEW or DISPATCHED incident takes others in".into(),
            });
        }
        let now = (state.clock)();
        let mut merged = from.incident.clone();
        merged.state = IncidentState::Merged as i32;
        merged.merged_into = into_id.to_string();
        let mut carrying = into.incident.clone();
        carrying.report_count = carrying.report_count.saturating_add(from.incident.report_count);
        carrying.last_report_at_ms = carrying.last_report_at_ms.max(from.incident.last_report_at_ms);
        carrying.merged_ids.push(from_id.to_string());
        let reason = reason_suffix(&request.reason);
        let event = |event_id, incident, kind, reason| {
            supervisor_event(session, now, event_id, incident, kind, reason, Vec::new())
        };
        let away = event(
            update_id,
            merged,
            Kind::Merged,
            format!("并入 merged into {into_id}{reason}"),
        );
        let kept = event(
            Uuid::now_v7(),
            carrying,
            Kind::Absorbed,
            format!("并入 {from_id} merged in{reason}"),
        );
        match state
            .storage
            .change_incidents(&[(Some(from.version), &away), (Some(into.version), &kept)])
            .await?
        {
            IncidentCommit::Committed { .. } => return detail(state, into_id).await,
            IncidentCommit::VersionConflict => continue,
        }
    }
    Err(ServiceError::Contended)
}

/// A supervisor's change of one incident (merge, split) as its event.
pub(crate) fn supervisor_event(
    session: &Session,
    at_ms: i64,
    event_id: Uuid,
    incident: pb::Incident,
    kind: Kind,
    reason: String,
    moved: Vec<pb::IncidentSource>,
) -> pb::IncidentEvent {
    pb::IncidentEvent {
        event_id: event_id.to_string(),
        incident_id: incident.id.clone(),
        kind: kind as i32,
        by: session.officer.id.clone(),
        at_ms,
        reason,
        source: None,
        incident: Some(incident),
        moved,
    }
}

/// A person's reason as the tail of an event's reason (" — why"), if given.
pub(crate) fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" — {reason}")
    }
}

pub(crate) fn not_new(incident: &pb::Incident, what: &str) -> ServiceError {
    let current = IncidentState::try_from(incident.state).unwrap_or(IncidentState::Unspecified);
    ServiceError::FailedPrecondition {
        field: "incident_id".into(),
        message: format!(
            "the incident is {}; only a NEW incident is {what}",
            current.as_str_name()
        ),
    }
}
