//! Discards what is no longer wanted: unfinished uploads past their time,
//! partial files no unfinished upload names, and orphan blobs (a crash
//! between the blob's rename and the database commit leaves one; it was
//! never acknowledged, so nothing is lost).
//!
//! An orphan may be wanted again at any moment: a retry of the same bytes
//! finds it in the store and keeps it instead of its own copy. Whoever is
//! about to rely on a blob leases it first (`blob_leases`, durable, on every
//! node), and the janitor removes in two steps: it moves an old blob that is
//! neither referenced nor leased aside, looks again, and puts it back if a
//! reference or a lease appeared meanwhile; only then is it discarded. A
//! holder that checked for the blob before the move holds a lease the second
//! look sees; one that checks after finds it gone and stores its own copy.

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
    /// Partial files that no unfinished upload names, removed.
    pub orphan_partial_files: u64,
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
    sweep.orphan_partial_files = orphan_partial_files(state).await;
    // Blobs a crash left set aside: decided now.
    let blobs = state.evidence.blobs.clone();
    if let Ok(Ok(aside)) = tokio::task::spawn_blocking(move || blobs.set_aside_blobs()).await {
        for (sha256, path) in aside {
            if decide(state, sha256, path).await {
                sweep.orphan_blobs += 1;
            }
        }
    }
    let blobs = state.evidence.blobs.clone();
    let listed = tokio::task::spawn_blocking(move || blobs.list()).await;
    if let Ok(Ok(blobs)) = listed {
        for (sha256, age) in blobs {
            if age < ORPHAN_BLOB_AGE_MIN {
                continue;
            }
            if !matches!(
                state.storage.blob_is_wanted(&sha256, (state.clock)()).await,
                Ok(false)
            ) {
                continue;
            }
            let store = state.evidence.blobs.clone();
            let removed = match tokio::task::spawn_blocking(move || store.set_aside(&sha256)).await {
                Ok(Ok(Some(path))) => decide(state, sha256, path).await,
                // An object store cannot move an object: it is removed after
                // the one look (a lease taken since is the remaining window).
                Ok(Ok(None)) => {
                    let store = state.evidence.blobs.clone();
                    matches!(
                        tokio::task::spawn_blocking(move || store.remove(&sha256)).await,
                        Ok(Ok(()))
                    )
                }
                _ => false,
            };
            if removed {
                sweep.orphan_blobs += 1;
            }
        }
    }
    if sweep != Sweep::default() {
        tracing::info!(?sweep, "janitor swept");
    }
    sweep
}

/// Partial files that no unfinished upload's row names, untouched for the
/// unfinished-upload TTL, are removed: a crash between a discarded upload's
/// row and its file's removal leaves one, and so does one between a fresh
/// upload's file and its row (that upload was never acknowledged). Returns
/// how many were removed; none when the rows cannot be read.
async fn orphan_partial_files(state: &AppState) -> u64 {
    // Every row (all nodes'), fetched after the files were listed: a row
    // written meanwhile is seen.
    let partials = state.evidence.partials.clone();
    let Ok(Ok(files)) = tokio::task::spawn_blocking(move || partials.list()).await else {
        return 0;
    };
    let Ok(rows) = state.storage.stale_partial_uploads(i64::MAX).await else {
        return 0;
    };
    let named: std::collections::HashSet<std::path::PathBuf> = rows
        .iter()
        .map(|row| state.evidence.partials.path_of(&row.device_id, row.evidence_id))
        .collect();
    let ttl = Duration::from_millis(u64::try_from(state.config.partial_upload_ttl_ms).unwrap_or(0));
    let orphans: Vec<_> = files
        .into_iter()
        .filter(|(path, age)| *age >= ttl && !named.contains(path))
        .map(|(path, _)| path)
        .collect();
    let removed = tokio::task::spawn_blocking(move || {
        orphans
            .iter()
            .filter(|path| std::fs::remove_file(path).is_ok())
            .count() as u64
    })
    .await;
    removed.unwrap_or(0)
}

/// The second look at a blob set aside: back into the store if it is
/// wanted now (or the database cannot say), else discarded. True when
/// discarded.
async fn decide(state: &AppState, sha256: [u8; 32], path: std::path::PathBuf) -> bool {
    let wanted = !matches!(
        state.storage.blob_is_wanted(&sha256, (state.clock)()).await,
        Ok(false)
    );
    let store = state.evidence.blobs.clone();
    let done = tokio::task::spawn_blocking(move || {
        if wanted {
            store.put_back(&sha256, &path)
        } else {
            std::fs::remove_file(&path)
        }
    })
    .await;
    if wanted {
        tracing::info!(blob = %hex::encode(sha256), "a blob set aside was wanted again: put back");
    }
    !wanted && matches!(done, Ok(Ok(())))
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
