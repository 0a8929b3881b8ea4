//! Cross-node push over PostgreSQL: every assignment-event commit sends
//! `NOTIFY fieldlink_assignment_events` (inside its transaction, so only
//! when it commits); every node LISTENs and publishes the events it has not
//! published yet, in seq order, to its own terminals' feeds. No broker
//! beyond the database.
//!
//! Notifications are hints, not the data: the relay always reads the events
//! from the database after its last published seq. A lost notification (the
//! listening connection dropped) is made good by the next one and by a
//! once-a-second poll; feeds that notice a gap catch up from storage anyway.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::published::Published;
use crate::state::AppState;
use crate::storage::postgres::ASSIGNMENT_CHANNEL;

/// Events read per query.
const BATCH_EVENTS: u32 = 1_000;

/// Runs until `shutdown`: listens on `url` and relays events committed
/// after seq `after` (the latest when the node started: earlier events
/// reach feeds from storage).
pub async fn run(state: AppState, url: String, after: u64, shutdown: CancellationToken) {
    let mut last = after;
    let mut listener = None;
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        if listener.is_none() {
            listener = connect(&url).await;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = poll.tick() => {}
            received = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            } => {
                if let Err(error) = received {
                    tracing::warn!(%error, "relay: listening connection lost; reconnecting");
                    listener = None;
                }
            }
        }
        last = relay_after(&state, last).await;
    }
}

async fn connect(url: &str) -> Option<PgListener> {
    let mut listener = match PgListener::connect(url).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "relay: cannot connect to listen");
            return None;
        }
    };
    match listener.listen(ASSIGNMENT_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "relay: LISTEN failed");
            None
        }
    }
}

/// Publishes every event after `last`; returns the new last seq.
async fn relay_after(state: &AppState, mut last: u64) -> u64 {
    // Bounded: at most 100 batches per wake-up; the next wake-up goes on.
    for _ in 0..100 {
        let events = match state.storage.events_with_audience(last, BATCH_EVENTS).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "relay: cannot read events");
                return last;
            }
        };
        let full = events.len() == BATCH_EVENTS as usize;
        for (event, audience) in events {
            last = last.max(event.seq);
            state.metrics.pushed(event.at_ms, (state.clock)());
            state.push.relay(Published::new(event, audience));
        }
        if !full {
            break;
        }
    }
    last
}
