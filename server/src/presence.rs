//! Who is online: officers with a session open on some terminal, and when
//! each was last seen (for the supervisor console). In memory, per node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
