//! A token bucket: `rate` tokens a second, at most `burst` held. Used for a
//! device's requests and a monitor connection's packets.

use std::time::Instant;

/// One bucket (not shared: its owner locks it if it must).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token; `Err(ms)` says how long until one is free.
    pub fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait_s = (1.0 - self.tokens) / self.rate.max(f64::MIN_POSITIVE);
            Err((wait_s * 1000.0).ceil() as u64)
        }
    }
}
