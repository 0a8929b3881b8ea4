//! Discards what is no longer wanted: unfinished uploads past their time, and
//! orphan blobs (a crash between the blob's rename and the database commit
//! leaves one; it was never acknowledged, so nothing is lost).

use std::time::Duration;

use crate::state::AppState;

/// A blob younger than this is never collected: its commit may be in flight.
const ORPHAN_BLOB_AGE_MIN: Duration = Duration::from_secs(60 * 60);

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Unfinished uploads discarded.
    pub partial_uploads: u64,
    /// Orphan blobs removed.
    pub orphan_blobs: u64,
}

/// Runs one sweep.
pub async fn sweep(state: &AppState) -> Sweep {
    let mut sweep = Sweep::default();
    let cutoff_ms = (state.clock)() - state.config.partial_upload_ttl_ms;
    match state.storage.stale_partial_uploads(cutoff_ms).await {
        Ok(stale) => {
            for upload in stale {
                let _slot = state
                    .evidence
                    .slots
                    .acquire(&upload.device_id, upload.evidence_id)
                    .await;
                if state
                    .storage
                    .delete_partial_upload(&upload.device_id, upload.evidence_id)
                    .await
                    .is_ok()
                {
                    let _ = state
                        .evidence
                        .partials
                        .remove(&upload.device_id, upload.evidence_id);
                    sweep.partial_uploads += 1;
                }
            }
        }
        Err(error) => tracing::warn!(%error, "janitor could not list stale uploads"),
    }
    let blobs = state.evidence.blobs.clone();
    let listed = tokio::task::spawn_blocking(move || blobs.list()).await;
    if let Ok(Ok(blobs)) = listed {
        for (sha256, age) in blobs {
            if age < ORPHAN_BLOB_AGE_MIN {
                continue;
            }
            if let Ok(false) = state.storage.blob_is_referenced(&sha256).await {
                let blobs = state.evidence.blobs.clone();
                if let Ok(Ok(())) = tokio::task::spawn_blocking(move || blobs.remove(&sha256)).await {
                    sweep.orphan_blobs += 1;
                }
            }
        }
    }
    if sweep != Sweep::default() {
        tracing::info!(?sweep, "janitor swept");
    }
    sweep
}

/// Sweeps at start and then every `janitor_interval_ms` until cancelled.
pub async fn run(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let interval = Duration::from_millis(state.config.janitor_interval_ms);
    loop {
        sweep(&state).await;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
