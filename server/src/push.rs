//! Live push of assignment events to connected terminals.
//!
//! Events are committed first; then they are published here. Each feed
//! subscription listens to this bounded broadcast and forwards what its
//! officer may see. A subscriber that falls too far behind (its terminal is
//! slow or stalled) loses its place in the broadcast, not the events: it
//! catches up from storage, so nobody holds anyone else up.

use std::sync::Arc;

use fieldlink_protocol::pb;
use tokio::sync::broadcast;

/// Events kept in memory for subscribers before the slowest must catch up from storage.
pub const PUSH_BUFFER_EVENTS: usize = 4096;

/// A committed event and who may see it.
#[derive(Debug)]
pub struct Published {
    /// The event (with its seq).
    pub event: pb::AssignmentEvent,
    /// Officers whose feed it belongs to (supervisors see every event),
    /// sorted: every feed asks, and a team may be thousands.
    audience: Vec<String>,
}

impl Published {
    /// An event for `audience`.
    pub fn new(event: pb::AssignmentEvent, mut audience: Vec<String>) -> Self {
        audience.sort_unstable();
        Self { event, audience }
    }

    /// Whether `officer` is in the audience.
    pub fn is_for(&self, officer: &str) -> bool {
        self.audience
            .binary_search_by(|member| member.as_str().cmp(officer))
            .is_ok()
    }
}

/// The publisher.
#[derive(Clone)]
pub struct PushHub {
    sender: broadcast::Sender<Arc<Published>>,
    /// Events arrive only through [`crate::relay`] (several nodes share the
    /// database): the committing service does not publish, so every node
    /// publishes every event once, in seq order.
    relayed: bool,
}

impl Default for PushHub {
    fn default() -> Self {
        Self::new(PUSH_BUFFER_EVENTS)
    }
}

impl PushHub {
    /// A hub keeping `buffer_events` events for subscribers.
    pub fn new(buffer_events: usize) -> Self {
        let (sender, _) = broadcast::channel(buffer_events.max(1));
        Self {
            sender,
            relayed: false,
        }
    }

    /// A hub fed by the cross-node relay only.
    pub fn relayed(buffer_events: usize) -> Self {
        Self {
            relayed: true,
            ..Self::new(buffer_events)
        }
    }

    /// Publishes an event the caller just committed (no-op when nobody
    /// listens, or when the relay publishes instead).
    pub fn publish(&self, published: Published) {
        if !self.relayed {
            let _ = self.sender.send(Arc::new(published));
        }
    }

    /// Whether events come through the relay.
    pub fn is_relayed(&self) -> bool {
        self.relayed
    }

    /// Publishes an event the relay read from the shared database.
    pub fn relay(&self, published: Published) {
        let _ = self.sender.send(Arc::new(published));
    }

    /// A new listener; subscribe before reading the backlog from storage so
    /// nothing committed in between is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_looked_up_whatever_order_it_came_in() {
        let audience = vec![
            "officer-03".to_owned(),
            "officer-01".to_owned(),
            "officer-02".to_owned(),
        ];
        let published = Published::new(pb::AssignmentEvent::default(), audience);
        for officer in ["officer-01", "officer-02", "officer-03"] {
            assert!(published.is_for(officer), "{officer}");
        }
        assert!(!published.is_for("officer-04"));
        assert!(!published.is_for(""));
        assert!(!Published::new(pb::AssignmentEvent::default(), Vec::new()).is_for("officer-01"));
    }
}
