//! CPU time, to tell what a transfer costs the machine rather than how long
//! it took: this process's (the terminals, and a server run in it) or a
//! child server's, from `/proc/PID/stat`. On this bench's
//! two shared cores a scenario bound by CPU cannot go faster than
//! cores ÷ (CPU seconds per MB), whatever is done to its waits; the photo
//! and video scenarios print that ceiling beside their goals.

use std::time::Instant;

/// User plus system CPU seconds this process has used, all threads
/// (`/proc/self/stat`; 10 ms resolution).
pub fn process_seconds() -> f64 {
    process_seconds_of("self")
}

/// The same for process `pid` ("self" for this one); 0 when unreadable.
pub fn process_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count from after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 11 and 12 here,
    // in clock ticks (USER_HZ, 100 on Linux).
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Cores this process may run on.
pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// Wall and CPU time of one measured stretch.
pub struct Stretch {
    wall: Instant,
    cpu: f64,
}

impl Stretch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: process_seconds(),
        }
    }

    /// (wall seconds, CPU seconds) since the start.
    pub fn end(&self) -> (f64, f64) {
        (
            self.wall.elapsed().as_secs_f64(),
            (process_seconds() - self.cpu).max(0.0),
        )
    }
}

/// What timed stretches moved and cost, summed over rounds.
#[derive(Default, Clone, Copy)]
pub struct Cost {
    megabytes: f64,
    cpu_seconds: f64,
}

impl Cost {
    /// Adds one stretch.
    pub fn add(&mut self, megabytes: f64, cpu_seconds: f64) {
        self.megabytes += megabytes;
        self.cpu_seconds += cpu_seconds;
    }

    /// CPU ms per MB moved.
    pub fn cpu_ms_per_mb(&self) -> f64 {
        self.cpu_seconds * 1000.0 / self.megabytes.max(f64::MIN_POSITIVE)
    }
}

/// CPU ms the server spends hashing each MB of an upload, given one core's
/// rates: SHA-256 and SM3 as the bytes arrive, and SHA-256 again when it
/// reads the file back before the receipt.
pub fn server_hashing_ms_per_mb(sha256_mb_per_s: f64, sm3_mb_per_s: f64) -> f64 {
    2000.0 / sha256_mb_per_s + 1000.0 / sm3_mb_per_s
}

/// The most MB/s a transfer can reach on `cores` cores when every MB costs
/// `cpu_ms_per_mb` of CPU.
pub fn ceiling_mb_per_s(cores: f64, cpu_ms_per_mb: f64) -> f64 {
    if cpu_ms_per_mb <= 0.0 {
        return f64::INFINITY;
    }
    cores * 1000.0 / cpu_ms_per_mb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_as_cpu_time() {
        let stretch = Stretch::start();
        let mut x = 0u64;
        // Bounded: about 0.2 s of one core.
        while stretch.end().0 < 0.2 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let (wall, cpu) = stretch.end();
        assert!(cpu > 0.0 && cpu <= wall * cores() + 0.05, "wall {wall} cpu {cpu}");
        assert_eq!(ceiling_mb_per_s(2.0, 4.0), 500.0);
        assert_eq!(server_hashing_ms_per_mb(2000.0, 500.0), 3.0);
        let mut cost = Cost::default();
        cost.add(100.0, 0.5);
        cost.add(100.0, 0.3);
        assert!((cost.cpu_ms_per_mb() - 4.0).abs() < 1e-9);
    }
}
