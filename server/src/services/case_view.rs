//! CaseItems: everything stored for one case, in time order, a page at a
//! time.
//!
//! Supervisors see every item; an officer sees the items sent by officers of
//! their own team (the design's rule: one's own and one's team's work).

use fieldlink_protocol::pb;
use fieldlink_protocol::validate;

use crate::directory::{Officer, Role};
use crate::error::ServiceError;
use crate::services::service::state_of;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::CasePage;

/// Lists a case's items.
pub async fn query(
    state: &AppState,
    session: &Session,
    query: pb::CaseItemsQuery,
) -> Result<pb::CaseItems, ServiceError> {
    let case_id = validate::case_id("case_id", &query.case_id)?;
    let limit = match query.limit {
        0 => PAGE_DEFAULT,
        n if n <= PAGE_MAX => n,
        _ => {
            return Err(
                fieldlink_protocol::FieldError::new("limit", format!("must be 1 to {PAGE_MAX}")).into(),
            )
        }
    };
    let after = match query.after.as_str() {
        "" => None,
        text => Some(parse_after(text).ok_or_else(|| {
            fieldlink_protocol::FieldError::new("after", "is not a next_after of this case's pages")
        })?),
    };
    let rows = state
        .storage
        .case_items(
            &case_id,
            &CasePage {
                after,
                limit: Some(limit),
            },
        )
        .await?;
    // The cursor follows every row examined, seen or not, so paging walks on.
    let next_after = match rows.last() {
        Some(last) if rows.len() == limit as usize => {
            format!("{}.{}", last.occurred_at_ms, last.receipt.server_seq)
        }
        _ => String::new(),
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if !may_see(&session.officer, state.directory.get().officer(&row.officer_id)) {
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
    Ok(pb::CaseItems {
        case_id,
        items,
        next_after,
    })
}

/// Items examined per page by default, and at most (a page of 1,000 case
/// items is well under the 1 MiB frame).
pub const PAGE_DEFAULT: u32 = 500;
/// See [`PAGE_DEFAULT`].
pub const PAGE_MAX: u32 = 1_000;

/// `occurred_at_ms.server_seq`, as `next_after` writes it.
fn parse_after(text: &str) -> Option<(i64, u64)> {
    let (at, seq) = text.rsplit_once('.')?;
    Some((at.parse().ok()?, seq.parse().ok()?))
}

/// Whether `viewer` may see an item sent by `sender` (`None`: the sender is
/// no longer in this node's directory). Supervisors see everything; an
/// officer sees their own team's items, and never an item whose sender's
/// team cannot be told.
fn may_see(viewer: &Officer, sender: Option<&Officer>) -> bool {
    viewer.role == Role::Supervisor || sender.is_some_and(|sender| sender.team_id == viewer.team_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, team: &str, role: Role) -> Officer {
        Officer {
            id: id.into(),
            name: id.into(),
            team_id: team.into(),
            credential_number: None,
            credential_valid_from: None,
            credential_valid_until: None,
            role,
            password_hash: String::new(),
            enrolled: true,
        }
    }

    #[test]
    fn an_item_whose_sender_left_the_directory_is_seen_by_supervisors_only() {
        let other_team = person("officer-05", "team-chengbei", Role::Officer);
        let supervisor = person("supervisor-01", "team-command", Role::Supervisor);
        assert!(!may_see(&other_team, None), "shown to another team's officer");
        assert!(may_see(&supervisor, None), "hidden from a supervisor");
    }

    #[test]
    fn officers_see_their_own_team_and_supervisors_see_every_team() {
        let sender = person("officer-01", "team-chengnan", Role::Officer);
        let team_mate = person("officer-02", "team-chengnan", Role::Officer);
        let other_team = person("officer-05", "team-chengbei", Role::Officer);
        let supervisor = person("supervisor-01", "team-command", Role::Supervisor);
        assert!(may_see(&sender, Some(&sender)));
        assert!(may_see(&team_mate, Some(&sender)));
        assert!(!may_see(&other_team, Some(&sender)));
        assert!(may_see(&supervisor, Some(&sender)));
    }
}
