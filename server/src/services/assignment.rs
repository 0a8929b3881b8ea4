//! Assignments (派单): supervisors create, cancel, reassign and list; officers
//! move them along the lifecycle; the server marks delivery and overdue.
//!
//! Every change is an event appended to the log together with the new
//! current state, under a version check: two changes that read the same
//! state cannot both commit. That is how the first acceptance of a team
//! assignment wins — the others read the accepted state on their retry and
//! are refused, naming it — and every team member is told.

use std::time::Duration;

use fieldlink_protocol::assignment::{self as rules, Assignee, Update};
use fieldlink_protocol::pb::{self, AssignmentEventKind as Kind, AssignmentState as State};
use fieldlink_protocol::{validate, FieldError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::directory::Role;
use crate::error::ServiceError;
use crate::services::commit::wire_receipt;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{
    AssignmentCommit, AssignmentFilter, LeafRef, NewAssignmentEvent, StoredAssignment, StoredReceipt,
};

/// Who causes a change.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Officer or supervisor id, or `system`.
    pub id: String,
    /// Device id, empty for the system.
    pub device_id: String,
}

impl Actor {
    /// The signed-in person.
    pub fn of(session: &Session) -> Self {
        Self {
            id: session.officer.id.clone(),
            device_id: session.device_id.clone(),
        }
    }

    /// The server itself (delivery marks, overdue reminders).
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            device_id: String::new(),
        }
    }
}

/// Attempts at a change before giving up on concurrent writers.
const CHANGE_ATTEMPTS_MAX: usize = 16;

/// Supervisors: create an assignment.
pub async fn create(
    state: &AppState,
    session: &Session,
    request: pb::CreateAssignment,
    body_bytes: &[u8],
) -> Result<pb::AssignmentResult, ServiceError> {
    require_supervisor(session)?;
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    let draft = request
        .assignment
        .ok_or_else(|| FieldError::new("assignment", "is required"))?;
    let (id, assignee, assignment) = rules::parse_new(draft)?;
    if let Some(result) = replay(state, id, &sha256).await? {
        return Ok(result);
    }
    if state.catalogue.get().matter(&assignment.matter_code).is_none() {
        return Err(FieldError::new(
            "assignment.matter_code",
            format!(
                "{} is not in the enforcement-matters catalogue",
                assignment.matter_code
            ),
        )
        .into());
    }
    check_assignee(state, "assignment", &assignee)?;
    commit_new(state, &Actor::of(session), id, sha256, assignment).await
}

/// Commits a checked new assignment (from a supervisor's form, an
/// incident's dispatch, or the server's follow-up of a rectification
/// order): DISPATCHED, created by `actor`.
pub(crate) async fn commit_new(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    sha256: [u8; 32],
    mut assignment: pb::Assignment,
) -> Result<pb::AssignmentResult, ServiceError> {
    let now_ms = (state.clock)();
    assignment.created_by = actor.id.clone();
    assignment.created_at_ms = now_ms;
    assignment.state = State::Dispatched as i32;
    let audience = audience(state, &assignment);
    let event = pb::AssignmentEvent {
        seq: 0,
        kind: Kind::Created as i32,
        assignment: Some(assignment),
        by: actor.id.clone(),
        device_id: actor.device_id.clone(),
        at_ms: now_ms,
        reason: String::new(),
    };
    let new = NewAssignmentEvent {
        event_id: id,
        request_sha256: sha256,
        event,
        audience,
    };
    // The writer takes the event (and its audience) to publish it.
    let answer = new.event.clone();
    match state.events.commit(None, new).await? {
        AssignmentCommit::Committed { seq } => Ok(result_of(state, id, sha256, answer, seq).await?),
        AssignmentCommit::VersionConflict | AssignmentCommit::DuplicateEventId => {
            // The same id arrived twice at once: answer as a resend.
            replay(state, id, &sha256)
                .await?
                .ok_or(ServiceError::Conflict { existing_seq: 0 })
        }
    }
}

