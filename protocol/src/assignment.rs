//! Assignments (派单): the checked request types and the lifecycle as a pure
//! state machine.

use uuid::Uuid;

use crate::inspection::{matter_code, parse_place};
use crate::limits;
use crate::pb::{self, assignment, AssignmentEventKind as Kind, AssignmentState as State, Priority};
use crate::validate::{self, FieldError};

/// Longest title.
pub const TITLE_BYTES_MAX: usize = 200;
/// Longest instructions: 4 KiB.
pub const INSTRUCTIONS_BYTES_MAX: usize = 4 * 1024;
/// Longest area description.
pub const AREA_BYTES_MAX: usize = 200;
/// Longest reason.
pub const REASON_BYTES_MAX: usize = 1024;
/// Most records closing one assignment.
pub const CLOSING_RECORDS_MAX: usize = 100;

/// Who an assignment is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// One officer.
    Officer(String),
    /// A whole team.
    Team(String),
}

impl Assignee {
    /// Reads the oneof of an assignment.
    pub fn of(assignment: &pb::Assignment) -> Option<Self> {
        match &assignment.assignee {
            Some(assignment::Assignee::OfficerId(id)) => Some(Assignee::Officer(id.clone())),
            Some(assignment::Assignee::TeamId(id)) => Some(Assignee::Team(id.clone())),
            None => None,
        }
    }

    /// Writes the oneof of an assignment.
    pub fn to_wire(&self) -> assignment::Assignee {
        match self {
            Assignee::Officer(id) => assignment::Assignee::OfficerId(id.clone()),
            Assignee::Team(id) => assignment::Assignee::TeamId(id.clone()),
        }
    }
}

/// Checks a new assignment from a supervisor and returns it cleaned: the
/// server-set fields cleared.
pub fn parse_new(mut draft: pb::Assignment) -> Result<(Uuid, Assignee, pb::Assignment), FieldError> {
    let id = validate::item_id("assignment.id", &draft.id)?;
    validate::required_text("assignment.title", &draft.title, TITLE_BYTES_MAX)?;
    validate::optional_text(
        "assignment.instructions",
        &draft.instructions,
        INSTRUCTIONS_BYTES_MAX,
    )?;
    matter_code("assignment.matter_code", &draft.matter_code)?;
    validate::optional_text("assignment.area", &draft.area, AREA_BYTES_MAX)?;
    match draft.place.take() {
        Some(place) => {
            parse_place("assignment.place", Some(place.clone()))?;
            draft.place = Some(place);
        }
        None if draft.area.trim().is_empty() => {
            return Err(FieldError::new(
                "assignment.place",
                "a place or an area is required",
            ))
        }
        None => {}
    }
    validate::known_enum::<Priority>("assignment.priority", draft.priority)?;
    if draft.due_at_ms != 0 && draft.due_at_ms < limits::TIMESTAMP_MS_MIN {
        return Err(FieldError::new("assignment.due_at_ms", "is before 2000-01-01"));
    }
    if !draft.case_id.is_empty() {
        validate::case_id("assignment.case_id", &draft.case_id)?;
    }
    let assignee = assignee("assignment", Assignee::of(&draft))?;
    draft.id = id.to_string();
    draft.created_by.clear();
    draft.state = 0;
    draft.accepted_by.clear();
    draft.closing_record_ids.clear();
    draft.overdue = false;
    draft.created_at_ms = 0;
    draft.incident_id.clear();
    draft.escalated = false;
    draft.follow_up_of.clear();
    draft.follow_up_record_id.clear();
    Ok((id, assignee, draft))
}

/// Checks an assignee: exactly one of officer or team, well-formed.
pub fn assignee(prefix: &str, assignee: Option<Assignee>) -> Result<Assignee, FieldError> {
    match assignee {
        None => Err(FieldError::new(
            format!("{prefix}.assignee"),
            "an officer_id or a team_id is required",
        )),
        Some(Assignee::Officer(id)) => {
            validate::officer_id(&format!("{prefix}.officer_id"), &id)?;
            Ok(Assignee::Officer(id))
        }
        Some(Assignee::Team(id)) => {
            validate::officer_id(&format!("{prefix}.team_id"), &id)?;
            Ok(Assignee::Team(id))
        }
    }
}

/// A checked lifecycle update from an officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Idempotency key.
    pub update_id: Uuid,
    /// The assignment.
    pub assignment_id: Uuid,
    /// The transition asked for.
    pub transition: Kind,
    /// Reason, possibly empty.
    pub reason: String,
    /// Closing records (COMPLETED).
    pub record_ids: Vec<Uuid>,
}

