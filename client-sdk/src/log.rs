//! Proofs from the transparency log, verified on the terminal.
//!
//! [`Client::inclusion_proof`] asks the server for an item's proof, checks
//! the checkpoint's signature against the trusted log key
//! ([`crate::ClientConfig::log`]), the proof against the checkpoint, and
//! that the checkpoint extends the newest one this client verified before
//! (a consistency proof). A server whose log forked or shrank is reported as
//! [`Error::LogForked`], never retried. An app that keeps the newest
//! checkpoint across restarts saves [`Client::verified_checkpoint`] and
//! gives it back with [`Client::trust_checkpoint`].

use fieldlink_protocol::frame;
use fieldlink_protocol::log::{self, Checkpoint, Leaf, LogError};
use fieldlink_protocol::pb::{self, request::Body, response};

use crate::client::unexpected;
use crate::{Client, Error};

/// An item's inclusion proof, verified.
#[derive(Debug, Clone)]
pub struct VerifiedInclusion {
    /// The leaf, decoded: the item's kind, id, seq, time, digests, sender.
    pub leaf: Leaf,
    /// The leaf's index.
    pub leaf_index: u64,
    /// The checkpoint it was verified against.
    pub checkpoint: Checkpoint,
    /// The proof as the server sent it (leaf bytes, audit path, note).
    pub proof: pb::InclusionProof,
}

fn log_error(error: LogError) -> Error {
    match error {
        LogError::Forked(detail) => Error::LogForked(detail),
        other => Error::LogProof(other.to_string()),
    }
}

impl Client {
    /// The newest checkpoint this client verified, if any.
    pub async fn verified_checkpoint(&self) -> Option<Checkpoint> {
        self.log_head.lock().await.clone()
    }

    /// Starts from a checkpoint verified earlier (e.g. saved across a
    /// restart); later checkpoints must extend it. Its signature is checked.
    pub async fn trust_checkpoint(&self, note: &str) -> Result<Checkpoint, Error> {
        let checkpoint = self.open_checkpoint(note)?;
        *self.log_head.lock().await = Some(checkpoint.clone());
        Ok(checkpoint)
    }

    /// Asks for an item's inclusion proof and verifies it (signature,
    /// proof, consistency with the newest checkpoint verified before).
    pub async fn inclusion_proof(&self, item_id: &str) -> Result<VerifiedInclusion, Error> {
        let request = pb::Request {
            body: Some(Body::LogProof(pb::ProofQuery {
                item_id: item_id.to_owned(),
            })),
            capture: None,
        };
        let proof = match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::InclusionProof(proof) => proof,
            other => return Err(unexpected(other)),
        };
        let checkpoint = self.open_checkpoint(&proof.checkpoint)?;
        log::verify_inclusion(&proof.leaf, proof.leaf_index, &proof.hashes, &checkpoint)
            .map_err(log_error)?;
        let leaf = Leaf::decode(&proof.leaf).map_err(log_error)?;
        if leaf.item_id.to_string() != item_id {
            return Err(Error::LogProof(format!(
                "the leaf is of {}, not {item_id}",
                leaf.item_id
            )));
        }
        self.advance(checkpoint.clone()).await?;
        Ok(VerifiedInclusion {
            leaf,
            leaf_index: proof.leaf_index,
            checkpoint,
            proof,
        })
    }

    /// Checks the server's newest checkpoint against the newest one this
    /// client verified, and moves to it. Returns the checkpoint now trusted.
    pub async fn check_log(&self) -> Result<Checkpoint, Error> {
        let Some(head) = self.verified_checkpoint().await else {
            let (_, newest) = self.consistency(1, 0).await?;
            let newest = self.open_checkpoint(&newest)?;
            *self.log_head.lock().await = Some(newest.clone());
            return Ok(newest);
        };
        let (hashes, newest) = self.consistency(head.size.max(1), 0).await?;
        let newest = self.open_checkpoint(&newest)?;
        log::verify_consistency(&head, &newest, &hashes).map_err(log_error)?;
        *self.log_head.lock().await = Some(newest.clone());
        Ok(newest)
    }

    /// Moves the trusted head to `checkpoint` if it extends it; keeps the
    /// head if `checkpoint` is an older state the head extends; anything
    /// else is a fork.
    async fn advance(&self, checkpoint: Checkpoint) -> Result<(), Error> {
        let Some(head) = self.verified_checkpoint().await else {
            *self.log_head.lock().await = Some(checkpoint);
            return Ok(());
        };
        let (older, newer) = if checkpoint.size >= head.size {
            (head, checkpoint)
        } else {
            (checkpoint, head)
        };
        let hashes = if older.size == 0 || older.size == newer.size {
            Vec::new()
        } else {
            let (hashes, note) = self.consistency(older.size, newer.size).await?;
            if note != newer.note {
                let answered = self.open_checkpoint(&note)?;
                if (answered.size, answered.root) != (newer.size, newer.root) {
                    return Err(Error::LogForked(format!(
                        "two checkpoints for {} leaves with different roots",
                        newer.size
                    )));
                }
            }
            hashes
        };
        log::verify_consistency(&older, &newer, &hashes).map_err(log_error)?;
        *self.log_head.lock().await = Some(newer);
        Ok(())
    }

    async fn consistency(&self, old_size: u64, new_size: u64) -> Result<(Vec<Vec<u8>>, String), Error> {
        let request = pb::Request {
            body: Some(Body::LogConsistency(pb::ConsistencyQuery { old_size, new_size })),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::ConsistencyProof(proof) => Ok((proof.hashes, proof.checkpoint)),
            other => Err(unexpected(other)),
        }
    }

    fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, Error> {
        let trust = self
            .config
            .log
            .as_ref()
            .ok_or_else(|| Error::Config("no transparency log is trusted (ClientConfig::log)".into()))?;
        let checkpoint = log::open_checkpoint(note, &trust.verifier_key, &trust.origin).map_err(log_error)?;
        for witness in &trust.witnesses {
            fieldlink_protocol::cosignature::check_cosigned(note, witness)
                .map_err(|e| Error::NotCosigned(e.to_string()))?;
        }
        Ok(checkpoint)
    }
}
