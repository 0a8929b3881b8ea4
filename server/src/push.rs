//! Live push of assignment events to connected terminals.
//!
//! Events are committed first; then they are published here, each with its
//! feed frame encoded once for every feed that sends it. Supervisors' feeds
//! and the console listen to a bounded broadcast of every event; officers'
//! feeds read the same events from [`OfficerRoutes`], which wakes only the
//! feeds of an event's audience. A subscriber that falls too far behind (its
//! terminal is slow or stalled) loses its place, not the events: it catches
//! up from storage, so nobody holds anyone else up.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::officer_routes::{OfficerRoutes, OfficerSubscription};
use crate::published::Published;

/// Events kept in memory for subscribers before the slowest must catch up from storage.
pub const PUSH_BUFFER_EVENTS: usize = 4096;

/// The publisher.
#[derive(Clone)]
pub struct PushHub {
    sender: broadcast::Sender<Arc<Published>>,
    routes: Arc<OfficerRoutes>,
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
            routes: Arc::new(OfficerRoutes::new(buffer_events)),
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
            self.send(published);
        }
    }

    fn send(&self, published: Published) {
        let published = Arc::new(published);
        self.routes.publish(published.clone());
        let _ = self.sender.send(published);
    }

    /// Whether events come through the relay.
    pub fn is_relayed(&self) -> bool {
        self.relayed
    }

    /// Publishes an event the relay read from the shared database.
    pub fn relay(&self, published: Published) {
        self.send(published);
    }

    /// A new listener to every event; subscribe before reading the backlog
    /// from storage so nothing committed in between is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }

    /// A new listener for an officer's feed: woken only by events for
    /// `officer` (it reads the others on its way, in publish order). As with
    /// [`Self::subscribe`], subscribe before reading the backlog.
    pub fn subscribe_officer(&self, officer: &str) -> OfficerSubscription {
        self.routes.subscribe(officer)
    }
}

#[cfg(test)]
mod tests {
    use fieldlink_protocol::pb;

    use super::*;

    #[tokio::test]
    async fn officer_feeds_and_everything_listeners_both_receive() {
        let hub = PushHub::new(8);
        let mut everything = hub.subscribe();
        let mut officer = hub.subscribe_officer("officer-01");
        hub.publish(Published::new(
            pb::AssignmentEvent {
                seq: 1,
                ..Default::default()
            },
            vec!["officer-01".into()],
        ));
        assert_eq!(everything.recv().await.unwrap().event.seq, 1);
        assert_eq!(officer.recv().await.unwrap().event.seq, 1);
    }
}
