//! Admission of new QUIC handshakes.
//!
//! A handshake costs the server a TLS key exchange and certificate checks
//! before it knows who is calling, so they are counted and capped:
//! - above `handshake_retry_above` pending handshakes, a client whose address
//!   is not yet validated gets a QUIC Retry first (it must echo a token, which
//!   proves it receives at that address; spoofed floods cost one packet each);
//! - at `pending_handshakes_max`, new handshakes are refused outright
//!   (CONNECTION_REFUSED); terminals retry with backoff.
//!
//! A permit is held from acceptance until the handshake ends either way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What to do with one incoming handshake.
#[derive(Debug)]
pub enum Admission {
    /// Go ahead; hold the permit until the handshake completes or fails.
    Proceed(OwnedSemaphorePermit),
    /// Ask the client to prove its address first.
    Retry,
    /// Too many handshakes in progress.
    Refuse,
}

/// Counts and caps handshakes in progress.
#[derive(Debug, Clone)]
pub struct HandshakeGate {
    permits: Arc<Semaphore>,
    pending_max: u32,
    retry_above: u32,
    counters: Arc<HandshakeCounters>,
}

/// What the gate decided so far (for tests and metrics).
#[derive(Debug, Default)]
pub struct HandshakeCounters {
    /// Handshakes let through.
    pub admitted: AtomicU64,
    /// Retry packets sent.
    pub retried: AtomicU64,
    /// Handshakes refused at the cap.
    pub refused: AtomicU64,
}

impl HandshakeGate {
    /// A gate allowing `pending_max` handshakes at once, sending Retry to
    /// unvalidated clients once more than `retry_above` are pending.
    pub fn new(pending_max: u32, retry_above: u32) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(pending_max as usize)),
            pending_max,
            retry_above,
            counters: Arc::default(),
        }
    }

    /// Handshakes in progress now.
    pub fn pending(&self) -> u32 {
        let available = u32::try_from(self.permits.available_permits()).unwrap_or(u32::MAX);
        self.pending_max.saturating_sub(available)
    }

    /// The decision for a client; `address_validated` is true once it echoed
    /// a Retry token, `may_retry` false when a Retry was already sent.
    pub fn admit(&self, address_validated: bool, may_retry: bool) -> Admission {
        if !address_validated && may_retry && self.pending() >= self.retry_above {
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
            return Admission::Retry;
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.counters.admitted.fetch_add(1, Ordering::Relaxed);
                Admission::Proceed(permit)
            }
            Err(_) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                Admission::Refuse
            }
        }
    }

    /// The running counts.
    pub fn counters(&self) -> &HandshakeCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_only_above_the_threshold_and_only_once() {
        let gate = HandshakeGate::new(3, 1);
        let first = gate.admit(false, true);
        assert!(matches!(first, Admission::Proceed(_)));
        // One pending: the next unvalidated client is asked to retry…
        assert!(matches!(gate.admit(false, true), Admission::Retry));
        // …and once it has echoed the token it is let in.
        let second = gate.admit(true, false);
        assert!(matches!(second, Admission::Proceed(_)));
        assert_eq!(gate.pending(), 2);
        drop(first);
        assert_eq!(gate.pending(), 1);
        assert_eq!(gate.counters().retried.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn refuses_at_the_cap_and_recovers_when_a_handshake_ends() {
        let gate = HandshakeGate::new(2, u32::MAX);
        let held: Vec<_> = (0..2).map(|_| gate.admit(false, true)).collect();
        assert!(held.iter().all(|a| matches!(a, Admission::Proceed(_))));
        assert!(matches!(gate.admit(true, false), Admission::Refuse));
        drop(held);
        assert!(matches!(gate.admit(false, true), Admission::Proceed(_)));
        assert_eq!(gate.counters().refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn zero_threshold_retries_every_new_client() {
        let gate = HandshakeGate::new(8, 0);
        assert!(matches!(gate.admit(false, true), Admission::Retry));
        assert!(matches!(gate.admit(true, false), Admission::Proceed(_)));
    }
}
