//! The audit: recompute the transparency log from what is stored and compare
//! it with what was signed (`fieldlink-server audit`).
//!
//! For every leaf, in order: the item (or assignment event) it names must
//! exist and give the same leaf again (kind, seq, time, SHA-256 and SM3 of
//! its bytes, device, officer); a photo's original must be in the blob store
//! under its name with the same SHA-256 and SM3. The tree is rebuilt from
//! the leaves (keeping only its right edge, so memory stays O(log n)) and
//! every signed checkpoint must verify with the log key and match both the
//! rebuilt root and the root served from the stored subtree hashes. Stored
//! items without a leaf are named too. Each problem names the item.

use std::collections::BTreeMap;

use fieldlink_protocol::log::{self, Leaf, LeafKind};
use prost::Message;
use serde::Serialize;
use sha2::Digest;

use crate::evidence::blob_store::BlobStore;
use crate::storage::{Storage, StorageError, StoredCheckpoint};

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// The stored item no longer gives its leaf: it was altered.
    AlteredItem {
        /// The item.
        item_id: String,
        /// Its leaf.
        leaf_index: u64,
        /// Which fields differ.
        detail: String,
    },
    /// The leaf names an item that is not stored.
    MissingItem {
        /// The item.
        item_id: String,
        /// Its leaf.
        leaf_index: u64,
    },
    /// A stored item or assignment event has no leaf.
    UnloggedItem {
        /// The item.
        item_id: String,
    },
    /// A leaf does not decode, or the leaves have a gap.
    BadLeaf {
        /// The leaf.
        leaf_index: u64,
        /// What is wrong.
        detail: String,
    },
    /// A photo's original is missing from the blob store.
    MissingBlob {
        /// The photo.
        item_id: String,
        /// The blob's name (SHA-256, hex).
        sha256: String,
    },
    /// A photo's original does not hash to its name, or its SM3 differs.
    AlteredBlob {
        /// The photo.
        item_id: String,
        /// The blob's name (SHA-256, hex).
        sha256: String,
    },
    /// A checkpoint's signature does not verify with the log key.
    BadCheckpointSignature {
        /// Its size.
        tree_size: u64,
        /// Why.
        detail: String,
    },
    /// The leaves do not give the root a checkpoint signed: they were
    /// rewritten, or leaves were removed or added, at or below this size.
    CheckpointMismatch {
        /// The checkpoint's size.
        tree_size: u64,
        /// Which root disagrees.
        detail: String,
    },
}

/// What the audit looked at and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Leaves checked.
    pub leaves: u64,
    /// Photo originals checked.
    pub blobs: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Everything wrong; empty when the evidence is intact.
    pub problems: Vec<Problem>,
}

/// Leaves (and checkpoints) read per storage call.
const PAGE: u32 = 1000;
/// Most items without a leaf named in one report.
const UNLOGGED_NAMED_MAX: u32 = 10_000;

/// The right edge of a Merkle tree being built leaf by leaf: the roots of
/// its complete subtrees, largest first, with their sizes.
#[derive(Default)]
struct RightEdge(Vec<(u64, [u8; 32])>);

impl RightEdge {
    fn push(&mut self, leaf_hash: [u8; 32]) {
        let mut node = (1, leaf_hash);
        while let Some(&(size, left)) = self.0.last() {
            if size != node.0 {
                break;
            }
            self.0.pop();
            node = (size * 2, log::node_hash(&left, &node.1));
        }
        self.0.push(node);
    }

    /// RFC 9162's root of the leaves so far: the subtrees folded right to left.
    fn root(&self) -> [u8; 32] {
        let mut subtrees = self.0.iter().rev();
        let Some(&(_, mut root)) = subtrees.next() else {
            return sha2::Sha256::digest([]).into();
        };
        for (_, left) in subtrees {
            root = log::node_hash(left, &root);
        }
        root
    }
}