/// Officers: accept, reject, en route, on site, complete.
pub async fn update(
    state: &AppState,
    session: &Session,
    request: pb::UpdateAssignment,
    body_bytes: &[u8],
) -> Result<pb::AssignmentResult, ServiceError> {
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    let update = Update::parse(request)?;
    if let Some(result) = replay(state, update.update_id, &sha256).await? {
        return Ok(result);
    }
    if update.transition == Kind::Completed {
        check_closing_records(state, session, &update).await?;
    }
    let actor = Actor::of(session);
    let result = change(
        state,
        update.update_id,
        sha256,
        update.assignment_id,
        &actor,
        |current| {
            let current_state = state_of(&current.assignment);
            if !may_act_on(state, session, &current.assignment) {
                return Err(refuse_actor(state, session, &current.assignment, current_state));
            }
            if update.transition == Kind::Rejected
                && matches!(Assignee::of(&current.assignment), Some(Assignee::Team(_)))
            {
                return Err(ServiceError::FailedPrecondition {
                    field: "transition".into(),
                    message:
                        "a team assignment is declined by not accepting it; ask a supervisor to reassign"
                            .into(),
                });
            }
            let next = rules::next_state(current_state, update.transition).map_err(illegal)?;
            let mut assignment = current.assignment.clone();
            assignment.state = next as i32;
            let mut audience = audience(state, &current.assignment);
            if update.transition == Kind::Accepted {
                assignment.accepted_by = session.officer.id.clone();
            }
            if update.transition == Kind::Completed {
                assignment.closing_record_ids = update.record_ids.iter().map(Uuid::to_string).collect();
            }
            audience.extend(self::audience(state, &assignment));
            Ok(Planned {
                kind: update.transition,
                assignment,
                audience,
                reason: update.reason.clone(),
            })
        },
    )
    .await?;
    if update.transition == Kind::Completed {
        follow_incident(state, &result, &actor).await;
    }
    Ok(result)
}

/// A completion's records must be stored inspection records made for this
/// assignment by the officer completing it (its submitter or one of the
/// officers present): work is closed by the evidence of whoever did it.
async fn check_closing_records(
    state: &AppState,
    session: &Session,
    update: &Update,
) -> Result<(), ServiceError> {
    use prost::Message;
    for (index, record_id) in update.record_ids.iter().enumerate() {
        let field = format!("record_ids[{index}]");
        let Some(item) = state
            .storage
            .item(*record_id)
            .await?
            .filter(|item| item.kind == "inspection")
        else {
            return Err(FieldError::new(
                field,
                "is not a stored inspection record (submit the records before the completion)",
            )
            .into());
        };
        let record = pb::InspectionRecord::decode(item.body.as_slice())
            .map_err(|_| ServiceError::StorageUnavailable)?;
        if record.assignment_id != update.assignment_id.to_string() {
            return Err(ServiceError::FailedPrecondition {
                field,
                message: "the record was not made for this assignment (its assignment_id differs)".into(),
            });
        }
        let me = &session.officer.id;
        if &item.officer_id != me && !record.officer_ids.contains(me) {
            return Err(ServiceError::FailedPrecondition {
                field,
                message: "the record was made by someone else: complete with your own records".into(),
            });
        }
    }
    Ok(())
}

/// Supervisors: approve completed work or return it with a reason.
pub async fn review(
    state: &AppState,
    session: &Session,
    request: pb::ReviewAssignment,
    body_bytes: &[u8],
) -> Result<pb::AssignmentResult, ServiceError> {
    require_supervisor(session)?;
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    let review = rules::Review::parse(request)?;
    if let Some(result) = replay(state, review.update_id, &sha256).await? {
        follow_incident(state, &result, &Actor::of(session)).await;
        return Ok(result);
    }
    // The grid workers who reported the incident are told its outcome: the
    // approval goes to their feeds too.
    let reporters = match review.transition {
        Kind::Approved => reporters_of(state, review.assignment_id).await?,
        _ => Vec::new(),
    };
    let result = change(
        state,
        review.update_id,
        sha256,
        review.assignment_id,
        &Actor::of(session),
        |current| {
            let current_state = state_of(&current.assignment);
            if current_state != State::PendingReview {
                return Err(ServiceError::FailedPrecondition {
                    field: "assignment_id".into(),
                    message: format!(
                        "the assignment is {}; only work PENDING_REVIEW is reviewed",
                        current_state.as_str_name()
                    ),
                });
            }
            let next = rules::next_state(current_state, review.transition).map_err(illegal)?;
            let mut assignment = current.assignment.clone();
            assignment.state = next as i32;
            let mut audience = audience(state, &current.assignment);
            audience.extend(reporters.iter().cloned());
            Ok(Planned {
                kind: review.transition,
                audience,
                assignment,
                reason: review.reason.clone(),
            })
        },
    )
    .await?;
    follow_incident(state, &result, &Actor::of(session)).await;
    Ok(result)
}

