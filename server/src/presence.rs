//! Who is online: officers with a session open on some terminal, and when
//! each was last seen (for the supervisor console). Each node counts its own
//! sessions in memory; when several nodes share a PostgreSQL database, each
//! also writes its counts there every [`SHARE_INTERVAL`] and the console
//! reads the sum over nodes (rows a stopped node left behind stop counting
//! after [`STALE_AFTER_MS`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::storage::PeopleStore;

/// One officer's presence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficerPresence {
    /// Sessions open now (an officer may use two terminals).
    pub sessions: u32,
    /// When a session last opened or closed, ms since the epoch.
    pub last_seen_ms: i64,
}

/// The presence of every officer seen since the node started.
#[derive(Debug, Clone, Default)]
pub struct Presence {
    officers: Arc<Mutex<HashMap<String, OfficerPresence>>>,
}

impl Presence {
    /// A session of `officer_id` opened.
    pub fn opened(&self, officer_id: &str, now_ms: i64) {
        let mut officers = self.officers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = officers.entry(officer_id.to_owned()).or_default();
        entry.sessions += 1;
        entry.last_seen_ms = now_ms;
    }

    /// A session of `officer_id` closed.
    pub fn closed(&self, officer_id: &str, now_ms: i64) {
        let mut officers = self.officers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = officers.entry(officer_id.to_owned()).or_default();
        entry.sessions = entry.sessions.saturating_sub(1);
        entry.last_seen_ms = now_ms;
    }

    /// A copy of everyone's presence.
    pub fn snapshot(&self) -> HashMap<String, OfficerPresence> {
        self.officers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sessions open now, in all.
    pub fn sessions(&self) -> u64 {
        self.snapshot().values().map(|p| u64::from(p.sessions)).sum()
    }
}

/// How often a node writes its presence to a shared database.
pub const SHARE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// Presence rows older than this are a stopped node's: not online.
pub const STALE_AFTER_MS: i64 = 10_000;

/// Writes this node's presence (`presence`, as `node_id`) to the shared
/// database until `shutdown`.
pub async fn share(
    presence: Presence,
    storage: Arc<dyn PeopleStore>,
    node_id: String,
    clock: fn() -> i64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(SHARE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let rows: Vec<(String, u32, i64)> = presence
            .snapshot()
            .into_iter()
            .map(|(officer, p)| (officer, p.sessions, p.last_seen_ms))
            .collect();
        if let Err(error) = storage.record_presence(&node_id, &rows, clock()).await {
            tracing::warn!(%error, "could not share presence");
        }
    }
}

/// Everyone's presence as the console shows it: this node's live counts
/// plus, when nodes share a database (`shared`: it and this node's id), what
/// the other nodes last wrote.
pub async fn current(
    presence: &Presence,
    shared: Option<(&dyn PeopleStore, &str)>,
    now_ms: i64,
) -> HashMap<String, OfficerPresence> {
    let mut everyone = presence.snapshot();
    let Some((storage, node_id)) = shared else {
        return everyone;
    };
    match storage.presence(node_id, now_ms - STALE_AFTER_MS).await {
        Ok(rows) => {
            for (officer, sessions, last_seen_ms) in rows {
                let entry = everyone.entry(officer).or_default();
                entry.sessions += sessions;
                entry.last_seen_ms = entry.last_seen_ms.max(last_seen_ms);
            }
        }
        Err(error) => tracing::warn!(%error, "shared presence unavailable; showing this node's"),
    }
    everyone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_count_up_and_down_and_remember_when() {
        let presence = Presence::default();
        presence.opened("officer-01", 10);
        presence.opened("officer-01", 20);
        presence.closed("officer-01", 30);
        let now = presence.snapshot();
        assert_eq!(
            now["officer-01"],
            OfficerPresence {
                sessions: 1,
                last_seen_ms: 30
            }
        );
        presence.closed("officer-01", 40);
        presence.closed("officer-01", 50);
        assert_eq!(presence.snapshot()["officer-01"].sessions, 0);
        assert_eq!(presence.sessions(), 0);
    }
}
