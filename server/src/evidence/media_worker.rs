//! The media worker: what is left to do on stored media after its receipt,
//! taken from the durable queue (`media_jobs`): decode each photo and make
//! its thumbnail. Nothing is decoded before the receipt, so a receipt never
//! waits on pixels and a decompression-heavy upload cannot hold memory
//! across the commit.
//!
//! - The queue is rows, added with the photo in its commit: a restart (or
//!   another node) picks up what was left; a job is leased while worked.
//! - Decodes run on bulk threads (below the ones answering terminals:
//!   [`super::bulk_thread`]), `image_decodes_max` at once, under one
//!   memory budget (`decode_budget_mib`): a decode first reserves what its
//!   image may take at most (from the dimensions in the header: 8 bytes a
//!   pixel for PNG, 4 for JPEG) and waits while the budget is spent.
//! - An image that does not decode gets an `undecodable` finding; work that
//!   keeps failing for other reasons (the store unreachable) is retried with
//!   a growing delay and given up after [`ATTEMPTS_MAX`] with a
//!   `post_processing_failed` finding. Findings never change the stored
//!   bytes or the receipt.

use std::sync::Arc;
use std::time::Duration;

use fieldlink_protocol::photo::ContentType;
use sha2::Digest;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::evidence::image_check;
use crate::state::AppState;
use crate::storage::MediaJob;

/// A job is taken for this long; a worker that dies lets it go after.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Attempts before a job is given up.
pub const ATTEMPTS_MAX: u64 = 5;
/// How often the queue is looked at without a wake-up (other nodes' jobs,
/// retries coming due).
const POLL_INTERVAL: Duration = Duration::from_secs(2);
const MIB: u64 = 1024 * 1024;

/// Runs until shutdown; does nothing when `image_decodes_max` is 0
/// (post-processing paused: the queue waits).
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let workers = state.config.image_decodes_max;
    if workers == 0 {
        tracing::warn!("media post-processing is paused (image_decodes_max = 0): thumbnails wait");
        return;
    }
    let budget_mib = state.config.decode_budget_mib.clamp(1, u64::from(u32::MAX));
    let budget = Arc::new(Semaphore::new(budget_mib as usize));
    let running = Arc::new(Semaphore::new(workers));
    loop {
        let now_ms = (state.clock)();
        let jobs = match state
            .storage
            .claim_media_jobs(now_ms, LEASE_MS, workers as u32 * 2)
            .await
        {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::warn!(%error, "media queue unavailable");
                Vec::new()
            }
        };
        let idle = jobs.is_empty();
        for job in jobs {
            let Ok(slot) = Arc::clone(&running).acquire_owned().await else {
                return;
            };
            let (state, budget) = (state.clone(), Arc::clone(&budget));
            tokio::spawn(async move {
                let _slot = slot;
                work(&state, &budget, budget_mib, job).await;
            });
        }
        if idle {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = state.evidence.media_wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}

/// What became of one job.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The thumbnail is stored.
    Done,
    /// The stored image does not decode (a finding).
    Undecodable(String),
    /// Something else failed; try again later.
    Failed(String),
}

async fn work(state: &AppState, budget: &Arc<Semaphore>, budget_mib: u64, job: MediaJob) {
    let outcome = thumbnail(state, budget, budget_mib, job).await;
    let now_ms = (state.clock)();
    let settled = match &outcome {
        Outcome::Done => {
            state.metrics.media_job("done");
            state.storage.finish_media_job(job.item_id).await
        }
        Outcome::Undecodable(why) => {
            state.metrics.media_job("undecodable");
            finish_with_finding(state, job, "undecodable", why, now_ms).await
        }
        Outcome::Failed(why) if job.attempts >= ATTEMPTS_MAX => {
            tracing::error!(item = %job.item_id, %why, "media post-processing given up");
            state.metrics.media_job("given_up");
            finish_with_finding(state, job, "post_processing_failed", why, now_ms).await
        }
        Outcome::Failed(why) => {
            tracing::warn!(item = %job.item_id, %why, attempts = job.attempts, "media post-processing will be retried");
            state.metrics.media_job("retried");
            // 1 s, 2 s, 4 s, … between attempts.
            let delay_ms = 1_000i64.saturating_mul(1 << job.attempts.saturating_sub(1).min(10));
            state
                .storage
                .release_media_job(job.item_id, now_ms.saturating_add(delay_ms))
                .await
        }
    };
    if let Err(error) = settled {
        // The lease runs out and the job is taken again.
        tracing::warn!(item = %job.item_id, %error, "media job not settled");
    }
}