/// The grid workers whose reports joined the incident an assignment was
/// dispatched for.
async fn reporters_of(state: &AppState, assignment_id: Uuid) -> Result<Vec<String>, ServiceError> {
    let Some(stored) = state.storage.assignment(assignment_id).await? else {
        return Ok(Vec::new());
    };
    let Ok(incident_id) = Uuid::parse_str(&stored.assignment.incident_id) else {
        return Ok(Vec::new());
    };
    // Its own reports and those of the incidents merged into it.
    let mut incidents = vec![incident_id];
    if let Some(incident) = state.storage.incident(incident_id).await? {
        incidents.extend(
            incident
                .incident
                .merged_ids
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok()),
        );
    }
    let mut reporters = Vec::new();
    for id in incidents {
        let history = state.storage.incident_history(id).await?;
        reporters.extend(
            crate::services::incident_loop::current_sources(&history)
                .into_iter()
                .filter(|source| source.kind == "grid_report")
                .map(|source| source.source_id),
        );
    }
    reporters.sort();
    reporters.dedup();
    Ok(reporters)
}

/// Moves the incident an assignment came from along with the assignment's
/// review (completed → pending review, approved → closed, returned →
/// dispatched again). Idempotent: resends move nothing twice. The
/// assignment is committed already; a failure here is logged and mended
/// by the next change or resend.
async fn follow_incident(state: &AppState, result: &pb::AssignmentResult, actor: &Actor) {
    let Some(assignment) = &result.assignment else {
        return;
    };
    if assignment.incident_id.is_empty() {
        return;
    }
    if let Err(error) = crate::services::incident_loop::follow_assignment(state, assignment, &actor.id).await
    {
        tracing::warn!(%error, incident = %assignment.incident_id, "incident not moved with its assignment");
    }
}

/// Supervisors: cancel.
pub async fn cancel(
    state: &AppState,
    session: &Session,
    request: pb::CancelAssignment,
    body_bytes: &[u8],
) -> Result<pb::AssignmentResult, ServiceError> {
    require_supervisor(session)?;
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    let update_id = validate::item_id("update_id", &request.update_id)?;
    let assignment_id = validate::item_id("assignment_id", &request.assignment_id)?;
    validate::optional_text("reason", &request.reason, rules::REASON_BYTES_MAX)?;
    if let Some(result) = replay(state, update_id, &sha256).await? {
        return Ok(result);
    }
    change(
        state,
        update_id,
        sha256,
        assignment_id,
        &Actor::of(session),
        |current| {
            let next = rules::next_state(state_of(&current.assignment), Kind::Cancelled).map_err(illegal)?;
            let mut assignment = current.assignment.clone();
            assignment.state = next as i32;
            Ok(Planned {
                kind: Kind::Cancelled,
                audience: audience(state, &current.assignment),
                assignment,
                reason: request.reason.clone(),
            })
        },
    )
    .await
}

