//! Follow-up inspections (复查): an inspection record whose outcome orders
//! rectification by a date schedules an inspection of the same place, for
//! the same team, due on that date, linked to the first — created by the
//! server once the record is stored, exactly once per record.

use fieldlink_protocol::assignment::Assignee;
use fieldlink_protocol::pb::{self, Outcome, Priority};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ServiceError;
use crate::services::assignment::{commit_new, Actor};
use crate::session::Session;
use crate::state::AppState;

/// The follow-up's id: one per ordering record, so a resent record (or a
/// retry after a failure) finds it instead of making a second.
pub fn follow_up_id(record: &pb::InspectionRecord) -> Uuid {
    crate::derived_id::derived_v7(
        "fieldlink follow-up",
        record.started_at_ms,
        &[record.id.as_bytes()],
    )
}

/// Schedules the follow-up a stored record asks for, if it asks for one
/// and it does not exist yet. Returns its id.
pub async fn ensure(
    state: &AppState,
    session: &Session,
    record: &pb::InspectionRecord,
) -> Result<Option<Uuid>, ServiceError> {
    if record.outcome != Outcome::OrderToRectify as i32 || record.rectify_by_ms == 0 {
        return Ok(None);
    }
    let id = follow_up_id(record);
    if state.storage.assignment(id).await?.is_some() {
        return Ok(Some(id));
    }
    // The team that worked the first: the assignment's team, else the officer's.
    let first = match Uuid::parse_str(&record.assignment_id) {
        Ok(first_id) => state
            .storage
            .assignment(first_id)
            .await?
            .map(|stored| stored.assignment),
        Err(_) => None,
    };
    let team = match first.as_ref().and_then(Assignee::of) {
        Some(Assignee::Team(team)) => team,
        _ => session.officer.team_id.clone(),
    };
    let title = match &first {
        Some(first) => format!("复查 Follow-up: {}", first.title),
        None => format!("复查 Follow-up: {}", record.matter_code),
    };
    let assignment = pb::Assignment {
        id: id.to_string(),
        title: fieldlink_protocol::validate::prefix_within(
            &title,
            fieldlink_protocol::assignment::TITLE_BYTES_MAX,
        )
        .to_owned(),
        instructions: format!(
            "复查整改情况（责令改正记录 {}）Check that the order to rectify was complied with",
            record.id
        ),
        matter_code: record.matter_code.clone(),
        place: record.place.clone(),
        priority: Priority::Normal as i32,
        due_at_ms: record.rectify_by_ms,
        case_id: record.case_id.clone(),
        assignee: Some(Assignee::Team(team).to_wire()),
        incident_id: first
            .as_ref()
            .map(|first| first.incident_id.clone())
            .unwrap_or_default(),
        follow_up_of: first.as_ref().map(|first| first.id.clone()).unwrap_or_default(),
        follow_up_record_id: record.id.clone(),
        ..Default::default()
    };
    let sha256: [u8; 32] = Sha256::digest(record.id.as_bytes()).into();
    commit_new(state, &Actor::system(), id, sha256, assignment).await?;
    Ok(Some(id))
}
