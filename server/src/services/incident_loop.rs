//! The incident side of the loop: an incident follows the assignment it was
//! dispatched as through review (completed → PENDING_REVIEW, approved →
//! CLOSED, returned → DISPATCHED again), each move an event with who and
//! when. Idempotent: an incident already where the assignment says it
//! should be is left alone.

use fieldlink_protocol::pb::{self, AssignmentState, IncidentEventKind as Kind, IncidentState};
use uuid::Uuid;

use crate::error::ServiceError;
use crate::state::AppState;
use crate::storage::{IncidentCommit, StoredIncident};

/// Attempts at a change before giving up on concurrent writers.
const ATTEMPTS_MAX: usize = 8;

/// Moves an assignment's incident to where the assignment's state says.
pub async fn follow_assignment(
    state: &AppState,
    assignment: &pb::Assignment,
    by: &str,
) -> Result<(), ServiceError> {
    let (target, kind) = match AssignmentState::try_from(assignment.state) {
        Ok(AssignmentState::PendingReview) => (IncidentState::PendingReview, Kind::PendingReview),
        Ok(AssignmentState::Completed) => (IncidentState::Closed, Kind::Closed),
        Ok(AssignmentState::Returned) => (IncidentState::Dispatched, Kind::Returned),
        _ => return Ok(()),
    };
    let incident_id =
        Uuid::parse_str(&assignment.incident_id).map_err(|_| ServiceError::StorageUnavailable)?;
    change(state, incident_id, by, "", kind, |incident| {
        if incident.assignment_id != assignment.id || incident.state == target as i32 {
            return None;
        }
        incident.state = target as i32;
        Some(())
    })
    .await
    .map(|_| ())
}

/// Reads the incident, lets `plan` change its snapshot (None: nothing to
/// do), commits it as an event of `kind` under the version check; retries
/// on a concurrent change. Returns the incident as it stands after.
pub(crate) async fn change(
    state: &AppState,
    incident_id: Uuid,
    by: &str,
    reason: &str,
    kind: Kind,
    plan: impl Fn(&mut pb::Incident) -> Option<()>,
) -> Result<StoredIncident, ServiceError> {
    change_as(state, Uuid::now_v7(), incident_id, by, reason, kind, |incident| {
        Ok(plan(incident))
    })
    .await
}

/// As [`change`], with the event's id given (an idempotency key) and a plan
/// that may refuse.
pub(crate) async fn change_as(
    state: &AppState,
    event_id: Uuid,
    incident_id: Uuid,
    by: &str,
    reason: &str,
    kind: Kind,
    plan: impl Fn(&mut pb::Incident) -> Result<Option<()>, ServiceError>,
) -> Result<StoredIncident, ServiceError> {
    for _ in 0..ATTEMPTS_MAX {
        let stored = state
            .storage
            .incident(incident_id)
            .await?
            .ok_or_else(no_incident)?;
        let mut incident = stored.incident.clone();
        if plan(&mut incident)?.is_none() {
            return Ok(stored);
        }
        let event = pb::IncidentEvent {
            event_id: event_id.to_string(),
            incident_id: incident.id.clone(),
            kind: kind as i32,
            by: by.to_owned(),
            at_ms: (state.clock)(),
            reason: reason.to_owned(),
            source: None,
            incident: Some(incident.clone()),
            moved: Vec::new(),
        };
        match state.storage.change_incident(stored.version, &event).await? {
            IncidentCommit::Committed { seq } => {
                return Ok(StoredIncident {
                    incident,
                    version: seq,
                });
            }
            IncidentCommit::VersionConflict => continue,
        }
    }
    Err(ServiceError::Contended)
}

/// The refusal for an incident that does not exist.
pub(crate) fn no_incident() -> ServiceError {
    ServiceError::NotFound {
        field: "incident_id".into(),
        message: "no such incident".into(),
    }
}

/// An incident's reports as they stand, from its history: those that
/// opened or joined it, less those a split moved away, plus those a split
/// brought, oldest first.
pub(crate) fn current_sources(history: &[pb::IncidentEvent]) -> Vec<pb::IncidentSource> {
    let mut sources: Vec<pb::IncidentSource> = Vec::new();
    for event in history {
        match Kind::try_from(event.kind) {
            Ok(Kind::Opened | Kind::Joined) => sources.extend(event.source.iter().cloned()),
            Ok(Kind::Split) => sources.retain(|kept| !event.moved.iter().any(|m| m.item_id == kept.item_id)),
            Ok(Kind::SplitOff) => sources.extend(event.moved.iter().cloned()),
            _ => {}
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(item: &str) -> pb::IncidentSource {
        pb::IncidentSource {
            item_id: item.into(),
            ..Default::default()
        }
    }

    fn event(kind: Kind, source: Option<&str>, moved: &[&str]) -> pb::IncidentEvent {
        pb::IncidentEvent {
            kind: kind as i32,
            source: source.map(self::source),
            moved: moved.iter().map(|m| self::source(m)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn sources_follow_joins_and_splits() {
        let history = [
            event(Kind::Opened, Some("a"), &[]),
            event(Kind::Joined, Some("b"), &[]),
            event(Kind::Joined, Some("c"), &[]),
            event(Kind::Dispatched, None, &[]),
            event(Kind::Split, None, &["b"]),
        ];
        let ids: Vec<_> = current_sources(&history).into_iter().map(|s| s.item_id).collect();
        assert_eq!(ids, ["a", "c"]);
        let new = [
            event(Kind::SplitOff, None, &["b", "d"]),
            event(Kind::Joined, Some("e"), &[]),
        ];
        let ids: Vec<_> = current_sources(&new).into_iter().map(|s| s.item_id).collect();
        assert_eq!(ids, ["b", "d", "e"]);
    }
}