/// Supervisors: give to another officer or team.
pub async fn reassign(
    state: &AppState,
    session: &Session,
    request: pb::ReassignAssignment,
    body_bytes: &[u8],
) -> Result<pb::AssignmentResult, ServiceError> {
    require_supervisor(session)?;
    let sha256: [u8; 32] = Sha256::digest(body_bytes).into();
    let update_id = validate::item_id("update_id", &request.update_id)?;
    let assignment_id = validate::item_id("assignment_id", &request.assignment_id)?;
    validate::optional_text("reason", &request.reason, rules::REASON_BYTES_MAX)?;
    let assignee = rules::assignee(
        "reassign",
        match request.assignee.clone() {
            Some(pb::reassign_assignment::Assignee::OfficerId(id)) => Some(Assignee::Officer(id)),
            Some(pb::reassign_assignment::Assignee::TeamId(id)) => Some(Assignee::Team(id)),
            None => None,
        },
    )?;
    if let Some(result) = replay(state, update_id, &sha256).await? {
        return Ok(result);
    }
    check_assignee(state, "reassign", &assignee)?;
    change(
        state,
        update_id,
        sha256,
        assignment_id,
        &Actor::of(session),
        |current| {
            let next = rules::next_state(state_of(&current.assignment), Kind::Reassigned).map_err(illegal)?;
            let mut assignment = current.assignment.clone();
            assignment.state = next as i32;
            assignment.assignee = Some(assignee.to_wire());
            assignment.accepted_by.clear();
            // The old assignees are told it went elsewhere; the new ones get it.
            let mut audience = audience(state, &current.assignment);
            audience.extend(self::audience(state, &assignment));
            Ok(Planned {
                kind: Kind::Reassigned,
                assignment,
                audience,
                reason: request.reason.clone(),
            })
        },
    )
    .await
}

/// A list's creation-time range: 0 is no bound; negative times and an
/// empty range are refused.
fn created_range(from_ms: i64, before_ms: i64) -> Result<(Option<i64>, Option<i64>), ServiceError> {
    for (field, value) in [("created_from_ms", from_ms), ("created_before_ms", before_ms)] {
        if value < 0 {
            return Err(fieldlink_protocol::FieldError::new(field, "must not be negative").into());
        }
    }
    if from_ms > 0 && before_ms > 0 && before_ms <= from_ms {
        return Err(fieldlink_protocol::FieldError::new(
            "created_before_ms",
            "must be after created_from_ms",
        )
        .into());
    }
    Ok((
        (from_ms > 0).then_some(from_ms),
        (before_ms > 0).then_some(before_ms),
    ))
}

/// Lists what the caller may see: supervisors everything, officers their
/// own and their team's.
pub async fn list(
    state: &AppState,
    session: &Session,
    request: pb::ListAssignments,
) -> Result<pb::AssignmentList, ServiceError> {
    let page = crate::services::paging::Page::parse(request.limit, &request.after)?;
    let state_filter = match request.state {
        0 => None,
        value => Some(validate::known_enum::<State>("state", value)? as i32),
    };
    if !request.officer_id.is_empty() {
        validate::officer_id("officer_id", &request.officer_id)?;
    }
    let team = (!request.team_id.is_empty()).then(|| {
        (
            request.team_id.clone(),
            state.directory.get().team_members(&request.team_id),
        )
    });
    let visible_to_team = (session.officer.role != Role::Supervisor).then(|| {
        (
            session.officer.team_id.clone(),
            state.directory.get().team_members(&session.officer.team_id),
        )
    });
    let (created_from_ms, created_before_ms) =
        created_range(request.created_from_ms, request.created_before_ms)?;
    let filter = AssignmentFilter {
        state: state_filter,
        team,
        officer_id: (!request.officer_id.is_empty()).then(|| request.officer_id.clone()),
        overdue_only: request.overdue_only,
        created_from_ms,
        created_before_ms,
        limit: page.limit,
        before_id: page.before_id.clone(),
        visible_to_team,
    };
    let found = state.storage.list_assignments(&filter).await?;
    let next_after = page.next_after(found.len(), found.last().map(|a| a.assignment.id.as_str()));
    Ok(pb::AssignmentList {
        assignments: found.into_iter().map(|a| a.assignment).collect(),
        next_after,
    })
}