/// Audits `storage` and `blobs` against checkpoints signed by
/// `verifier_key` for `origin`.
pub async fn run(
    storage: &dyn Storage,
    blobs: &BlobStore,
    verifier_key: &str,
    origin: &str,
) -> Result<AuditReport, StorageError> {
    let mut report = AuditReport::default();
    let checkpoints = all_checkpoints(storage).await?;
    let mut edge = RightEdge::default();
    let mut next_index = 0;
    loop {
        let page = storage.log_leaves(next_index, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for (index, data) in page {
            if index != next_index {
                report.problems.push(Problem::BadLeaf {
                    leaf_index: next_index,
                    detail: format!("the next stored leaf is {index}"),
                });
            }
            next_index = index + 1;
            report.leaves += 1;
            edge.push(log::leaf_hash(&data));
            match Leaf::decode(&data) {
                Ok(leaf) => check_leaf(storage, blobs, index, &leaf, &mut report).await?,
                Err(error) => report.problems.push(Problem::BadLeaf {
                    leaf_index: index,
                    detail: error.to_string(),
                }),
            }
            if let Some(checkpoint) = checkpoints.get(&next_index) {
                check_checkpoint(
                    storage,
                    checkpoint,
                    edge.root(),
                    verifier_key,
                    origin,
                    &mut report,
                )
                .await?;
            }
        }
    }
    for (size, checkpoint) in checkpoints.range(next_index + 1..) {
        report.checkpoints += 1;
        report.problems.push(Problem::CheckpointMismatch {
            tree_size: *size,
            detail: format!(
                "signed for {} leaves; {} are stored",
                checkpoint.tree_size, next_index
            ),
        });
    }
    if let Some(empty) = checkpoints.get(&0) {
        check_checkpoint(
            storage,
            empty,
            RightEdge::default().root(),
            verifier_key,
            origin,
            &mut report,
        )
        .await?;
    }
    let unlogged = storage.unlogged_ids(UNLOGGED_NAMED_MAX).await?;
    report
        .problems
        .extend(unlogged.into_iter().map(|id| Problem::UnloggedItem {
            item_id: id.to_string(),
        }));
    Ok(report)
}

async fn all_checkpoints(storage: &dyn Storage) -> Result<BTreeMap<u64, StoredCheckpoint>, StorageError> {
    let mut all = BTreeMap::new();
    let mut from = 0;
    loop {
        let page = storage.checkpoints(from, PAGE).await?;
        let done = page.len() < PAGE as usize;
        for checkpoint in page {
            from = checkpoint.tree_size + 1;
            all.insert(checkpoint.tree_size, checkpoint);
        }
        if done {
            return Ok(all);
        }
    }
}

async fn check_checkpoint(
    storage: &dyn Storage,
    checkpoint: &StoredCheckpoint,
    rebuilt: [u8; 32],
    verifier_key: &str,
    origin: &str,
    report: &mut AuditReport,
) -> Result<(), StorageError> {
    report.checkpoints += 1;
    let size = checkpoint.tree_size;
    match log::open_checkpoint(&checkpoint.note, verifier_key, origin) {
        Ok(opened) if opened.size == size && opened.root == checkpoint.root => {}
        Ok(_) => report.problems.push(Problem::BadCheckpointSignature {
            tree_size: size,
            detail: "the signed note and the stored row disagree".into(),
        }),
        Err(error) => report.problems.push(Problem::BadCheckpointSignature {
            tree_size: size,
            detail: error.to_string(),
        }),
    }
    if rebuilt != checkpoint.root {
        report.problems.push(Problem::CheckpointMismatch {
            tree_size: size,
            detail: "the stored leaves give another root".into(),
        });
    }
    match crate::transparency::root_at(storage, size).await {
        Ok(served) if served == checkpoint.root => {}
        Ok(_) => report.problems.push(Problem::CheckpointMismatch {
            tree_size: size,
            detail: "the stored subtree hashes give another root".into(),
        }),
        Err(error) => report.problems.push(Problem::CheckpointMismatch {
            tree_size: size,
            detail: format!("the stored subtree hashes: {error}"),
        }),
    }
    Ok(())
}

/// The leaf the stored item (or event) gives now, if it is stored.
async fn leaf_from_storage(storage: &dyn Storage, leaf: &Leaf) -> Result<Option<Leaf>, StorageError> {
    if leaf.kind == LeafKind::AssignmentEvent {
        let Some(recorded) = storage.assignment_event_by_id(leaf.item_id).await? else {
            return Ok(None);
        };
        let history = storage.assignment_history(recorded.assignment_id).await?;
        let Some(mut event) = history.into_iter().find(|event| event.seq == recorded.seq) else {
            return Ok(None);
        };
        event.seq = 0;
        return crate::storage::stored_event_leaf(leaf.item_id, recorded.seq, &event.encode_to_vec())
            .map(Some);
    }
    if leaf.kind == LeafKind::IncidentEvent {
        let Some((seq, bytes)) = storage.incident_event(leaf.item_id).await? else {
            return Ok(None);
        };
        return crate::storage::incident_leaf(seq, &bytes).map(Some);
    }
    if leaf.kind == LeafKind::Custody {
        let Some(event) = storage.custody_event(leaf.item_id).await? else {
            return Ok(None);
        };
        return crate::storage::custody_leaf(event.seq, &event.bytes).map(Some);
    }
    let Some(item) = storage.item(leaf.item_id).await? else {
        return Ok(None);
    };
    let photo_sm3 = match leaf.kind {
        LeafKind::Photo => storage.photo(leaf.item_id).await?.map(|photo| photo.index.sm3),
        _ => None,
    };
    crate::storage::stored_item_leaf(
        &item.kind,
        &item.receipt,
        item.device_id,
        item.officer_id,
        &item.body,
        photo_sm3,
        item.capture.as_ref(),
    )
    .map(Some)
}

async fn check_leaf(
    storage: &dyn Storage,
    blobs: &BlobStore,
    index: u64,
    leaf: &Leaf,
    report: &mut AuditReport,
) -> Result<(), StorageError> {
    let item_id = leaf.item_id.to_string();
    let Some(now) = leaf_from_storage(storage, leaf).await? else {
        report.problems.push(Problem::MissingItem {
            item_id,
            leaf_index: index,
        });
        return Ok(());
    };
    if now != *leaf {
        report.problems.push(Problem::AlteredItem {
            item_id: item_id.clone(),
            leaf_index: index,
            detail: differences(leaf, &now),
        });
    }
    if leaf.kind == LeafKind::Photo {
        report.blobs += 1;
        let name = hex::encode(leaf.sha256);
        // Read in pieces: a video is never held whole.
        match blobs.digests(&leaf.sha256) {
            Err(_) => report.problems.push(Problem::MissingBlob {
                item_id,
                sha256: name,
            }),
            Ok((sha256, sm3, _)) => {
                if sha256 != leaf.sha256 || sm3 != leaf.sm3 {
                    report.problems.push(Problem::AlteredBlob {
                        item_id,
                        sha256: name,
                    });
                }
            }
        }
    }
    Ok(())
}

fn differences(logged: &Leaf, stored: &Leaf) -> String {
    let fields: Vec<&str> = [
        ("kind", logged.kind != stored.kind),
        ("server_seq", logged.server_seq != stored.server_seq),
        ("received_at_ms", logged.received_at_ms != stored.received_at_ms),
        ("sha256", logged.sha256 != stored.sha256),
        ("sm3 (the bytes)", logged.sm3 != stored.sm3),
        ("device_id", logged.device_id != stored.device_id),
        ("officer_id", logged.officer_id != stored.officer_id),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect();
    format!("differs from its leaf in: {}", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_edge_gives_rfc_9162_roots() {
        let leaves: Vec<Vec<u8>> = (0..20).map(|i| vec![i]).collect();
        fn definition(leaves: &[Vec<u8>]) -> [u8; 32] {
            match leaves.len() {
                1 => log::leaf_hash(&leaves[0]),
                n => {
                    let k = n.next_power_of_two() / 2;
                    log::node_hash(&definition(&leaves[..k]), &definition(&leaves[k..]))
                }
            }
        }
        let mut edge = RightEdge::default();
        assert_eq!(edge.root(), <[u8; 32]>::from(sha2::Sha256::digest([])));
        for n in 1..=leaves.len() {
            edge.push(log::leaf_hash(&leaves[n - 1]));
            assert_eq!(edge.root(), definition(&leaves[..n]), "size {n}");
            assert!(edge.0.len() <= 5);
        }
    }
}

/// Audits the evidence every `interval` while the server runs (a slow,
/// steady scrub: one leaf at a time, like the `audit` command), until
/// `shutdown`. Each problem is logged at error level and their count is the
/// `fieldlink_evidence_problems` metric.
pub async fn run_scrub(
    storage: std::sync::Arc<dyn Storage>,
    evidence: std::sync::Arc<crate::evidence::Evidence>,
    signer: std::sync::Arc<crate::transparency::LogSigner>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use std::sync::atomic::Ordering;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
        let audit = run(
            storage.as_ref(),
            &evidence.blobs,
            signer.verifier_key(),
            signer.origin(),
        );
        let report = tokio::select! {
            report = audit => report,
            () = shutdown.cancelled() => return,
        };
        match report {
            Ok(report) => {
                for problem in &report.problems {
                    tracing::error!(?problem, "the evidence scrub found a problem");
                }
                metrics
                    .evidence_problems
                    .store(report.problems.len() as u64, Ordering::Relaxed);
                metrics.scrubs.fetch_add(1, Ordering::Relaxed);
                if let Err(error) = record_audit(storage.as_ref(), "fieldlink-server", "evidence scrub").await
                {
                    tracing::warn!(%error, "could not log the scrub's custody event");
                }
                tracing::info!(
                    leaves = report.leaves,
                    blobs = report.blobs,
                    problems = report.problems.len(),
                    "evidence scrub done"
                );
            }
            Err(error) => tracing::warn!(%error, "the evidence scrub could not read storage"),
        }
    }
}

/// Why the audit could not run (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The log key (to derive the verifier key from) is unusable.
    #[error(transparent)]
    LogKey(#[from] crate::transparency::LogKeyError),
    /// The verifier key file cannot be read.
    #[error("cannot read the verifier key {path}: {error}")]
    VerifierKey {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The stored data cannot be opened.
    #[error(transparent)]
    Open(#[from] crate::stored_data::OpenError),
    /// The database cannot be read.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Audits the server data `config` names (its SQLite file or PostgreSQL
/// database, its evidence store), against the verifier key in
/// `verifier_key_file` or, without one, the key of `config`'s log key. The
/// audit is itself a custody event (by `actor`), logged after it ran.
pub async fn audit_data(
    config: &crate::Config,
    verifier_key_file: Option<&std::path::Path>,
    actor: &str,
) -> Result<AuditReport, AuditError> {
    let verifier_key = match verifier_key_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| AuditError::VerifierKey {
                path: path.display().to_string(),
                error,
            })?
            .trim()
            .to_owned(),
        // Reading, not signing: the development key is fine here.
        None => crate::transparency::LogSigner::load(&config.log_key_file()?, &config.log_origin, true)?
            .verifier_key()
            .to_owned(),
    };
    let (storage, evidence) = crate::stored_data::open(config).await?;
    let report = run(
        storage.as_ref(),
        &evidence.blobs,
        &verifier_key,
        &config.log_origin,
    )
    .await;
    let recorded = match &report {
        Ok(_) => record_audit(storage.as_ref(), actor, "fieldlink-server audit").await,
        Err(_) => Ok(()),
    };
    storage.close().await;
    recorded?;
    Ok(report?)
}

/// Logs that an audit read the evidence (a custody event naming no item:
/// it read them all).
pub async fn record_audit(storage: &dyn Storage, actor: &str, origin: &str) -> Result<(), StorageError> {
    let accessor = crate::custody::Accessor {
        actor: actor.into(),
        origin: origin.into(),
    };
    crate::custody::record(storage, &accessor, crate::custody::Action::Audit, "", Vec::new())
        .await
        .map(|_| ())
}
