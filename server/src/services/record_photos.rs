//! RecordPhotos: which photos a record has, and which are still missing.

use fieldlink_protocol::pb;
use fieldlink_protocol::validate;

use crate::directory::Role;
use crate::error::ServiceError;
use crate::session::Session;
use crate::state::AppState;

/// Answers for the record's creator (device and officer) and for supervisors.
/// Anyone else gets the answer for a record that is not stored (no oracle).
pub async fn query(
    state: &AppState,
    session: &Session,
    query: pb::RecordPhotosQuery,
) -> Result<pb::RecordPhotos, ServiceError> {
    let record_id = validate::item_id("record_id", &query.record_id)?;
    let links = state.storage.record_links(record_id).await?;
    let supervisor = session.officer.role == Role::Supervisor;
    let caller = (session.device_id.clone(), session.officer.id.clone());
    let mut answer = pb::RecordPhotos {
        record_id: record_id.to_string(),
        ..Default::default()
    };
    match links.creator {
        Some(creator) if supervisor || creator == caller => {
            answer.record_stored = true;
            let by_creator: Vec<&String> = links
                .naming
                .iter()
                .filter(|(_, device, officer)| (device, officer) == (&creator.0, &creator.1))
                .map(|(id, _, _)| id)
                .collect();
            for listed in &links.listed {
                if by_creator.contains(&listed) {
                    answer.present.push(listed.clone());
                } else {
                    answer.missing.push(listed.clone());
                }
            }
            answer.unlisted = by_creator
                .into_iter()
                .filter(|id| !links.listed.contains(id))
                .cloned()
                .collect();
        }
        _ => {
            answer.present = links
                .naming
                .into_iter()
                .filter(|(_, device, officer)| (device, officer) == (&caller.0, &caller.1))
                .map(|(id, _, _)| id)
                .collect();
        }
    }
    Ok(answer)
}
