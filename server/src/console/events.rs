//! `GET /api/events`: server-sent events for the console.
//!
//! - `assignment`: every assignment event (proto3 JSON of AssignmentEvent);
//! - `evidence`: each newly stored item (the same summary as `/api/evidence`);
//! - `presence`: the officers online, whenever that changes;
//! - `incident`: every incident event (proto3 JSON of IncidentEvent, the
//!   incident after it included): the live triage queue.
//!
//! Event ids are `A.E.I`: the last assignment seq, item seq and incident
//! event seq sent. A browser reconnecting sends `Last-Event-ID` and gets
//! what it missed: assignment and incident events from the database, and
//! the items stored since (up to the latest 200). Assignment events arrive
//! live from the push hub; items, incident events and presence are polled
//! once a second, which also covers other nodes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::{supervisor, ApiError, ConsoleState};

/// Events a slow browser may have queued before it is dropped (it reconnects
/// with Last-Event-ID and catches up).
const QUEUE_EVENTS: usize = 1_024;
/// Assignment events read from storage per catch-up query.
const CATCH_UP_EVENTS: u32 = 500;

/// Opens the stream.
pub async fn stream(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    supervisor(&state, &headers, false)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(Cursor::parse);
    let cursor = match resume {
        Some(cursor) => cursor,
        None => Cursor {
            assignments: state.app.storage.latest_assignment_seq().await?,
            items: state
                .app
                .storage
                .recent_items(None, 1)
                .await?
                .first()
                .map(|i| i.receipt.server_seq)
                .unwrap_or(0),
            incidents: state.app.storage.latest_incident_seq().await?,
        },
    };
    let (sender, receiver) = mpsc::channel(QUEUE_EVENTS);
    let live = state.app.push.subscribe();
    tokio::spawn(produce(state, live, sender, cursor));
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// What a browser has been sent: the event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    assignments: u64,
    items: u64,
    incidents: u64,
}

impl Cursor {
    /// `A.E.I`, or `A.E` from a page loaded before incidents were streamed
    /// (it then gets no incident events it missed: it reloads them anyway).
    fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let cursor = Cursor {
            assignments: parts.next()??,
            items: parts.next()??,
            incidents: parts.next().unwrap_or(Some(u64::MAX))?,
        };
        parts.next().is_none().then_some(cursor)
    }

    fn id(&self) -> String {
        format!("{}.{}.{}", self.assignments, self.items, self.incidents)
    }
}

/// Feeds one browser until it goes away or the server stops.
async fn produce(
    state: ConsoleState,
    mut live: broadcast::Receiver<std::sync::Arc<crate::published::Published>>,
    sender: mpsc::Sender<Event>,
    mut cursor: Cursor,
) {
    if cursor.incidents == u64::MAX {
        cursor.incidents = state.app.storage.latest_incident_seq().await.unwrap_or(0);
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut presence = None;
    // Catch up first (also after falling behind the live broadcast).
    let mut catch_up = true;
    loop {
        if catch_up {
            catch_up = false;
            // Bounded: at most 20 queries per catch-up; the next one goes on.
            for _ in 0..20 {
                let Ok(events) = state
                    .app
                    .storage
                    .feed_events(None, cursor.assignments, CATCH_UP_EVENTS)
                    .await
                else {
                    break;
                };
                let full = events.len() == CATCH_UP_EVENTS as usize;
                for event in events {
                    cursor.assignments = event.seq;
                    if !send(&sender, "assignment", &event, cursor).await {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
        }
        tokio::select! {
            () = state.app.shutdown.cancelled() => return,
            () = sender.closed() => return,
            received = live.recv() => match received {
                Ok(published) => {
                    let event = &published.event;
                    if event.seq == cursor.assignments + 1 {
                        cursor.assignments = event.seq;
                        if !send(&sender, "assignment", event, cursor).await {
                            return;
                        }
                    } else if event.seq > cursor.assignments {
                        catch_up = true;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => catch_up = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                // New evidence, oldest first; only new items are looked up further.
                if let Ok(recent) = state.app.storage.recent_items(None, 200).await {
                    let mut new: Vec<_> = recent.into_iter().filter(|i| i.receipt.server_seq > cursor.items).collect();
                    new.reverse();
                    if let Ok(summaries) = super::views::evidence_summaries(&state, new).await {
                        for item in summaries {
                            cursor.items = cursor.items.max(item["server_seq"].as_u64().unwrap_or(0));
                            if !send(&sender, "evidence", &item, cursor).await {
                                return;
                            }
                        }
                    }
                }
                let online: Vec<String> = {
                    let mut online: Vec<String> = state.app.online_now()
                        .await
                        .into_iter()
                        .filter(|(_, p)| p.sessions > 0)
                        .map(|(officer, _)| officer)
                        .collect();
                    online.sort();
                    online
                };
                if presence.as_ref() != Some(&online) {
                    let value = json!({ "online": online });
                    presence = Some(online);
                    if !send(&sender, "presence", &value, cursor).await {
                        return;
                    }
                }
                // Incident events, oldest first (bounded per tick; the next goes on).
                if let Ok(events) = state
                    .app
                    .storage
                    .incident_events_after(cursor.incidents, CATCH_UP_EVENTS)
                    .await
                {
                    for (seq, event) in events {
                        cursor.incidents = seq;
                        if !send(&sender, "incident", &event, cursor).await {
                            return;
                        }
                    }
                }
                // A feed that missed a notification (other node) catches up here too.
                catch_up = true;
            }
        }
    }
}

/// Queues one event; false when the browser is gone or too far behind.
async fn send<T: serde::Serialize>(
    sender: &mpsc::Sender<Event>,
    name: &str,
    data: &T,
    cursor: Cursor,
) -> bool {
    let Ok(event) = Event::default().event(name).id(cursor.id()).json_data(data) else {
        return true;
    };
    sender.try_send(event).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_old_ones_still_resume() {
        let cursor = Cursor {
            assignments: 7,
            items: 12,
            incidents: 3,
        };
        assert_eq!(Cursor::parse(&cursor.id()), Some(cursor));
        let old = Cursor::parse("7.12").unwrap();
        assert_eq!((old.assignments, old.items, old.incidents), (7, 12, u64::MAX));
        for bad in ["", "7", "7.x", "7.12.3.4", "-1.2.3", "7..3"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