/// A terminal of the assignee acknowledged the assignment in its feed:
/// DISPATCHED becomes DELIVERED. Anything else is left as it is. The first
/// acknowledgement on this node does the marking; the team's other
/// terminals' find it claimed and do nothing (see [`crate::delivery_marks`]).
pub async fn mark_delivered(state: &AppState, session: &Session, assignment_id: Uuid, dispatched_seq: u64) {
    if !state.delivery_marks.claim((assignment_id, dispatched_seq)) {
        return;
    }
    let result = change(
        state,
        Uuid::now_v7(),
        [0; 32],
        assignment_id,
        &Actor::of(session),
        |current| {
            if state_of(&current.assignment) != State::Dispatched
                || !may_act_on(state, session, &current.assignment)
            {
                return Err(ServiceError::FailedPrecondition {
                    field: String::new(),
                    message: "not awaiting delivery".into(),
                });
            }
            let mut assignment = current.assignment.clone();
            assignment.state = State::Delivered as i32;
            Ok(Planned {
                kind: Kind::Delivered,
                // Supervisors' feeds and the console see every event; the
                // officers' terminals, one of which just acknowledged it,
                // have no use for it (one-each dispatch to a thousand
                // terminals would otherwise push a thousand more events).
                audience: Vec::new(),
                assignment,
                reason: String::new(),
            })
        },
    )
    .await;
    match result {
        Ok(_) | Err(ServiceError::FailedPrecondition { .. }) => {}
        Err(error) => {
            // Storage trouble, say: a later acknowledgement may try again.
            state.delivery_marks.release((assignment_id, dispatched_seq));
            tracing::debug!(%assignment_id, %error, "delivery not marked");
        }
    }
}

/// Marks assignments past their due time as overdue, every
/// `overdue_check_interval_ms`, until shutdown. The reminder goes to the assignee.
pub async fn run_overdue_checks(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let interval = Duration::from_millis(state.config.overdue_check_interval_ms);
    loop {
        mark_overdue(&state).await;
        escalate_unaccepted(&state).await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One overdue sweep; returns how many were marked.
pub async fn mark_overdue(state: &AppState) -> usize {
    let due = match state.storage.overdue_assignments((state.clock)()).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "overdue check failed");
            return 0;
        }
    };
    let mut marked = 0;
    for stored in due {
        let Ok(id) = Uuid::parse_str(&stored.assignment.id) else {
            continue;
        };
        let result = change(state, Uuid::now_v7(), [0; 32], id, &Actor::system(), |current| {
            rules::next_state(state_of(&current.assignment), Kind::Overdue).map_err(illegal)?;
            if current.assignment.overdue {
                return Err(ServiceError::FailedPrecondition {
                    field: String::new(),
                    message: "already overdue".into(),
                });
            }
            let mut assignment = current.assignment.clone();
            assignment.overdue = true;
            Ok(Planned {
                kind: Kind::Overdue,
                audience: audience(state, &current.assignment),
                assignment,
                reason: "due time passed".into(),
            })
        })
        .await;
        if result.is_ok() {
            marked += 1;
        }
    }
    marked
}

/// Escalates team assignments nobody accepted within their acceptance time
/// (`acceptance_timeout_ms`, `acceptance_timeout_urgent_ms`): an ESCALATED
/// event (every supervisor's feed carries it; the team's members are
/// reminded) and the `escalated` mark the board shows. Returns how many.
pub async fn escalate_unaccepted(state: &AppState) -> usize {
    let now = (state.clock)();
    let (normal, urgent) = (
        state.config.acceptance_timeout_ms,
        state.config.acceptance_timeout_urgent_ms,
    );
    let waiting = match state
        .storage
        .unaccepted_team_assignments(now - normal.min(urgent))
        .await
    {
        Ok(waiting) => waiting,
        Err(error) => {
            tracing::warn!(%error, "acceptance check failed");
            return 0;
        }
    };
    let mut escalated = 0;
    for stored in waiting {
        let timeout = if stored.assignment.priority == pb::Priority::Urgent as i32 {
            urgent
        } else {
            normal
        };
        let late = stored.assignment.created_at_ms + timeout < now;
        let Ok(id) = Uuid::parse_str(&stored.assignment.id) else {
            continue;
        };
        if stored.assignment.escalated || !late {
            continue;
        }
        let result = change(state, Uuid::now_v7(), [0; 32], id, &Actor::system(), |current| {
            rules::next_state(state_of(&current.assignment), Kind::Escalated).map_err(illegal)?;
            if current.assignment.escalated {
                return Err(ServiceError::FailedPrecondition {
                    field: String::new(),
                    message: "already escalated".into(),
                });
            }
            let mut assignment = current.assignment.clone();
            assignment.escalated = true;
            Ok(Planned {
                kind: Kind::Escalated,
                audience: audience(state, &current.assignment),
                assignment,
                reason: format!("无人接单 not accepted within {} min", timeout / 60_000),
            })
        })
        .await;
        if result.is_ok() {
            escalated += 1;
        }
    }
    escalated
}

