//! One node at a time receives an upload. Within a node the upload slots
//! ([`super::upload_slots`]) already let one stream write an upload's
//! partial file; with several nodes sharing one evidence directory, a
//! resume that reaches another node could write the same file while the
//! first node is still filing it. The stream receiving an upload therefore
//! holds a lease row (`upload_leases`), renewed while it runs; a stream on
//! another node is refused while the lease is live (`UPLOAD_ELSEWHERE`,
//! retryable), and the holder confirms it still holds the lease before it
//! files the bytes. A stream on the same node takes the lease over (its
//! slot has already stopped the older stream).
//!
//! Only a database several nodes share (PostgreSQL) needs this: on the
//! embedded SQLite one process owns the database and its evidence
//! directory, the slots suffice, and a lease left by a killed process would
//! only delay its own resumes after the restart.

use std::time::Duration;

use uuid::Uuid;

use crate::error::ServiceError;
use crate::state::AppState;

/// How long a lease lasts without renewal (a live holder renews it every
/// [`RENEW_EVERY`] whatever its stream does; a dead one lets it run out).
const LEASE_MS: i64 = 25_000;
/// How often a running stream renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// A held lease; renewed in the background until dropped, then let go.
pub struct UploadLease {
    state: AppState,
    device_id: String,
    evidence_id: Uuid,
    holder: String,
    /// None on a database only this process uses: no row is kept.
    renewing: Option<tokio::task::JoinHandle<()>>,
}

impl UploadLease {
    /// Takes the lease, or refuses when another node's stream holds it.
    pub async fn take(state: &AppState, device_id: &str, evidence_id: Uuid) -> Result<Self, ServiceError> {
        if state.config.database.is_none() {
            return Ok(Self {
                state: state.clone(),
                device_id: device_id.to_owned(),
                evidence_id,
                holder: String::new(),
                renewing: None,
            });
        }
        let node_prefix = format!("{}/", state.node_id);
        let holder = format!("{node_prefix}{}", Uuid::now_v7());
        let now_ms = (state.clock)();
        let taken = state
            .storage
            .take_upload_lease(
                device_id,
                evidence_id,
                &holder,
                &node_prefix,
                now_ms,
                now_ms.saturating_add(LEASE_MS),
            )
            .await?;
        if !taken {
            return Err(ServiceError::UploadElsewhere {
                retry_after_ms: RENEW_EVERY.as_millis() as u64,
            });
        }
        let renewing = {
            let (state, device_id, holder) = (state.clone(), device_id.to_owned(), holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    let until = (state.clock)().saturating_add(LEASE_MS);
                    match state
                        .storage
                        .renew_upload_lease(&device_id, evidence_id, &holder, until)
                        .await
                    {
                        Ok(true) => {}
                        // Taken over (a newer stream on this node) or gone.
                        Ok(false) => return,
                        // Tried again at the next beat; confirm() decides.
                        Err(error) => tracing::warn!(%error, "upload lease not renewed"),
                    }
                }
            })
        };
        Ok(Self {
            state: state.clone(),
            device_id: device_id.to_owned(),
            evidence_id,
            holder,
            renewing: Some(renewing),
        })
    }

    /// Renews the lease now, before the bytes are filed: refused if it is
    /// no longer this stream's (the stream must not file what it holds).
    pub async fn confirm(&self) -> Result<(), ServiceError> {
        if self.renewing.is_none() {
            return Ok(());
        }
        let until = (self.state.clock)().saturating_add(LEASE_MS);
        let held = self
            .state
            .storage
            .renew_upload_lease(&self.device_id, self.evidence_id, &self.holder, until)
            .await?;
        if held {
            Ok(())
        } else {
            Err(ServiceError::UploadElsewhere {
                retry_after_ms: RENEW_EVERY.as_millis() as u64,
            })
        }
    }
}

impl Drop for UploadLease {
    fn drop(&mut self) {
        let Some(renewing) = self.renewing.take() else {
            return;
        };
        renewing.abort();
        // Let go at once (rather than after LEASE_MS), off the caller's path.
        let (state, device_id, evidence_id, holder) = (
            self.state.clone(),
            std::mem::take(&mut self.device_id),
            self.evidence_id,
            std::mem::take(&mut self.holder),
        );
        tokio::spawn(async move {
            let _ = state
                .storage
                .release_upload_lease(&device_id, evidence_id, &holder)
                .await;
        });
    }
}
