//! UploadStatus: how much of an upload the server holds durably.

use fieldlink_protocol::pb;
use fieldlink_protocol::validate;

use crate::error::ServiceError;
use crate::services::commit::wire_receipt;
use crate::services::photo_upload::photo_receipt;
use crate::session::Session;
use crate::state::AppState;

/// Answers an upload-status query. Another device's upload (partial or
/// stored) looks exactly like an unknown id: offset 0, not complete.
pub async fn query(
    state: &AppState,
    session: &Session,
    query: pb::UploadStatusQuery,
) -> Result<pb::UploadStatus, ServiceError> {
    let evidence_id = validate::item_id("evidence_id", &query.evidence_id)?;
    let mut status = pb::UploadStatus {
        evidence_id: evidence_id.to_string(),
        ..Default::default()
    };
    if let Some(stored) = state.storage.photo(evidence_id).await? {
        if stored.device_id == session.device_id {
            status.complete = true;
            status.durable_offset = stored.index.size_bytes;
            status.receipt = Some(photo_receipt(wire_receipt(stored.receipt, true), &stored.index));
        }
        return Ok(status);
    }
    if let Some(partial) = state
        .storage
        .partial_upload(&session.device_id, evidence_id)
        .await?
    {
        // Promise only what the partial file really holds (a failure after
        // the rename into the store leaves the row without its file).
        let path = state.evidence.partials.path_of(&session.device_id, evidence_id);
        let file_bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
        status.durable_offset = if file_bytes >= partial.durable_offset {
            partial.durable_offset
        } else {
            0
        };
    }
    Ok(status)
}
