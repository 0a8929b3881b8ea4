//! Open-and-reset churn: a connection that keeps opening request streams and
//! abandoning them (RESET_STREAM or STOP_SENDING before its request was read)
//! costs the server a task and a stream slot each time while never asking
//! for anything. Abandonments drain a per-connection budget that refills at
//! `abandoned_streams_per_minute_max` per minute; when it runs out the
//! connection is closed with `TOO_MANY_ABANDONED_STREAMS`. An honest terminal
//! on a bad link abandons a stream now and then and never comes near it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The abandonment budget of one connection.
#[derive(Debug)]
pub struct StreamChurn {
    per_minute: f64,
    budget: Mutex<Budget>,
}

#[derive(Debug)]
struct Budget {
    left: f64,
    at: Instant,
}

impl StreamChurn {
    /// A full budget of `per_minute` abandonments.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            budget: Mutex::new(Budget {
                left: f64::from(per_minute),
                at: Instant::now(),
            }),
        }
    }

    /// Records one abandoned stream at `now`; true when the budget is spent
    /// and the connection should be closed.
    pub fn abandoned_at(&self, now: Instant) -> bool {
        let Ok(mut budget) = self.budget.lock() else {
            return false;
        };
        let elapsed = now.saturating_duration_since(budget.at);
        budget.at = now;
        let refill = elapsed.as_secs_f64() * self.per_minute / Duration::from_secs(60).as_secs_f64();
        budget.left = (budget.left + refill).min(self.per_minute) - 1.0;
        budget.left < 0.0
    }

    /// Records one abandoned stream now.
    pub fn abandoned(&self) -> bool {
        self.abandoned_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_runs_out_after_the_limit() {
        let churn = StreamChurn::new(5);
        let now = Instant::now();
        let over: Vec<bool> = (0..6).map(|_| churn.abandoned_at(now)).collect();
        assert_eq!(over, [false, false, false, false, false, true]);
    }

    #[test]
    fn the_budget_refills_with_time() {
        let churn = StreamChurn::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(!churn.abandoned_at(start));
        }
        // One per second comes back: after 10 s, 10 more are allowed.
        let later = start + Duration::from_secs(10);
        let over: Vec<bool> = (0..11).map(|_| churn.abandoned_at(later)).collect();
        assert_eq!(over.iter().filter(|o| !**o).count(), 10);
        assert!(over[10]);
    }
}
