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

use std::sync::Arc;

use fieldlink_protocol::io::{read_frame, write_frame};
use fieldlink_protocol::pb::{self, feed_frame, AssignmentEventKind as Kind, AssignmentState as State};
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::directory::Role;
use crate::error::ServiceError;
use crate::push::Published;
use crate::services::assignment;
use crate::session::Session;
use crate::state::AppState;

/// Events read from storage per query while catching up.
const CATCH_UP_BATCH_EVENTS: u32 = 256;
/// Largest ack frame.
const ACK_FRAME_BYTES_MAX: u32 = 64;

/// Serves a feed stream until the terminal or the server ends it.
pub async fn serve(
    state: &AppState,
    session: &Session,
    subscribe: pb::SubscribeAssignments,
    mut send: quinn::SendStream,
    recv: quinn::RecvStream,
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
    session: &'a Session,
    /// `None` for supervisors: every event.
    officer: Option<String>,
    /// The last event sent.
    cursor: u64,
    /// The highest seq known to be covered (sent, or not for this officer).
    covered: u64,
    /// Assignments sent while DISPATCHED, awaiting this terminal's ack.
    awaiting_delivery: Vec<(u64, Uuid)>,
}

async fn run(
    state: &AppState,
    session: &Session,
    subscribe: pb::SubscribeAssignments,
    send: &mut quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Result<(), ServiceError> {
    let supervisor = session.officer.role == Role::Supervisor;
    let cursor = match subscribe.cursor {
        0 => {
            state
                .storage
                .feed_cursor(&session.officer.id, &session.device_id)
                .await?
        }
        given => given,
    };
    let mut feed = Feed {
        state,
        session,
        officer: (!supervisor).then(|| session.officer.id.clone()),
        cursor,
        covered: cursor,
        awaiting_delivery: Vec::new(),
    };
    // Listen before reading the backlog, so nothing committed in between is missed.
    let mut live = state.push.subscribe();
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
    let result = loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(published) => {
                    if let Err(error) = feed.on_published(send, &published).await {
                        break Err(error);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(error) = feed.catch_up(send).await {
                        break Err(error);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break Err(ServiceError::ShuttingDown),
            },
            ack = ack_receiver.recv() => match ack {
                Some(ack) => feed.on_ack(ack).await,
                None => break Ok(()),
            },
            () = state.shutdown.cancelled() => break Err(ServiceError::ShuttingDown),
        }
    };
    reader.abort();
    result
}

impl Feed<'_> {
    /// Sends everything after the cursor from storage.
    async fn catch_up(&mut self, send: &mut quinn::SendStream) -> Result<(), ServiceError> {
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
        send: &mut quinn::SendStream,
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
            Some(officer) => published.audience.iter().any(|member| member == officer),
        };
        if visible && seq > self.cursor {
            self.send_event(send, published.event.clone()).await?;
        }
        Ok(())
    }

    async fn send_event(
        &mut self,
        send: &mut quinn::SendStream,
        event: pb::AssignmentEvent,
    ) -> Result<(), ServiceError> {
        let seq = event.seq;
        if seq <= self.cursor {
            return Ok(());
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
                self.awaiting_delivery.push((seq, id));
            }
        }
        write(send, feed_frame::Body::Event(event)).await?;
        self.cursor = seq;
        Ok(())
    }

    async fn on_ack(&mut self, ack: u64) {
        // A terminal cannot acknowledge what it was not sent.
        let ack = ack.min(self.cursor);
        let now_ms = (self.state.clock)();
        if let Err(error) = self
            .state
            .storage
            .store_feed_cursor(&self.session.officer.id, &self.session.device_id, ack, now_ms)
            .await
        {
            tracing::warn!(%error, "feed cursor not stored");
        }
        let (delivered, waiting): (Vec<_>, Vec<_>) =
            self.awaiting_delivery.drain(..).partition(|(seq, _)| *seq <= ack);
        self.awaiting_delivery = waiting;
        for (_, assignment_id) in delivered {
            assignment::mark_delivered(self.state, self.session, assignment_id).await;
        }
    }
}

async fn write(send: &mut quinn::SendStream, body: feed_frame::Body) -> Result<(), ServiceError> {
    write_frame(send, &pb::FeedFrame { body: Some(body) })
        .await
        .map_err(|_| ServiceError::StreamLost)
}
