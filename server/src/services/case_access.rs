//! Who may add items to a case (案件).
//!
//! A case id is opened by the first item that names it; its officer's team
//! works the case. Later items may name it when their officer opened it,
//! is in the same team in the directory, or is a supervisor. Anyone else is
//! told `PERMISSION_DENIED` on `case_id` — the same answer whether or not
//! the case exists, for an officer outside its team cannot see it either.

use crate::directory::Role;
use crate::error::ServiceError;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::NewItem;

/// Whether `session`'s officer may add an item to `case_id` (None: no case).
pub async fn admit(state: &AppState, session: &Session, case_id: Option<&str>) -> Result<(), ServiceError> {
    let Some(case_id) = case_id else {
        return Ok(());
    };
    let Some(opener) = state.storage.case_opener(case_id).await? else {
        // The first item naming a case opens it.
        return Ok(());
    };
    if may_add(state, &session.officer.id, &opener) {
        Ok(())
    } else {
        Err(ServiceError::PermissionDenied {
            field: "case_id".into(),
            message: "only the team that opened a case (and supervisors) may add items to it".into(),
        })
    }
}

/// A checked item, admitted to its case or refused (a refusal passes
/// through: a resend is still answered from storage).
pub async fn admit_item(
    state: &AppState,
    session: &Session,
    checked: Result<NewItem, ServiceError>,
) -> Result<NewItem, ServiceError> {
    let item = checked?;
    admit(state, session, item.case_id.as_deref()).await?;
    Ok(item)
}

/// The rule, on the directory: the opener, a team-mate, or a supervisor.
fn may_add(state: &AppState, officer_id: &str, opener_id: &str) -> bool {
    if officer_id == opener_id {
        return true;
    }
    let directory = state.directory.get();
    let Some(officer) = directory.officer(officer_id) else {
        return false;
    };
    if officer.role == Role::Supervisor {
        return true;
    }
    state
        .directory
        .get()
        .officer(opener_id)
        .is_some_and(|opener| opener.team_id == officer.team_id)
}
