//! The background drain: sends due items through a [`Client`], a few at a
//! time, in enqueue order, records each outcome durably, and backs off
//! (with jitter) when the server cannot be reached.

use std::collections::HashSet;
use std::time::Duration;

use fieldlink_protocol::pb::{self, response};
use prost::Message;
use tokio::task::JoinSet;
use tokio_util_shim::CancellationToken;

use super::store::Pending;
use super::{ItemKind, ItemState, Outbox, OutboxError};
use crate::photo::PhotoUpload;
use crate::{Client, Error};

mod tokio_util_shim {
    //! A minimal cancellation flag (the SDK does not depend on tokio-util).
    use std::sync::Arc;
    use tokio::sync::watch;

    #[derive(Clone)]
    pub struct CancellationToken(Arc<watch::Sender<bool>>);

    impl CancellationToken {
        pub fn new() -> Self {
            Self(Arc::new(watch::channel(false).0))
        }
        pub fn cancel(&self) {
            // `send` would not store the value while nobody is listening.
            self.0.send_replace(true);
        }
        pub async fn cancelled(&self) {
            let mut receiver = self.0.subscribe();
            let _ = receiver.wait_for(|cancelled| *cancelled).await;
        }
    }
}

/// The running drain. Dropping it keeps it running; call [`SyncHandle::stop`].
pub struct SyncHandle {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SyncHandle {
    /// Stops after the items in flight are recorded.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// How long after a failed reference refresh the next is tried.
const REFERENCE_RETRY: Duration = Duration::from_secs(30);

pub(crate) fn start(outbox: Outbox, client: Client) -> SyncHandle {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(outbox, client, stop.clone()));
    SyncHandle { stop, task }
}

async fn run(outbox: Outbox, client: Client, stop: CancellationToken) {
    let concurrency = outbox.inner.config.concurrency.max(1);
    let mut in_flight: JoinSet<(Pending, Result<pb::Receipt, Error>)> = JoinSet::new();
    let mut sending: HashSet<String> = HashSet::new();
    // Media may take all slots but one: a record always finds a way out.
    let media_slots = concurrency.saturating_sub(1).max(1);
    let mut media_sending = 0usize;
    // The database epoch whose receipts this outbox holds, once known.
    let mut epoch_checked: Option<String> = None;
    // The reference revisions (catalogue, roster) last brought up to date.
    let mut reference_checked: Option<(String, String)> = None;
    let mut reference_retry_at = std::time::Instant::now();
    let mut pruned_at = std::time::Instant::now();
    let mut network = client.network_changes();
    loop {
        if let Some(epoch) = client.database_epoch().await {
            if epoch_checked.as_deref() != Some(epoch.as_str()) {
                resend_other_epochs(&outbox, &epoch).await;
                epoch_checked = Some(epoch);
            }
        }
        if let Some(welcome) = client.welcome().await {
            let revisions = (welcome.catalogue_revision, welcome.roster_revision);
            if reference_checked.as_ref() != Some(&revisions)
                && std::time::Instant::now() >= reference_retry_at
            {
                match outbox.refresh_reference(&client).await {
                    Ok(_) => reference_checked = Some(revisions),
                    Err(error) => {
                        tracing::info!(%error, "outbox: reference data not refreshed; trying again in 30 s");
                        reference_retry_at = std::time::Instant::now() + REFERENCE_RETRY;
                    }
                }
            }
        }
        if pruned_at.elapsed() >= PRUNE_INTERVAL {
            prune_kept_media(&outbox).await;
            pruned_at = std::time::Instant::now();
        }
        // Start what is due, in order, up to the concurrency.
        if in_flight.len() < concurrency {
            match outbox
                .inner
                .store
                .due(crate::now_ms(), (concurrency * 4) as u32)
                .await
            {
                Ok(due) => {
                    for item in due {
                        if in_flight.len() >= concurrency {
                            break;
                        }
                        if sending.contains(&item.item_id) {
                            continue;
                        }
                        if item.kind == ItemKind::Photo && media_sending >= media_slots {
                            continue;
                        }
                        // A lifecycle step waits for everything before it
                        // (and so does every later step): what comes after
                        // it may go meanwhile, media included.
                        if item.kind == ItemKind::AssignmentUpdate
                            && outbox
                                .inner
                                .store
                                .unsettled_before(item.position)
                                .await
                                .unwrap_or(true)
                        {
                            continue;
                        }
                        if item.kind == ItemKind::Photo {
                            media_sending += 1;
                        }
                        if let Err(error) = outbox.inner.store.mark_sending(&item.item_id).await {
                            tracing::warn!(%error, "outbox: cannot mark sending");
                            break;
                        }
                        outbox.announce(item.item_id.clone(), ItemState::Waiting);
                        sending.insert(item.item_id.clone());
                        let (outbox, client) = (outbox.clone(), client.clone());
                        in_flight.spawn(async move {
                            let result = send(&outbox, &client, &item).await;
                            (item, result)
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, "outbox: cannot read due items"),
            }
        }
        let wait_ms = match outbox.inner.store.next_due_at().await {
            Ok(Some(at)) => (at - crate::now_ms()).clamp(10, 1_000),
            _ => 1_000,
        };
        tokio::select! {
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((item, result)) = joined {
                    sending.remove(&item.item_id);
                    if item.kind == ItemKind::Photo {
                        media_sending = media_sending.saturating_sub(1);
                    }
                    record(&outbox, &item, result).await;
                }
            }
            () = outbox.inner.wake.notified() => {}
            Ok(()) = network.changed() => {
                // The network came back or changed: no item waits out its backoff.
                if let Err(error) = outbox.inner.store.retry_now().await {
                    tracing::warn!(%error, "outbox: cannot retry now");
                }
            }
            () = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            () = stop.cancelled() => {
                // Let what is in flight finish and be recorded.
                while let Some(joined) = in_flight.join_next().await {
                    if let Ok((item, result)) = joined {
                        record(&outbox, &item, result).await;
                    }
                }
                return;
            }
        }
    }
}

/// How often kept copies of sent media are looked at.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// The server's database is of another epoch than some receipts (it was
/// restored from a backup): what those receipts acknowledged may be gone
/// there, so everything still held is sent again, in its order. A resend
/// is safe: what the server still has is answered `replayed`.
async fn resend_other_epochs(outbox: &Outbox, epoch: &str) {
    let store = &outbox.inner.store;
    let stale = match store.acknowledged_elsewhere(epoch).await {
        Ok(stale) => stale,
        Err(error) => {
            tracing::warn!(%error, "outbox: cannot read acknowledged items");
            return;
        }
    };
    let (mut resent, mut gone) = (0u64, 0u64);
    for (item_id, kind) in stale {
        if kind == ItemKind::Photo && !outbox.inner.photos_dir.join(format!("{item_id}.photo")).exists() {
            gone += 1;
            continue;
        }
        match store.requeue_acknowledged(&item_id).await {
            Ok(true) => {
                resent += 1;
                outbox.announce(item_id, ItemState::Queued);
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, item = %item_id, "outbox: cannot queue again"),
        }
    }
    if resent + gone > 0 {
        tracing::warn!(epoch, resent, media_no_longer_kept = gone,
            "outbox: the server's database epoch changed (restored from a backup); sending acknowledged items again");
        outbox.inner.wake.notify_one();
    }
}

/// Deletes kept copies of media acknowledged longer ago than configured.
async fn prune_kept_media(outbox: &Outbox) {
    let keep = outbox.inner.config.keep_sent_media;
    if keep.is_zero() {
        return;
    }
    let before = crate::now_ms() - keep.as_millis() as i64;
    if let Ok(ids) = outbox.inner.store.photos_acknowledged_before(before).await {
        for id in ids {
            let _ = tokio::fs::remove_file(outbox.inner.photos_dir.join(format!("{id}.photo"))).await;
        }
    }
}

async fn send(outbox: &Outbox, client: &Client, item: &Pending) -> Result<pb::Receipt, Error> {
    // Connected first (`Waiting` until then), so `Sending` is the truth.
    client.connection().await?;
    outbox.announce(item.item_id.clone(), ItemState::Sending { bytes_sent: 0 });
    match item.kind {
        ItemKind::Photo => {
            let header = pb::PhotoHeader::decode(item.payload.as_slice())
                .map_err(|e| Error::Protocol(e.to_string()))?;
            let path = outbox.inner.photos_dir.join(format!("{}.photo", item.item_id));
            // Sent from the outbox's copy, a piece at a time.
            let photo = match PhotoUpload::from_file_with_id(
                &header.evidence_id,
                &header.record_id,
                &header.content_type,
                header.captured_at_ms,
                &path,
            )
            .await
            {
                Ok(photo) => photo,
                Err(error) => {
                    // The copy goes only after the receipt: the app was killed
                    // between the two. The server still knows.
                    let status = client.upload_status(&header.evidence_id).await?;
                    return match status.receipt.filter(|_| status.complete) {
                        Some(receipt) if receipt.sha256 == header.sha256 => Ok(receipt),
                        _ => Err(Error::Config(format!(
                            "the outbox's copy of {} is gone: {error}",
                            item.item_id
                        ))),
                    };
                }
            };
            let photo = match header.capture_place {
                Some(place) => photo.at(place.latitude, place.longitude, place.accuracy_m),
                None => photo,
            };
            let photo = if header.case_id.is_empty() {
                photo
            } else {
                photo.in_case(&header.case_id)
            };
            let id = item.item_id.clone();
            let mut last_percent = u64::MAX;
            let capture = match &item.capture {
                Some(bytes) => Some(
                    pb::CaptureSignature::decode(bytes.as_slice())
                        .map_err(|e| Error::Protocol(e.to_string()))?,
                ),
                None => None,
            };
            let receipt = client
                .upload_photo_captured(&photo, capture, |progress| {
                    let percent = progress.sent_bytes * 20 / progress.total_bytes.max(1);
                    if percent != last_percent {
                        last_percent = percent;
                        outbox.announce(
                            id.clone(),
                            ItemState::Sending {
                                bytes_sent: progress.sent_bytes,
                            },
                        );
                    }
                })
                .await?;
            Ok(receipt)
        }
        _ => match client
            .send_once(&client.with_capture(&item.payload).await?)
            .await?
        {
            response::Result::Receipt(receipt) => Ok(receipt),
            response::Result::Assignment(result) => result
                .receipt
                .ok_or_else(|| Error::Protocol("assignment result without a receipt".into())),
            other => Err(crate::client::unexpected(other)),
        },
    }
}

/// Records an attempt's outcome durably and tells subscribers.
async fn record(outbox: &Outbox, item: &Pending, result: Result<pb::Receipt, Error>) {
    let config = &outbox.inner.config;
    let store = &outbox.inner.store;
    // A receipt must carry the digest of what was stored.
    let result = result.and_then(|receipt| match receipt.sha256_digest() {
        Some(sha256) => Ok((receipt, sha256)),
        None => Err(Error::Protocol("a receipt without a SHA-256".into())),
    });
    let state = match result {
        Ok((receipt, sha256)) => {
            if let Err(error) = store
                .mark_acknowledged(
                    &item.item_id,
                    receipt.server_seq,
                    &sha256.to_hex(),
                    &receipt.database_epoch,
                )
                .await
            {
                tracing::error!(%error, item = %item.item_id, "outbox: acknowledgement not recorded (a resend will be answered with the same receipt)");
                return;
            }
            if item.kind == ItemKind::Photo && config.keep_sent_media.is_zero() {
                // The receipt's digest matched the bytes sent and the
                // acknowledgement is recorded: the local copy may go.
                let path = outbox.inner.photos_dir.join(format!("{}.photo", item.item_id));
                let _ = tokio::fs::remove_file(&path).await;
            }
            ItemState::Acknowledged {
                server_seq: receipt.server_seq,
                sha256,
            }
        }
        Err(error) => {
            let attempts = item.attempts + 1;
            // Sign-in and handshake refusals are the device's, not the item's:
            // keep the item and try again later rather than park it.
            let device_level = matches!(error, Error::Authentication(_) | Error::SignInRefused(_));
            let retryable = error.is_retryable() || device_level;
            if retryable && attempts < config.attempts_max {
                let backoff = backoff(config.backoff_initial, config.backoff_max, attempts);
                let wait = error.retry_after().unwrap_or(backoff).max(backoff);
                let at = crate::now_ms() + wait.as_millis() as i64;
                let _ = store
                    .mark_failed(&item.item_id, &error.to_string(), Some(at))
                    .await;
                ItemState::FailedRetryable {
                    error: error.to_string(),
                    next_attempt_at_ms: at,
                }
            } else {
                let _ = store.mark_failed(&item.item_id, &error.to_string(), None).await;
                ItemState::FailedPermanent {
                    error: error.to_string(),
                }
            }
        }
    };
    outbox.announce(item.item_id.clone(), state);
}

/// Exponential backoff with full jitter between half and all of the step.
fn backoff(initial: Duration, max: Duration, attempts: u32) -> Duration {
    let step = initial.saturating_mul(1u32 << attempts.min(16)).min(max);
    let half = step / 2;
    half + Duration::from_millis(rand::random::<u64>() % (half.as_millis() as u64 + 1))
}

impl From<OutboxError> for Error {
    fn from(error: OutboxError) -> Self {
        Error::Config(error.to_string())
    }
}
