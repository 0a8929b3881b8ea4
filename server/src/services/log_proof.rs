//! Proofs from the transparency log: an item's inclusion proof against a
//! signed checkpoint, and the consistency of the newest checkpoint with an
//! older tree size.

use fieldlink_protocol::log::Leaf;
use fieldlink_protocol::{pb, validate, FieldError};

use crate::directory::Role;
use crate::error::ServiceError;
use crate::session::Session;
use crate::state::AppState;
use crate::transparency;

/// Whether this session may see this leaf: supervisors any; an officer the
/// leaves of items they or their device sent. Anything else looks unknown.
fn may_see(session: &Session, leaf: &Leaf) -> bool {
    session.officer.role == Role::Supervisor
        || leaf.officer_id == session.officer.id
        || leaf.device_id == session.device_id
}

/// Answers `log_proof`.
pub async fn inclusion(
    state: &AppState,
    session: &Session,
    query: pb::ProofQuery,
) -> Result<pb::InclusionProof, ServiceError> {
    let item_id = validate::item_id("item_id", &query.item_id)?;
    let not_found = || ServiceError::NotFound {
        field: "item_id".into(),
        message: "no such item in the log".into(),
    };
    let (index, data) = state.storage.log_leaf(item_id).await?.ok_or_else(not_found)?;
    let leaf = Leaf::decode(&data).map_err(|e| {
        tracing::error!(%item_id, error = %e, "a stored log leaf does not decode");
        ServiceError::StorageUnavailable
    })?;
    if !may_see(session, &leaf) {
        return Err(not_found());
    }
    let storage = state.storage.as_ref();
    let checkpoint =
        transparency::witnessed_covering(storage, &state.log_signer, index + 1, (state.clock)()).await?;
    let hashes = transparency::inclusion_proof(storage, index, checkpoint.tree_size).await?;
    Ok(pb::InclusionProof {
        leaf_index: index,
        leaf: data,
        hashes: hashes.iter().map(|hash| hash.to_vec()).collect(),
        checkpoint: checkpoint.note,
    })
}

/// Answers `log_consistency`: from `old_size` to the newest checkpoint, or
/// to the stored checkpoint of `new_size`.
pub async fn consistency(
    state: &AppState,
    query: pb::ConsistencyQuery,
) -> Result<pb::ConsistencyProof, ServiceError> {
    if query.old_size == 0 {
        return Err(FieldError::new("old_size", "must be at least 1").into());
    }
    let storage = state.storage.as_ref();
    let checkpoint = if query.new_size == 0 {
        transparency::witnessed_covering(storage, &state.log_signer, query.old_size, (state.clock)()).await?
    } else {
        let signed = storage
            .checkpoint_at(query.new_size)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                field: "new_size".into(),
                message: format!("no checkpoint of {} leaves was signed", query.new_size),
            })?;
        transparency::with_cosignatures(storage, signed).await?
    };
    // A size beyond the checkpoint gets it and no proof: the terminal sees
    // for itself that the log is smaller than it remembers.
    let hashes = if query.old_size > checkpoint.tree_size {
        Vec::new()
    } else {
        transparency::consistency_proof(storage, query.old_size, checkpoint.tree_size).await?
    };
    Ok(pb::ConsistencyProof {
        old_size: query.old_size,
        hashes: hashes.iter().map(|hash| hash.to_vec()).collect(),
        checkpoint: checkpoint.note,
    })
}