/// Records what was found, then lets the job go (in that order: a crash
/// between the two leaves the job, which finds the finding made again).
async fn finish_with_finding(
    state: &AppState,
    job: MediaJob,
    finding: &str,
    why: &str,
    now_ms: i64,
) -> Result<(), crate::storage::StorageError> {
    state
        .storage
        .add_media_finding(job.item_id, finding, why, now_ms)
        .await?;
    state.storage.finish_media_job(job.item_id).await
}

/// Decodes the photo under the budget and stores its thumbnail.
async fn thumbnail(state: &AppState, budget: &Arc<Semaphore>, budget_mib: u64, job: MediaJob) -> Outcome {
    if let Err(error) = state
        .evidence
        .faults
        .check(crate::evidence::faults::FaultPoint::MediaJob)
    {
        return Outcome::Failed(error.to_string());
    }
    let photo = match state.storage.photo(job.item_id).await {
        Ok(Some(photo)) => photo,
        Ok(None) => return Outcome::Undecodable("no such photo".into()),
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    if matches!(state.storage.thumbnail(job.item_id).await, Ok(Some(_))) {
        return Outcome::Done;
    }
    let Some(content_type) = ContentType::from_mime(&photo.index.content_type) else {
        return Outcome::Undecodable(format!("{} is not an image type", photo.index.content_type));
    };
    // Reserve what the decode may take before starting it.
    let needed = image_check::decode_bytes_estimate(content_type, photo.index.width, photo.index.height);
    let permits = needed.div_ceil(MIB).clamp(1, budget_mib) as u32;
    let Ok(reserved) = Arc::clone(budget).acquire_many_owned(permits).await else {
        return Outcome::Failed("shutting down".into());
    };
    let blobs = state.evidence.blobs.clone();
    let sha256 = photo.receipt.sha256;
    // A bulk thread: a decode never holds up a terminal's acknowledgement.
    let made = crate::evidence::bulk_thread::run("thumbnail", move || {
        let _reserved = reserved;
        let bytes = blobs.read(&sha256).map_err(|e| Outcome::Failed(e.to_string()))?;
        let image =
            image_check::decode(&bytes, content_type).map_err(|e| Outcome::Undecodable(e.to_string()))?;
        drop(bytes);
        crate::evidence::thumbnail::make(&image).map_err(|e| Outcome::Failed(e.to_string()))
    })
    .await;
    let (jpeg, width, height) = match made {
        Ok(Ok(made)) => made,
        Ok(Err(outcome)) => return outcome,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let thumb_sha: [u8; 32] = sha2::Sha256::digest(&jpeg).into();
    // Leased first: `put` keeps an equal blob that is there already, which
    // the janitor must then not remove before the thumbnail row exists.
    let holder = format!("thumbnail {}", job.item_id);
    if let Err(error) = state
        .storage
        .take_blob_lease(&thumb_sha, &holder, (state.clock)().saturating_add(LEASE_MS))
        .await
    {
        return Outcome::Failed(error.to_string());
    }
    let blobs = state.evidence.blobs.clone();
    let outcome = match tokio::task::spawn_blocking(move || blobs.put(&jpeg, &thumb_sha)).await {
        Ok(Ok(())) => match state
            .storage
            .insert_thumbnail(job.item_id, &thumb_sha, width, height, (state.clock)())
            .await
        {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Failed(error.to_string()),
        },
        Ok(Err(error)) => Outcome::Failed(error.to_string()),
        Err(_) => Outcome::Failed("the store task failed".into()),
    };
    let _ = state.storage.release_blob_lease(&thumb_sha, &holder).await;
    outcome
}
