//! Threads for bulk evidence work — writing and hashing uploads (SHA-256 on
//! the writer, SM3 beside it), reading them back, decoding pictures for
//! thumbnails — run below everything else in the process.
//!
//! That work is bound by CPU: four body-camera videos keep eight threads
//! busy hashing. At the same scheduling weight as the threads that carry a
//! record to its acknowledgement (the QUIC endpoint, the connection's
//! tasks, the group commit), those wait their turn behind them at every
//! hop. Raising the bulk threads' nice value (Linux keeps it per thread)
//! lets the kernel run the latency-sensitive threads first whenever they
//! wake, while the bulk work still gets every cycle they leave (and, being
//! niced rather than idle-class, a share of its own under full load, so an
//! upload never starves). Measured (`fieldlink-bench --only photo`, a
//! loaded machine): record ack p99 beside 4 videos 55 and 74 ms before, 36
//! and 33 ms after; the upload throughput did not change.

use std::sync::atomic::{AtomicI32, Ordering};

/// The nice value bulk threads take: the server's own (read when it starts)
/// plus the config's `bulk_nice`. Absolute, so that a bulk thread started
/// by another (SM3 beside an upload's writer) does not go lower still.
static BULK_NICE: AtomicI32 = AtomicI32::new(DEFAULT_NICE_STEP);

/// The default step: a nice-10 thread weighs about a tenth of a nice-0 one.
pub const DEFAULT_NICE_STEP: i32 = 10;

/// Sets bulk threads `step` (0–19) above the calling thread's nice value
/// (the server calls it at start, from a thread at the server's own).
pub fn set_nice_step(step: i32) {
    let own = own_nice().unwrap_or(0);
    let target = if step <= 0 { i32::MIN } else { (own + step).min(19) };
    BULK_NICE.store(target, Ordering::Relaxed);
}

/// Starts `work` on a new bulk thread named `name`.
pub fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        lower_this_thread();
        work()
    })
}

/// Runs `work` on a new bulk thread and waits for it without holding up
/// the async runtime. Err when the thread cannot start or panicked.
pub async fn run<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    spawn(name, move || {
        let _ = done.send(work());
    })?;
    result
        .await
        .map_err(|_| std::io::Error::other(format!("the {name} thread failed")))
}

/// The calling thread's nice value (Linux: per thread).
fn own_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    return rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok();
    #[cfg(not(target_os = "linux"))]
    return None;
}

/// Sets the calling thread's nice value to the bulk one (only this thread:
/// Linux's setpriority on a thread id; never lower than it already is). A
/// failure (another OS, a sandbox) leaves it as it was: slower
/// acknowledgements beside uploads, never a failed upload.
fn lower_this_thread() {
    let target = BULK_NICE.load(Ordering::Relaxed);
    let Some(own) = own_nice() else {
        return;
    };
    if target <= own {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), target) {
        tracing::debug!(%error, "bulk thread left at normal priority");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bulk_work_runs_below_the_thread_that_started_it() {
        set_nice_step(DEFAULT_NICE_STEP);
        let mine = own_nice().unwrap();
        let bulk = run("bulk-test", own_nice).await.unwrap().unwrap();
        assert_eq!(bulk, (mine + DEFAULT_NICE_STEP).min(19));
        // Only the bulk thread was lowered.
        assert_eq!(own_nice(), Some(mine));
        // A bulk thread started by a bulk thread goes no lower.
        let nested = run("bulk-test", || spawn("bulk-test", own_nice).map(|t| t.join()))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(nested, Some(bulk));
    }
}
