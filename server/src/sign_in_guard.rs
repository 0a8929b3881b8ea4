//! The lockout ([`crate::sign_in_lockout`]) as both sign-in paths use it:
//! refuse while locked, count a failure (a lock it causes is an audit event
//! and a metric), forgive on success.

use crate::error::ServiceError;
use crate::state::AppState;

/// Refused (retryable, with when to try again) while `account` or `source`
/// is locked; checked before any password is.
pub fn check(state: &AppState, account: &str, source: &str) -> Result<(), ServiceError> {
    match state.sign_in_lockout.wait_ms(account, source, (state.clock)()) {
        0 => Ok(()),
        retry_after_ms => Err(ServiceError::SignInLockedOut { retry_after_ms }),
    }
}

/// Counts a failed sign-in.
pub fn failed(state: &AppState, account: &str, source: &str) {
    if state.sign_in_lockout.failed(account, source, (state.clock)()) {
        state
            .metrics
            .sign_in_lockouts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(target: "audit", %account, %source, "sign-in locked after failed attempts in a row");
    }
}

/// A successful sign-in.
pub fn succeeded(state: &AppState, account: &str, source: &str) {
    state.sign_in_lockout.succeeded(account, source);
}
