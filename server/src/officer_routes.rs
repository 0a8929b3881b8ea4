//! Live events routed to the officers they are for.
//!
//! A broadcast channel wakes every listener for every event: with a
//! thousand terminals and a thousand one-officer assignments that is a
//! million wake-ups, each ending in "not for me". Here published events go
//! into one bounded ring in publish order, exactly as the broadcast keeps
//! them, but only the feeds of the officers in an event's audience are
//! woken. A feed that is woken reads the ring from where it last read, so it
//! still sees every event in publish order (and skips those not for it
//! cheaply); a feed that has fallen behind the ring's start is told it
//! lagged and catches up from storage, as with the broadcast.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::published::Published;

/// Why a receive returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// Events this subscription had not read were dropped from the ring:
    /// it must catch up from storage. The next receive reads on from the
    /// ring's oldest event.
    Lagged,
}

/// The ring and the feeds waiting on it.
pub struct OfficerRoutes {
    ring: Mutex<Ring>,
    waiting: Mutex<Waiting>,
}

struct Ring {
    capacity: usize,
    events: VecDeque<Arc<Published>>,
    /// The publish index of `events[0]`.
    first: u64,
}

#[derive(Default)]
struct Waiting {
    next_id: u64,
    by_officer: HashMap<String, Vec<(u64, Arc<Notify>)>>,
}

impl OfficerRoutes {
    /// Routes keeping the latest `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                capacity: capacity.max(1),
                events: VecDeque::new(),
                first: 0,
            }),
            waiting: Mutex::new(Waiting::default()),
        }
    }

    /// Keeps `published` and wakes the feeds of its audience.
    pub fn publish(&self, published: Arc<Published>) {
        {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            if ring.events.len() == ring.capacity {
                ring.events.pop_front();
                ring.first += 1;
            }
            ring.events.push_back(published.clone());
        }
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        for officer in published.audience() {
            for (_, notify) in waiting.by_officer.get(officer).into_iter().flatten() {
                // Stores a permit when the feed is not waiting yet: no wake-up is lost.
                notify.notify_one();
            }
        }
    }

    /// A subscription for `officer`'s feed, reading events published from
    /// now on.
    pub fn subscribe(self: &Arc<Self>, officer: &str) -> OfficerSubscription {
        let notify = Arc::new(Notify::new());
        let id = {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            waiting.next_id += 1;
            let id = waiting.next_id;
            waiting
                .by_officer
                .entry(officer.to_owned())
                .or_default()
                .push((id, notify.clone()));
            id
        };
        // Registered before reading the position: whatever is published
        // after this point is either below the position's end or wakes us.
        let next = {
            let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            ring.first + ring.events.len() as u64
        };
        OfficerSubscription {
            routes: self.clone(),
            officer: officer.to_owned(),
            id,
            notify,
            next,
        }
    }

    /// The next event at or after `next`, or that it lagged.
    fn read(&self, next: &mut u64) -> Result<Option<Arc<Published>>, RouteError> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if *next < ring.first {
            *next = ring.first;
            return Err(RouteError::Lagged);
        }
        let offset = (*next - ring.first) as usize;
        match ring.events.get(offset) {
            Some(published) => {
                *next += 1;
                Ok(Some(published.clone()))
            }
            None => Ok(None),
        }
    }

    fn unsubscribe(&self, officer: &str, id: u64) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(feeds) = waiting.by_officer.get_mut(officer) {
            feeds.retain(|(feed, _)| *feed != id);
            if feeds.is_empty() {
                waiting.by_officer.remove(officer);
            }
        }
    }

    /// Feeds subscribed.
    #[cfg(test)]
    fn subscriptions(&self) -> usize {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.by_officer.values().map(Vec::len).sum()
    }
}

/// One officer feed's place in the ring.
pub struct OfficerSubscription {
    routes: Arc<OfficerRoutes>,
    officer: String,
    id: u64,
    notify: Arc<Notify>,
    /// The publish index of the next event to read.
    next: u64,
}

