//! What every item kind does with a checked item: answer a resend from
//! storage, or commit it and answer with the receipt.

use fieldlink_protocol::pb;
use sha2::Digest;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::services::inspection::wire_receipt;
use crate::state::AppState;
use crate::storage::{CommitOutcome, NewItem};

/// What arrived: a resend (answered with the original receipt, or refused as
/// a conflict) or a new item with the SHA-256 of its bytes as received.
pub enum Arrival {
    /// The item is stored already with these bytes: its original receipt.
    Resend(pb::Receipt),
    /// Not stored yet: check it and commit it.
    New {
        /// SHA-256 of the item's bytes as received.
        sha256: [u8; 32],
    },
}

/// Hashes an item's bytes and answers a resend from storage before any rule
/// is checked again: the rules (clock, directory) may have moved since the
/// original was accepted. `id` is the item's id field as sent.
pub async fn arrive(state: &AppState, id: &str, body_bytes: &[u8]) -> Result<Arrival, ServiceError> {
    let sha256: [u8; 32] = sha2::Sha256::digest(body_bytes).into();
    let item_id = fieldlink_protocol::validate::item_id("id", id)?;
    Ok(match answer_resend(state, item_id, &sha256).await? {
        Some(receipt) => Arrival::Resend(receipt),
        None => Arrival::New { sha256 },
    })
}

/// The answer to a resend, if `item_id` is stored: the original receipt for
/// the same bytes, a conflict for other bytes. `None` for a new item.
///
/// Checked before the rules, which may have moved since the original was
/// accepted (the clock, the directory).
pub async fn answer_resend(
    state: &AppState,
    item_id: Uuid,
    sha256: &[u8; 32],
) -> Result<Option<pb::Receipt>, ServiceError> {
    let Some(stored) = state.storage.item(item_id).await? else {
        return Ok(None);
    };
    if &stored.receipt.sha256 == sha256 {
        Ok(Some(wire_receipt(stored.receipt, true)))
    } else {
        Err(ServiceError::Conflict {
            existing_seq: stored.receipt.server_seq,
        })
    }
}

/// Commits a checked item through the group committer.
pub async fn commit(state: &AppState, item: NewItem) -> Result<pb::Receipt, ServiceError> {
    if let Err(error) = state
        .evidence
        .faults
        .check(crate::evidence::faults::FaultPoint::Commit)
    {
        tracing::error!(%error, "commit failed; nothing stored");
        return Err(ServiceError::StorageUnavailable);
    }
    match state.committer.commit(item).await? {
        CommitOutcome::Stored(receipt) => Ok(wire_receipt(receipt, false)),
        CommitOutcome::Replayed(receipt) => Ok(wire_receipt(receipt, true)),
        CommitOutcome::Conflict { existing_seq } => Err(ServiceError::Conflict { existing_seq }),
    }
}
