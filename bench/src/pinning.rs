//! Puts the bench's own threads on one core and a child server on another
//! (`taskset`, util-linux), for figures that should not count the load
//! generator's CPU against the server. Undone when dropped.

use std::process::Command;

/// The bench's threads on core 1 while this lives; the child server is
/// started on core 0 through [`Pinned::server_wrapper`].
pub struct Pinned {
    cores: usize,
}

impl Pinned {
    /// Pins this process's threads to core 1. Err (nothing changed) with
    /// fewer than two cores or without `taskset`.
    pub fn split() -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return Err("fewer than two cores".into());
        }
        taskset_all("1")?;
        Ok(Self { cores })
    }

    /// The command that starts the child server on core 0.
    pub fn server_wrapper(&self) -> Vec<String> {
        ["taskset", "-c", "0"].map(String::from).to_vec()
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let all = format!("0-{}", self.cores - 1);
        if let Err(error) = taskset_all(&all) {
            eprintln!("could not unpin the bench's threads: {error}");
        }
    }
}

/// Sets the CPU list of every thread of this process.
fn taskset_all(cpus: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-c", "-p", cpus, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset exited with {status}"))
    }
}
