//! What every item kind does with a checked item: commit it and answer with
//! the receipt, or answer a resend from storage.

use fieldlink_protocol::pb;
use sha2::Digest;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::state::AppState;
use crate::storage::{CommitOutcome, NewItem, StoredReceipt};

/// The id and the SHA-256 of an item's bytes as received. `id` is the
/// item's id field as sent.
pub fn arrive(id: &str, body_bytes: &[u8]) -> Result<(Uuid, [u8; 32]), ServiceError> {
    let item_id = fieldlink_protocol::validate::item_id("id", id)?;
    Ok((item_id, sha2::Sha256::digest(body_bytes).into()))
}

/// Commits an item that passed its kind's checks; answers a refused one as
/// a resend when `item_id` is stored already.
///
/// A new item costs no storage read before its commit (the commit itself
/// tells a resend of the same bytes, `Replayed`, and a conflict). A resend
/// that the rules refuse now — they may have moved since the original was
/// accepted: the clock, the directory, a service already delivered by that
/// very event — still gets the original receipt, or the conflict.
pub async fn commit_checked(
    state: &AppState,
    item_id: Uuid,
    sha256: &[u8; 32],
    checked: Result<NewItem, ServiceError>,
) -> Result<pb::Receipt, ServiceError> {
    match checked {
        Ok(item) => commit(state, item).await,
        Err(refusal) => match answer_resend(state, item_id, sha256).await? {
            Some(receipt) => Ok(receipt),
            None => Err(refusal),
        },
    }
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
        CommitOutcome::StepTaken { at_ms } => Err(ServiceError::step_taken(at_ms)),
    }
}

/// A stored receipt as sent on the wire.
pub fn wire_receipt(receipt: StoredReceipt, replayed: bool) -> pb::Receipt {
    pb::Receipt {
        item_id: receipt.item_id.to_string(),
        server_seq: receipt.server_seq,
        received_at_ms: receipt.received_at_ms,
        sha256: receipt.sha256.to_vec(),
        replayed,
        sm3: receipt
            .leaf
            .and_then(|leaf| leaf.sm3)
            .map(|sm3| sm3.to_vec())
            .unwrap_or_default(),
        leaf_index: receipt.leaf.map_or(0, |leaf| leaf.index),
        ..Default::default()
    }
}
