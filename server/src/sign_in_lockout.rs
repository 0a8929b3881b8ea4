//! Backoff and lockout for password guessing, on both sign-in paths (the
//! terminal's hello, the console). Failures are counted per account name
//! (known or not: an unknown name is counted the same, so the lockout says
//! nothing about who exists) and per source (a device on QUIC, an address on
//! the console). From the [`FREE_FAILURES`]th failure in a row of an account
//! (the [`FREE_FAILURES_PER_SOURCE`]th of a source: one office's address is
//! shared by many people), it is locked for a time that doubles with each further failure,
//! up to [`LOCK_MS_MAX`]; while locked, every attempt is refused before any
//! password is checked — the right password too, so a lockout is no oracle.
//! A success clears the account's and the source's counts. Each lock is logged as an audit
//! event and counted in `/metrics`. The counts are per node and in memory:
//! a restart forgives.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures in a row of one account before its first lock.
pub const FREE_FAILURES: u32 = 5;
/// Failures in a row from one source before its first lock.
pub const FREE_FAILURES_PER_SOURCE: u32 = 20;
/// The first lock, ms; each further failure doubles it.
pub const LOCK_MS_MIN: i64 = 30_000;
/// The longest lock, ms.
pub const LOCK_MS_MAX: i64 = 15 * 60 * 1000;
/// Names and sources tracked at most (beyond, the oldest quiet ones go).
const TRACKED_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    in_a_row: u32,
    locked_until_ms: i64,
    last_ms: i64,
}

/// The counts, for accounts and for sources.
#[derive(Debug, Default)]
pub struct SignInLockout {
    accounts: Mutex<HashMap<String, Failures>>,
    sources: Mutex<HashMap<String, Failures>>,
}

impl SignInLockout {
    /// Ms until `account` and `source` may try again (0: now).
    pub fn wait_ms(&self, account: &str, source: &str, now_ms: i64) -> u64 {
        let wait = |map: &Mutex<HashMap<String, Failures>>, key: &str| {
            lock(map)
                .get(key)
                .map_or(0, |f| f.locked_until_ms.saturating_sub(now_ms).max(0))
        };
        wait(&self.accounts, account).max(wait(&self.sources, source)) as u64
    }

    /// A wrong password (or unknown name): counted for both; true when this
    /// failure locked either.
    pub fn failed(&self, account: &str, source: &str, now_ms: i64) -> bool {
        let account_locked = count(&self.accounts, account, FREE_FAILURES, now_ms);
        let source_locked = count(&self.sources, source, FREE_FAILURES_PER_SOURCE, now_ms);
        account_locked || source_locked
    }

    /// A right password: the account's and the source's counts start again.
    pub fn succeeded(&self, account: &str, source: &str) {
        lock(&self.accounts).remove(account);
        lock(&self.sources).remove(source);
    }
}

fn lock(map: &Mutex<HashMap<String, Failures>>) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
    // Poisoning only follows a panic elsewhere; the counts stay usable.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts one failure of `key`; true when it locks it.
fn count(map: &Mutex<HashMap<String, Failures>>, key: &str, free: u32, now_ms: i64) -> bool {
    let mut map = lock(map);
    if map.len() >= TRACKED_MAX && !map.contains_key(key) {
        // Forget the quiet ones (unlocked, oldest first) to make room.
        map.retain(|_, f| f.locked_until_ms > now_ms || now_ms - f.last_ms < LOCK_MS_MAX);
        if map.len() >= TRACKED_MAX {
            if let Some(oldest) = map.iter().min_by_key(|(_, f)| f.last_ms).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
    }
    let failures = map.entry(key.to_owned()).or_default();
    failures.in_a_row = failures.in_a_row.saturating_add(1);
    failures.last_ms = now_ms;
    if failures.in_a_row < free {
        return false;
    }
    let doublings = (failures.in_a_row - free).min(20);
    let lock_ms = LOCK_MS_MIN.saturating_mul(1 << doublings).min(LOCK_MS_MAX);
    failures.locked_until_ms = now_ms.saturating_add(lock_ms);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_locks_and_each_next_one_doubles_the_lock() {
        let lockout = SignInLockout::default();
        for attempt in 1..FREE_FAILURES {
            assert!(!lockout.failed("officer-01", "dev-a", i64::from(attempt)));
            assert_eq!(lockout.wait_ms("officer-01", "dev-a", 10), 0);
        }
        assert!(lockout.failed("officer-01", "dev-b", 100));
        assert_eq!(lockout.wait_ms("officer-01", "dev-c", 100), LOCK_MS_MIN as u64);
        // Another account from another source is not held back.
        assert_eq!(lockout.wait_ms("officer-02", "dev-c", 100), 0);
        assert!(lockout.failed("officer-01", "dev-b", 200));
        assert_eq!(
            lockout.wait_ms("officer-01", "dev-c", 200),
            2 * LOCK_MS_MIN as u64
        );
        // The lock ends by itself; a success forgives the account.
        assert_eq!(lockout.wait_ms("officer-01", "dev-c", 200 + LOCK_MS_MAX), 0);
        lockout.succeeded("officer-01", "dev-c");
        assert_eq!(lockout.wait_ms("officer-01", "dev-c", 300), 0);
        // The lock never exceeds its maximum.
        for n in 0..40 {
            lockout.failed("guesser", "dev-z", 1_000 + n);
        }
        assert_eq!(lockout.wait_ms("guesser", "dev-y", 1_039), LOCK_MS_MAX as u64);
    }

    #[test]
    fn a_flood_of_made_up_names_is_bounded() {
        let lockout = SignInLockout::default();
        for n in 0..(TRACKED_MAX + 50) {
            lockout.failed(&format!("nobody-{n}"), "dev-a", n as i64);
        }
        assert!(lock(&lockout.accounts).len() <= TRACKED_MAX);
        // The source that sent them all is locked.
        assert!(lockout.wait_ms("anyone", "dev-a", (TRACKED_MAX + 50) as i64) > 0);
    }
}
