//! `GET /api/events`: server-sent events for the console.
//!
//! - `assignment`: every assignment event (proto3 JSON of AssignmentEvent);
//! - `evidence`: each newly stored item (the same summary as `/api/evidence`);
//! - `presence`: the officers online, whenever that changes.
//!
//! Event ids are `A.E`: the last assignment seq and item seq sent. A browser
//! reconnecting sends `Last-Event-ID` and gets what it missed: assignment
//! events from the database, and the items stored since (up to the latest
//! 200). Assignment events arrive live from the push hub; items and presence
//! are polled once a second, which also covers other nodes.

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
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, e)| Some((a.parse::<u64>().ok()?, e.parse::<u64>().ok()?)));
    let (assignments_after, items_after) = match resume {
        Some(ids) => ids,
        None => (
            state.app.storage.latest_assignment_seq().await?,
            state
                .app
                .storage
                .recent_items(None, 1)
                .await?
                .first()
                .map(|i| i.receipt.server_seq)
                .unwrap_or(0),
        ),
    };
    let (sender, receiver) = mpsc::channel(QUEUE_EVENTS);
    let live = state.app.push.subscribe();
    tokio::spawn(produce(state, live, sender, assignments_after, items_after));
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Feeds one browser until it goes away or the server stops.
async fn produce(
    state: ConsoleState,
    mut live: broadcast::Receiver<std::sync::Arc<crate::push::Published>>,
    sender: mpsc::Sender<Event>,
    mut assignments: u64,
    mut items: u64,
) {
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
                    .feed_events(None, assignments, CATCH_UP_EVENTS)
                    .await
                else {
                    break;
                };
                let full = events.len() == CATCH_UP_EVENTS as usize;
                for event in events {
                    assignments = event.seq;
                    if !send(&sender, "assignment", &event, assignments, items).await {
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
                    if event.seq == assignments + 1 {
                        assignments = event.seq;
                        if !send(&sender, "assignment", event, assignments, items).await {
                            return;
                        }
                    } else if event.seq > assignments {
                        catch_up = true;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => catch_up = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                // New evidence, oldest first; only new items are looked up further.
                if let Ok(recent) = state.app.storage.recent_items(None, 200).await {
                    let mut new: Vec<_> = recent.into_iter().filter(|i| i.receipt.server_seq > items).collect();
                    new.reverse();
                    if let Ok(summaries) = super::views::evidence_summaries(&state, new).await {
                        for item in summaries {
                            items = items.max(item["server_seq"].as_u64().unwrap_or(0));
                            if !send(&sender, "evidence", &item, assignments, items).await {
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
                    if !send(&sender, "presence", &value, assignments, items).await {
                        return;
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
    assignments: u64,
    items: u64,
) -> bool {
    let Ok(event) = Event::default()
        .event(name)
        .id(format!("{assignments}.{items}"))
        .json_data(data)
    else {
        return true;
    };
    sender.try_send(event).is_ok()
}
