//! The assignment feed: one long-lived stream per terminal.
//!
//! The terminal opens it with its last cursor. The server sends every event
//! for this officer after that cursor from storage, then `caught_up`, then
//! live events as they are committed. The terminal acknowledges with FeedAck
//! frames; the server stores the acknowledged cursor per officer and device,
//! and marks assignments DELIVERED when the assignee's terminal acknowledges
//! them. Live events come from memory while the broadcast is contiguous; on
//! any gap (a lagging subscriber, events published out of commit order) the
//! subscriber catches up from storage, so nothing is lost and nothing is
//! sent twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fieldlink_protocol::io::{read_frame, write_frame};
use fieldlink_protocol::pb::{self, feed_frame, AssignmentEventKind as Kind, AssignmentState as State};
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::directory::Role;
use crate::error::ServiceError;
use crate::officer_routes::{OfficerSubscription, RouteError};
use crate::published::Published;
use crate::services::assignment;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::FeedCursor;

/// Events read from storage per query while catching up.
const CATCH_UP_BATCH_EVENTS: u32 = 256;
/// Largest ack frame.
const ACK_FRAME_BYTES_MAX: u32 = 64;

/// Serves a feed stream until the terminal or the server ends it.
pub async fn serve(
    state: &AppState,
    session: &Session,
    subscribe: pb::SubscribeAssignments,
    mut send: fieldlink_link::SendStream,
    recv: fieldlink_link::RecvStream,
) {
    if let Err(error) = run(state, session, subscribe, &mut send, recv).await {
        tracing::debug!(officer = %session.officer.id, %error, "assignment feed ended");
        let frame = pb::FeedFrame {
            body: Some(feed_frame::Body::Error(error.to_status())),
        };
        let _ = write_frame(&mut send, &frame).await;
    }
    let _ = send.finish();
}

struct Feed<'a> {
    state: &'a AppState,
    /// `None` for supervisors: every event.
    officer: Option<String>,
    /// The last event sent.
    cursor: u64,
    /// The highest seq known to be covered (sent, or not for this officer).
    covered: u64,
    /// What the acknowledging side needs to know of what was sent.
    sent: &'a Sent,
}

/// Shared by the forwarding and the acknowledging halves of a feed, which
/// run side by side: acknowledgements (a durable cursor write, a delivery
/// mark) never hold up the next event.
#[derive(Default)]
struct Sent {
    /// The seq of the last event sent: a terminal cannot acknowledge beyond it.
    cursor: AtomicU64,
    /// Assignments sent while DISPATCHED, awaiting this terminal's ack: (seq, id).
    awaiting_delivery: Mutex<Vec<(u64, Uuid)>>,
}

async fn run(
    state: &AppState,
    session: &Session,
    subscribe: pb::SubscribeAssignments,
    send: &mut fieldlink_link::SendStream,
    mut recv: fieldlink_link::RecvStream,
) -> Result<(), ServiceError> {
    let supervisor = session.officer.role == Role::Supervisor;
    // A cursor of another epoch, or beyond the newest event, is of a
    // history a restore rewound: the stored cursor applies instead.
    let rewound = subscribe.cursor > 0
        && ((!subscribe.database_epoch.is_empty() && subscribe.database_epoch != state.database_epoch)
            || subscribe.cursor > state.storage.latest_assignment_seq().await?);
    let cursor = match subscribe.cursor {
        0 => stored_cursor(state, session).await?,
        _ if rewound => {
            tracing::info!(officer = %session.officer.id, device = %session.device_id, cursor = subscribe.cursor,
                "feed cursor of a rewound history; using the stored one");
            stored_cursor(state, session).await?
        }
        given => given,
    };
    let sent = Sent {
        cursor: AtomicU64::new(cursor),
        ..Sent::default()
    };
    let mut feed = Feed {
        state,
        officer: (!supervisor).then(|| session.officer.id.clone()),
        cursor,
        covered: cursor,
        sent: &sent,
    };
    // Listen before reading the backlog, so nothing committed in between is missed.
    let mut live = match &feed.officer {
        None => Live::Everything(state.push.subscribe()),
        Some(officer) => Live::Officer(state.push.subscribe_officer(officer)),
    };
    write(send, feed_frame::Body::StartsAfter(cursor)).await?;
    feed.catch_up(send).await?;
    write(send, feed_frame::Body::CaughtUp(feed.cursor)).await?;

    let (acks, mut ack_receiver) = mpsc::channel::<u64>(64);
    let reader = tokio::spawn(async move {
        while let Ok(body) = read_frame(&mut recv, ACK_FRAME_BYTES_MAX).await {
            match pb::FeedAck::decode(body.as_slice()) {
                Ok(ack) if acks.send(ack.cursor).await.is_ok() => {}
                _ => break,
            }
        }
    });
    let forwarding = async {
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(published) => feed.on_published(send, &published).await?,
                    Err(LiveError::Lagged) => feed.catch_up(send).await?,
                    Err(LiveError::Closed) => return Err(ServiceError::ShuttingDown),
                },
                () = state.shutdown.cancelled() => return Err(ServiceError::ShuttingDown),
            }
        }
    };
    let acknowledging = acknowledge(state, session, &sent, &mut ack_receiver);
    tokio::pin!(acknowledging);
    let result = tokio::select! {
        result = forwarding => {
            // The stream is gone (an event could not be written) or the
            // server stops: what the terminal acknowledged is still stored
            // and marked DELIVERED, never dropped halfway. The reader's end
            // closes the channel once its queued acknowledgements are taken.
            reader.abort();
            acknowledging.await;
            result
        }
        // The terminal closed its side: the feed ends.
        () = &mut acknowledging => Ok(()),
    };
    reader.abort();
    result
}