impl Update {
    /// Checks an update.
    pub fn parse(update: pb::UpdateAssignment) -> Result<Self, FieldError> {
        let update_id = validate::item_id("update_id", &update.update_id)?;
        let assignment_id = validate::item_id("assignment_id", &update.assignment_id)?;
        let transition = validate::known_enum::<Kind>("transition", update.transition)?;
        if !matches!(
            transition,
            Kind::Accepted | Kind::Rejected | Kind::EnRoute | Kind::OnSite | Kind::Completed
        ) {
            return Err(FieldError::new(
                "transition",
                "must be ACCEPTED, REJECTED, EN_ROUTE, ON_SITE or COMPLETED",
            ));
        }
        validate::optional_text("reason", &update.reason, REASON_BYTES_MAX)?;
        if transition == Kind::Rejected && update.reason.trim().is_empty() {
            return Err(FieldError::new("reason", "a rejection needs a reason"));
        }
        if transition == Kind::Completed && update.record_ids.is_empty() {
            return Err(FieldError::new(
                "record_ids",
                "a completion names the records that close it",
            ));
        }
        if update.record_ids.len() > CLOSING_RECORDS_MAX {
            return Err(FieldError::new(
                "record_ids",
                format!("at most {CLOSING_RECORDS_MAX}"),
            ));
        }
        if transition != Kind::Completed && !update.record_ids.is_empty() {
            return Err(FieldError::new("record_ids", "only a completion names records"));
        }
        let record_ids = update
            .record_ids
            .iter()
            .enumerate()
            .map(|(index, id)| validate::item_id(&format!("record_ids[{index}]"), id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            update_id,
            assignment_id,
            transition,
            reason: update.reason,
            record_ids,
        })
    }
}

/// A checked review of completed work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Idempotency key.
    pub update_id: Uuid,
    /// The assignment.
    pub assignment_id: Uuid,
    /// APPROVED or RETURNED.
    pub transition: Kind,
    /// Why (required to return).
    pub reason: String,
}

impl Review {
    /// Checks a review.
    pub fn parse(review: pb::ReviewAssignment) -> Result<Self, FieldError> {
        let update_id = validate::item_id("update_id", &review.update_id)?;
        let assignment_id = validate::item_id("assignment_id", &review.assignment_id)?;
        validate::optional_text("reason", &review.reason, REASON_BYTES_MAX)?;
        if !review.approve && review.reason.trim().is_empty() {
            return Err(FieldError::new("reason", "returning work needs a reason"));
        }
        Ok(Self {
            update_id,
            assignment_id,
            transition: if review.approve {
                Kind::Approved
            } else {
                Kind::Returned
            },
            reason: review.reason,
        })
    }
}

/// A transition that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot go from {} by {}", current.as_str_name(), transition.as_str_name())]
pub struct IllegalTransition {
    /// The state the assignment is in.
    pub current: State,
    /// What was asked.
    pub transition: Kind,
}