impl OfficerSubscription {
    /// The next published event (in publish order; events not for this
    /// officer included, as it reads on past them), waiting until one is
    /// published for this officer.
    pub async fn recv(&mut self) -> Result<Arc<Published>, RouteError> {
        loop {
            if let Some(published) = self.routes.read(&mut self.next)? {
                return Ok(published);
            }
            self.notify.notified().await;
        }
    }

    /// The next event if one is there, without waiting.
    #[cfg(test)]
    fn try_recv(&mut self) -> Result<Option<Arc<Published>>, RouteError> {
        self.routes.read(&mut self.next)
    }
}

impl Drop for OfficerSubscription {
    fn drop(&mut self) {
        self.routes.unsubscribe(&self.officer, self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fieldlink_protocol::pb;

    use super::*;

    fn event(seq: u64, audience: &[&str]) -> Arc<Published> {
        Arc::new(Published::new(
            pb::AssignmentEvent {
                seq,
                ..Default::default()
            },
            audience.iter().map(|a| (*a).to_owned()).collect(),
        ))
    }

    #[tokio::test]
    async fn a_feed_reads_every_event_in_publish_order_but_wakes_only_for_its_own() {
        let routes = Arc::new(OfficerRoutes::new(16));
        let mut one = routes.subscribe("officer-01");
        let mut two = routes.subscribe("officer-02");
        routes.publish(event(1, &["officer-02"]));
        // Not woken for an event of officer-02's: nothing to wait for.
        let waited = tokio::time::timeout(Duration::from_millis(50), one.notify.notified()).await;
        assert!(waited.is_err(), "officer-01 was woken for officer-02's event");
        routes.publish(event(2, &["officer-01", "officer-02"]));
        let seqs: Vec<u64> = [one.recv().await, one.recv().await]
            .into_iter()
            .map(|p| p.map(|p| p.event.seq))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            seqs,
            vec![1, 2],
            "read in publish order, the other's event included"
        );
        assert_eq!(two.recv().await.unwrap().event.seq, 1);
        assert_eq!(two.recv().await.unwrap().event.seq, 2);
        assert!(matches!(one.try_recv(), Ok(None)), "nothing more");
    }

    #[tokio::test]
    async fn a_wake_up_before_the_wait_is_not_lost() {
        let routes = Arc::new(OfficerRoutes::new(16));
        let mut feed = routes.subscribe("officer-01");
        routes.publish(event(7, &["officer-01"]));
        let published = tokio::time::timeout(Duration::from_secs(30), feed.recv())
            .await
            .expect("no wake-up lost")
            .unwrap();
        assert_eq!(published.event.seq, 7);
    }

    #[tokio::test]
    async fn events_before_the_subscription_are_not_read() {
        let routes = Arc::new(OfficerRoutes::new(16));
        routes.publish(event(1, &["officer-01"]));
        let mut feed = routes.subscribe("officer-01");
        assert!(matches!(feed.try_recv(), Ok(None)));
        routes.publish(event(2, &["officer-01"]));
        assert_eq!(feed.recv().await.unwrap().event.seq, 2);
    }

    #[tokio::test]
    async fn a_feed_behind_the_ring_lags_then_reads_on_from_the_oldest() {
        let routes = Arc::new(OfficerRoutes::new(4));
        let mut feed = routes.subscribe("officer-01");
        for seq in 1..=6 {
            routes.publish(event(seq, &["officer-09"]));
        }
        assert_eq!(feed.recv().await.map(|p| p.event.seq), Err(RouteError::Lagged));
        assert_eq!(feed.recv().await.unwrap().event.seq, 3, "the oldest kept");
    }

    #[test]
    fn a_dropped_subscription_is_forgotten() {
        let routes = Arc::new(OfficerRoutes::new(4));
        let one = routes.subscribe("officer-01");
        let two = routes.subscribe("officer-01");
        assert_eq!(routes.subscriptions(), 2);
        drop(one);
        assert_eq!(routes.subscriptions(), 1);
        drop(two);
        assert_eq!(routes.subscriptions(), 0);
        routes.publish(event(1, &["officer-01"]));
    }
}