/// The officers whose feed an assignment's events go to: whoever accepted
/// it; else the assigned officer; else every officer of the assigned team.
pub fn audience(state: &AppState, assignment: &pb::Assignment) -> Vec<String> {
    if !assignment.accepted_by.is_empty() {
        return vec![assignment.accepted_by.clone()];
    }
    match Assignee::of(assignment) {
        Some(Assignee::Officer(id)) => vec![id],
        Some(Assignee::Team(team)) => state.directory.get().team_members(&team),
        None => Vec::new(),
    }
}

/// Whether an officer may see an assignment: supervisors all; officers
/// their own, their team's, and their team-mates'.
pub fn may_see(state: &AppState, session: &Session, assignment: &pb::Assignment) -> bool {
    if session.officer.role == Role::Supervisor {
        return true;
    }
    let team = &session.officer.team_id;
    let of_team = |officer: &str| {
        state
            .directory
            .get()
            .officer(officer)
            .is_some_and(|o| &o.team_id == team)
    };
    match Assignee::of(assignment) {
        Some(Assignee::Team(id)) => &id == team,
        Some(Assignee::Officer(id)) => of_team(&id) || of_team(&assignment.accepted_by),
        None => false,
    }
}

/// Whether an officer may move an assignment: it is theirs (accepted by
/// them, assigned to them, or assigned to their team and not yet taken).
fn may_act_on(state: &AppState, session: &Session, assignment: &pb::Assignment) -> bool {
    let me = &session.officer.id;
    if !assignment.accepted_by.is_empty() {
        return &assignment.accepted_by == me;
    }
    match Assignee::of(assignment) {
        Some(Assignee::Officer(id)) => &id == me,
        Some(Assignee::Team(team)) => state.directory.get().team_members(&team).contains(me),
        None => false,
    }
}

struct Planned {
    kind: Kind,
    assignment: pb::Assignment,
    audience: Vec<String>,
    reason: String,
}

/// Reads, plans, commits under the version check; retries on a concurrent change.
async fn change(
    state: &AppState,
    event_id: Uuid,
    request_sha256: [u8; 32],
    assignment_id: Uuid,
    actor: &Actor,
    plan: impl Fn(&StoredAssignment) -> Result<Planned, ServiceError>,
) -> Result<pb::AssignmentResult, ServiceError> {
    for _ in 0..CHANGE_ATTEMPTS_MAX {
        let current = state
            .storage
            .assignment(assignment_id)
            .await?
            .ok_or_else(not_visible)?;
        let planned = plan(&current)?;
        let mut audience = planned.audience;
        audience.sort();
        audience.dedup();
        let new = NewAssignmentEvent {
            event_id,
            request_sha256,
            event: pb::AssignmentEvent {
                seq: 0,
                kind: planned.kind as i32,
                assignment: Some(planned.assignment),
                by: actor.id.clone(),
                device_id: actor.device_id.clone(),
                at_ms: (state.clock)(),
                reason: planned.reason,
            },
            audience,
        };
        let answer = new.event.clone();
        match state.events.commit(Some(current.version), new).await? {
            AssignmentCommit::Committed { seq } => {
                return result_of(state, event_id, request_sha256, answer, seq).await
            }
            AssignmentCommit::VersionConflict => continue,
            AssignmentCommit::DuplicateEventId => {
                return replay(state, event_id, &request_sha256)
                    .await?
                    .ok_or(ServiceError::Conflict { existing_seq: 0 })
            }
        }
    }
    Err(ServiceError::Contended)
}

/// The original result of a create or update id seen before.
pub(crate) async fn replay(
    state: &AppState,
    event_id: Uuid,
    request_sha256: &[u8; 32],
) -> Result<Option<pb::AssignmentResult>, ServiceError> {
    let Some(recorded) = state.storage.assignment_event_by_id(event_id).await? else {
        return Ok(None);
    };
    if &recorded.request_sha256 != request_sha256 {
        return Err(ServiceError::Conflict {
            existing_seq: recorded.seq,
        });
    }
    let assignment = state
        .storage
        .assignment(recorded.assignment_id)
        .await?
        .map(|stored| stored.assignment);
    Ok(Some(pb::AssignmentResult {
        receipt: Some(wire_receipt(
            StoredReceipt {
                item_id: event_id,
                server_seq: recorded.seq,
                received_at_ms: recorded.at_ms,
                sha256: recorded.request_sha256,
                leaf: event_leaf(state, event_id).await?,
            },
            true,
        )),
        assignment,
    }))
}