/// The state after `transition` from `current`, if the lifecycle allows it.
///
/// DISPATCHED → DELIVERED → ACCEPTED → EN_ROUTE → ON_SITE → PENDING_REVIEW
/// (the officer's completion) → COMPLETED (a supervisor's approval); a
/// review may instead return the work (RETURNED), which the officer
/// completes again (from RETURNED or after going on site again). An officer
/// may accept or reject before accepting, go on site without reporting en
/// route; a supervisor may cancel or reassign anything not completed or
/// cancelled; a reassignment starts again at DISPATCHED.
pub fn next_state(current: State, transition: Kind) -> Result<State, IllegalTransition> {
    let illegal = Err(IllegalTransition { current, transition });
    let open = !matches!(current, State::Completed | State::Cancelled | State::Unspecified);
    match transition {
        Kind::Delivered if current == State::Dispatched => Ok(State::Delivered),
        Kind::Accepted if matches!(current, State::Dispatched | State::Delivered) => Ok(State::Accepted),
        Kind::Rejected if matches!(current, State::Dispatched | State::Delivered) => Ok(State::Rejected),
        Kind::EnRoute if current == State::Accepted => Ok(State::EnRoute),
        Kind::OnSite if matches!(current, State::Accepted | State::EnRoute | State::Returned) => {
            Ok(State::OnSite)
        }
        Kind::Completed if matches!(current, State::OnSite | State::Returned) => Ok(State::PendingReview),
        Kind::Approved if current == State::PendingReview => Ok(State::Completed),
        Kind::Returned if current == State::PendingReview => Ok(State::Returned),
        Kind::Cancelled if open => Ok(State::Cancelled),
        Kind::Reassigned if open => Ok(State::Dispatched),
        Kind::Escalated if matches!(current, State::Dispatched | State::Delivered) => Ok(current),
        // Work waiting for review is not late on the officer's side.
        Kind::Overdue if open && !matches!(current, State::Rejected | State::PendingReview) => Ok(current),
        _ => illegal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_walks_the_lifecycle() {
        let mut state = State::Dispatched;
        for kind in [
            Kind::Delivered,
            Kind::Accepted,
            Kind::EnRoute,
            Kind::OnSite,
            Kind::Completed,
        ] {
            state = next_state(state, kind).unwrap();
        }
        assert_eq!(state, State::PendingReview);
        assert_eq!(next_state(state, Kind::Approved), Ok(State::Completed));
    }

    #[test]
    fn returned_work_is_completed_again_and_reviewed_again() {
        let returned = next_state(State::PendingReview, Kind::Returned).unwrap();
        assert_eq!(returned, State::Returned);
        assert_eq!(next_state(returned, Kind::OnSite), Ok(State::OnSite));
        assert_eq!(next_state(returned, Kind::Completed), Ok(State::PendingReview));
        for early in [
            State::Dispatched,
            State::Accepted,
            State::OnSite,
            State::Returned,
            State::Completed,
        ] {
            assert!(next_state(early, Kind::Approved).is_err(), "{early:?}");
            assert!(next_state(early, Kind::Returned).is_err(), "{early:?}");
        }
        assert!(next_state(State::PendingReview, Kind::Overdue).is_err());
        assert!(next_state(State::PendingReview, Kind::Completed).is_err());
        let review = |approve: bool, reason: &str| pb::ReviewAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: Uuid::now_v7().to_string(),
            approve,
            reason: reason.into(),
        };
        assert_eq!(
            Review::parse(review(true, "")).unwrap().transition,
            Kind::Approved
        );
        assert_eq!(
            Review::parse(review(false, "照片不清晰")).unwrap().transition,
            Kind::Returned
        );
        assert_eq!(Review::parse(review(false, " ")).unwrap_err().field, "reason");
    }

    #[test]
    fn illegal_transitions_name_the_current_state() {
        let error = next_state(State::Dispatched, Kind::Completed).unwrap_err();
        assert_eq!(error.current, State::Dispatched);
        assert!(error.to_string().contains("ASSIGNMENT_STATE_DISPATCHED"));
        assert!(next_state(State::Accepted, Kind::Accepted).is_err());
        assert!(next_state(State::Completed, Kind::Cancelled).is_err());
        assert!(next_state(State::Cancelled, Kind::Reassigned).is_err());
        assert!(next_state(State::OnSite, Kind::Rejected).is_err());
        assert!(next_state(State::Delivered, Kind::Delivered).is_err());
    }

    #[test]
    fn supervisors_can_cancel_or_reassign_anything_open() {
        for state in [
            State::Dispatched,
            State::Delivered,
            State::Accepted,
            State::EnRoute,
            State::OnSite,
            State::Rejected,
        ] {
            assert_eq!(next_state(state, Kind::Cancelled), Ok(State::Cancelled));
            assert_eq!(next_state(state, Kind::Reassigned), Ok(State::Dispatched));
        }
        assert_eq!(next_state(State::Accepted, Kind::OnSite), Ok(State::OnSite));
    }

    #[test]
    fn updates_carry_what_their_transition_needs() {
        let update = |transition: Kind, reason: &str, records: Vec<String>| pb::UpdateAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: Uuid::now_v7().to_string(),
            transition: transition as i32,
            reason: reason.into(),
            record_ids: records,
        };
        assert!(Update::parse(update(Kind::Accepted, "", vec![])).is_ok());
        assert_eq!(
            Update::parse(update(Kind::Rejected, "", vec![]))
                .unwrap_err()
                .field,
            "reason"
        );
        assert_eq!(
            Update::parse(update(Kind::Completed, "", vec![]))
                .unwrap_err()
                .field,
            "record_ids"
        );
        assert_eq!(
            Update::parse(update(Kind::Cancelled, "", vec![]))
                .unwrap_err()
                .field,
            "transition"
        );
        assert_eq!(
            Update::parse(update(Kind::Completed, "", vec!["x".into()]))
                .unwrap_err()
                .field,
            "record_ids[0]"
        );
    }

    #[test]
    fn a_new_assignment_needs_an_assignee_and_a_place_or_area() {
        let draft = pb::Assignment {
            id: Uuid::now_v7().to_string(),
            title: "巡查城南路占道经营".into(),
            matter_code: "ZJ-001".into(),
            area: "城南路沿线".into(),
            priority: Priority::Normal as i32,
            assignee: Some(assignment::Assignee::OfficerId("officer-01".into())),
            state: 5,
            ..Default::default()
        };
        let (_, assignee, clean) = parse_new(draft.clone()).unwrap();
        assert_eq!(assignee, Assignee::Officer("officer-01".into()));
        assert_eq!(clean.state, 0, "server-set fields are cleared");
        let mut d = draft.clone();
        d.assignee = None;
        assert_eq!(parse_new(d).unwrap_err().field, "assignment.assignee");
        let mut d = draft.clone();
        d.area.clear();
        assert_eq!(parse_new(d).unwrap_err().field, "assignment.place");
        let mut d = draft;
        d.priority = 0;
        assert_eq!(parse_new(d).unwrap_err().field, "assignment.priority");
    }
}