/// Where a feed's live events come from: a supervisor's feed takes every
/// event; an officer's is woken only by its officer's.
enum Live {
    Everything(broadcast::Receiver<Arc<Published>>),
    Officer(OfficerSubscription),
}

enum LiveError {
    /// Events were missed: catch up from storage.
    Lagged,
    /// The publisher is gone.
    Closed,
}

impl Live {
    async fn recv(&mut self) -> Result<Arc<Published>, LiveError> {
        match self {
            Live::Everything(receiver) => receiver.recv().await.map_err(|error| match error {
                broadcast::error::RecvError::Lagged(_) => LiveError::Lagged,
                broadcast::error::RecvError::Closed => LiveError::Closed,
            }),
            Live::Officer(subscription) => subscription
                .recv()
                .await
                .map_err(|RouteError::Lagged| LiveError::Lagged),
        }
    }
}

async fn stored_cursor(state: &AppState, session: &Session) -> Result<u64, ServiceError> {
    Ok(state
        .storage
        .feed_cursor(&session.officer.id, &session.device_id)
        .await?)
}

impl Feed<'_> {
    /// Sends everything after the cursor from storage.
    async fn catch_up(&mut self, send: &mut fieldlink_link::SendStream) -> Result<(), ServiceError> {
        loop {
            // Everything committed up to here is in storage for the query below.
            let latest = self.state.storage.latest_assignment_seq().await?;
            let events = self
                .state
                .storage
                .feed_events(self.officer.as_deref(), self.cursor, CATCH_UP_BATCH_EVENTS)
                .await?;
            let complete = events.len() < CATCH_UP_BATCH_EVENTS as usize;
            for event in events {
                self.send_event(send, event).await?;
            }
            if complete {
                self.covered = self.covered.max(latest).max(self.cursor);
                return Ok(());
            }
        }
    }

    async fn on_published(
        &mut self,
        send: &mut fieldlink_link::SendStream,
        published: &Arc<Published>,
    ) -> Result<(), ServiceError> {
        let seq = published.event.seq;
        if seq <= self.covered {
            return Ok(());
        }
        if seq != self.covered + 1 {
            // A gap: an event we have not seen may be missing. Storage knows.
            return self.catch_up(send).await;
        }
        self.covered = seq;
        let visible = match &self.officer {
            None => true,
            Some(officer) => published.is_for(officer),
        };
        if visible && self.note_sending(&published.event) {
            // The frame encoded once at publishing, shared with every other feed.
            send.write_chunk(published.frame().clone())
                .await
                .map_err(|_| ServiceError::StreamLost)?;
            self.cursor = seq;
        }
        Ok(())
    }

    async fn send_event(
        &mut self,
        send: &mut fieldlink_link::SendStream,
        event: pb::AssignmentEvent,
    ) -> Result<(), ServiceError> {
        if !self.note_sending(&event) {
            return Ok(());
        }
        let seq = event.seq;
        write(send, feed_frame::Body::Event(event)).await?;
        self.cursor = seq;
        Ok(())
    }

    /// Before `event` is sent: tells the acknowledging side what it may
    /// acknowledge and what awaits delivery. False when it was sent already.
    fn note_sending(&mut self, event: &pb::AssignmentEvent) -> bool {
        let seq = event.seq;
        if seq <= self.cursor {
            return false;
        }
        let awaiting = self.officer.is_some()
            && matches!(Kind::try_from(event.kind), Ok(Kind::Created | Kind::Reassigned))
            && event
                .assignment
                .as_ref()
                .is_some_and(|a| a.state == State::Dispatched as i32);
        if awaiting {
            if let Some(id) = event
                .assignment
                .as_ref()
                .and_then(|a| Uuid::parse_str(&a.id).ok())
            {
                if let Ok(mut awaiting) = self.sent.awaiting_delivery.lock() {
                    awaiting.push((seq, id));
                }
            }
        }
        self.sent.cursor.store(seq, Ordering::Relaxed);
        true
    }
}

/// Takes the terminal's acknowledgements until it closes its side: stores
/// each cursor durably (in a transaction shared with other feeds' cursors)
/// and marks what it acknowledged DELIVERED.
async fn acknowledge(state: &AppState, session: &Session, sent: &Sent, acks: &mut mpsc::Receiver<u64>) {
    while let Some(mut ack) = acks.recv().await {
        // Acknowledgements that arrived while the last was being stored: the
        // newest covers them all, so one write stores them.
        while let Ok(newer) = acks.try_recv() {
            ack = ack.max(newer);
        }
        // A terminal cannot acknowledge what it was not sent.
        let ack = ack.min(sent.cursor.load(Ordering::Relaxed));
        let stored = state
            .cursors
            .store(FeedCursor {
                officer_id: session.officer.id.clone(),
                device_id: session.device_id.clone(),
                cursor: ack,
            })
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "feed cursor not stored");
        }
        let delivered: Vec<(u64, Uuid)> = match sent.awaiting_delivery.lock() {
            Ok(mut awaiting) => {
                let (delivered, waiting) = awaiting.drain(..).partition(|(seq, _)| *seq <= ack);
                *awaiting = waiting;
                delivered
            }
            Err(_) => Vec::new(),
        };
        for (seq, assignment_id) in delivered {
            assignment::mark_delivered(state, session, assignment_id, seq).await;
        }
    }
}

async fn write(send: &mut fieldlink_link::SendStream, body: feed_frame::Body) -> Result<(), ServiceError> {
    write_frame(send, &pb::FeedFrame { body: Some(body) })
        .await
        .map_err(|_| ServiceError::StreamLost)
}