/// The answer to a committed create or update (its writer has published it).
async fn result_of(
    state: &AppState,
    event_id: Uuid,
    request_sha256: [u8; 32],
    event: pb::AssignmentEvent,
    seq: u64,
) -> Result<pb::AssignmentResult, ServiceError> {
    let receipt = wire_receipt(
        StoredReceipt {
            item_id: event_id,
            server_seq: seq,
            received_at_ms: event.at_ms,
            sha256: request_sha256,
            leaf: event_leaf(state, event_id).await?,
        },
        false,
    );
    Ok(pb::AssignmentResult {
        receipt: Some(receipt),
        assignment: event.assignment,
    })
}

/// Where an assignment event sits in the transparency log (written in the
/// event's own transaction). The receipt's `sha256` is of the request, the
/// leaf's digests of the event as stored: the receipt carries no SM3.
async fn event_leaf(state: &AppState, event_id: Uuid) -> Result<Option<LeafRef>, ServiceError> {
    Ok(state
        .storage
        .log_leaf(event_id)
        .await?
        .map(|(index, _)| LeafRef { index, sm3: None }))
}

fn state_of(assignment: &pb::Assignment) -> State {
    State::try_from(assignment.state).unwrap_or(State::Unspecified)
}

pub(crate) fn require_supervisor(session: &Session) -> Result<(), ServiceError> {
    if session.officer.role != Role::Supervisor {
        return Err(ServiceError::PermissionDenied {
            field: String::new(),
            message: "only supervisors dispatch, cancel or reassign assignments".into(),
        });
    }
    Ok(())
}

pub(crate) fn check_assignee(
    state: &AppState,
    prefix: &str,
    assignee: &Assignee,
) -> Result<(), ServiceError> {
    match assignee {
        Assignee::Officer(id) => {
            let usable = state
                .directory
                .get()
                .enrolled_officer(id)
                .is_some_and(|officer| officer.role == Role::Officer);
            if !usable {
                return Err(FieldError::new(
                    format!("{prefix}.officer_id"),
                    format!("{id} is not an enrolled officer"),
                )
                .into());
            }
        }
        Assignee::Team(id) => {
            if state.directory.get().team(id).is_none() || state.directory.get().team_members(id).is_empty() {
                return Err(FieldError::new(
                    format!("{prefix}.team_id"),
                    format!("{id} is not a team with officers"),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Why an officer may not move an assignment: it is invisible to them (the
/// same answer as for none at all), a team-mate won the race for it, or it
/// is someone else's.
fn refuse_actor(
    state: &AppState,
    session: &Session,
    assignment: &pb::Assignment,
    current: State,
) -> ServiceError {
    if !may_see(state, session, assignment) {
        return not_visible();
    }
    let taken_by_team_mate =
        matches!(Assignee::of(assignment), Some(Assignee::Team(_))) && !assignment.accepted_by.is_empty();
    if taken_by_team_mate {
        return ServiceError::FailedPrecondition {
            field: "transition".into(),
            message: format!(
                "the assignment is {}; accepted by {}",
                current.as_str_name(),
                assignment.accepted_by
            ),
        };
    }
    ServiceError::PermissionDenied {
        field: "assignment_id".into(),
        message: "the assignment is not assigned to this officer".into(),
    }
}

/// The same answer for an assignment that does not exist and one the caller may not see.
fn not_visible() -> ServiceError {
    ServiceError::NotFound {
        field: "assignment_id".into(),
        message: "no such assignment for this officer".into(),
    }
}

fn illegal(error: rules::IllegalTransition) -> ServiceError {
    ServiceError::FailedPrecondition {
        field: "transition".into(),
        message: format!("the assignment is {}; {}", error.current.as_str_name(), error),
    }
}
