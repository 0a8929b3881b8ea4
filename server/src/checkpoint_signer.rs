//! The checkpoint signer: a task that signs a checkpoint at most once a
//! second while the log grows, and sends the newest checkpoint to each
//! configured witness (keeping their cosignatures). Kept apart from
//! `transparency` (keys, checkpoints, proofs), which the witness client
//! itself uses for its consistency proofs.

use std::sync::Arc;
use std::time::Duration;

use crate::storage::{LogStore, StoredCheckpoint};
use crate::transparency::{sign_now, LogSigner};

/// How often the signer looks for new leaves.
pub const SIGN_INTERVAL: Duration = Duration::from_secs(1);

/// Signs a checkpoint once a second while the log grows, and sends the
/// newest checkpoint (signed here, or on demand for a proof) to each
/// witness, once per checkpoint, until `shutdown`. A witness's refusal is
/// logged at error level and counted (`fieldlink_witness_refusals_total`).
pub async fn run_signer(
    storage: Arc<dyn LogStore>,
    signer: Arc<LogSigner>,
    clock: fn() -> i64,
    witnesses: Vec<crate::witness_client::WitnessEndpoint>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let http = match witnesses.is_empty() {
        true => None,
        false => match crate::witness_client::http_client() {
            Ok(http) => Some(http),
            Err(error) => {
                tracing::error!(%error, "no HTTP client for the witnesses");
                None
            }
        },
    };
    // Each witness with the size of the checkpoint last sent to it.
    let mut witnesses: Vec<_> = witnesses.into_iter().map(|witness| (witness, None)).collect();
    let mut tick = tokio::time::interval(SIGN_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let newest = async {
            let size = storage.log_size().await?;
            match storage.latest_checkpoint().await? {
                Some(signed) if signed.tree_size >= size => Ok(signed),
                _ => sign_now(storage.as_ref(), &signer, clock()).await,
            }
        }
        .await;
        let checkpoint = match newest {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                tracing::warn!(%error, "could not sign a log checkpoint");
                continue;
            }
        };
        let Some(http) = &http else { continue };
        for (witness, sent) in &mut witnesses {
            if *sent == Some(checkpoint.tree_size) {
                continue;
            }
            *sent = Some(checkpoint.tree_size);
            let cosigned = tokio::select! {
                cosigned = crate::witness_client::cosign(http, witness, storage.as_ref(), &checkpoint) => cosigned,
                () = shutdown.cancelled() => return,
            };
            note_cosignature(storage.as_ref(), &metrics, witness, &checkpoint, cosigned).await;
        }
    }
}

/// Keeps a cosignature, or logs and counts why there is none.
async fn note_cosignature(
    storage: &dyn LogStore,
    metrics: &crate::metrics::Metrics,
    witness: &crate::witness_client::WitnessEndpoint,
    checkpoint: &StoredCheckpoint,
    cosigned: Result<String, crate::witness_client::WitnessCallError>,
) {
    use std::sync::atomic::Ordering;
    match cosigned {
        Ok(note) => {
            metrics.witness_cosignatures.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = storage
                .store_cosignature(checkpoint.tree_size, &witness.key, &note)
                .await
            {
                tracing::warn!(%error, "could not keep a cosignature");
            }
        }
        Err(error @ crate::witness_client::WitnessCallError::Unreachable { .. }) => {
            tracing::warn!(%error, "no cosignature");
        }
        Err(error) => {
            metrics.witness_refusals.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "a witness refused the log's checkpoint");
        }
    }
}
