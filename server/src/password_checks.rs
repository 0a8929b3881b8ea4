//! Password checks, bounded: argon2id costs 19 MiB and tens of ms of CPU
//! each, and both sign-in paths (the terminal's hello, the console) are
//! reachable before anyone is authenticated. At most `password_checks_max`
//! run at once across the server; one more is refused at once as
//! `RATE_LIMITED` (retryable) instead of queueing on the blocking pool that
//! upload writers and image decodes share.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// How long a refused sign-in is told to wait.
pub const BUSY_RETRY_AFTER_MS: u64 = 1_000;

/// The server's password checks.
#[derive(Debug, Clone)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
}

impl PasswordChecks {
    /// At most `max` checks at once.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
        }
    }

    /// Whether `password` matches `hash` (an argon2id PHC string), or None
    /// when `max` checks are running already.
    pub async fn verify(&self, password: String, hash: String) -> Option<bool> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::auth::verify_password(&password, &hash)
        })
        .await
        .unwrap_or(false);
        Some(verified)
    }

    /// Holds every permit until the guard drops (tests: a server busy
    /// checking passwords).
    pub async fn hold_all(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let available = u32::try_from(self.permits.available_permits()).ok()?;
        self.permits.clone().acquire_many_owned(available).await.ok()
    }
}
