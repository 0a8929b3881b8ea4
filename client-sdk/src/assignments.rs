//! Assignments: the live feed, lifecycle steps, and supervisor operations.

use std::time::Duration;

use fieldlink_protocol::frame;
use fieldlink_protocol::io::{read_frame, write_frame};
use fieldlink_protocol::pb::{self, feed_frame, request::Body, response, AssignmentEventKind as Kind};
use prost::Message;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::client::unexpected;
use crate::connection::stream_error;
use crate::{Client, Error};

/// Largest feed frame the SDK accepts.
const FEED_FRAME_BYTES_MAX: u32 = 1 << 20;
/// Events buffered between the network and the app.
const FEED_BUFFER_EVENTS: usize = 64;

/// The live stream of assignment events for the signed-in officer (for a
/// supervisor: every event). Resumes from the last acknowledged cursor after
/// any reconnect; an event is acknowledged to the server when the app takes
/// it with [`AssignmentFeed::next`], so nothing is lost and nothing is shown twice.
pub struct AssignmentFeed {
    events: mpsc::Receiver<Result<pb::AssignmentEvent, Error>>,
    acks: mpsc::UnboundedSender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl AssignmentFeed {
    /// The next event, waiting for it. `Err` when the feed cannot go on
    /// (e.g. the sign-in was revoked); `None` after that.
    pub async fn next(&mut self) -> Option<Result<pb::AssignmentEvent, Error>> {
        let item = self.events.recv().await?;
        if let Ok(event) = &item {
            let _ = self.acks.send(event.seq);
        }
        Some(item)
    }
}

impl Drop for AssignmentFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Opens the assignment feed. It starts after the cursor the server
    /// stored for this officer on this device.
    pub fn assignments(&self) -> AssignmentFeed {
        self.assignments_from(0)
    }

    /// Opens the assignment feed after `cursor` (the `seq` of the last event
    /// the app has); 0 means the cursor the server stored. A cursor beyond
    /// the server's newest event (its database was restored) is replaced by
    /// the stored one; [`Client::assignments_after`] also says which
    /// database epoch the cursor is of.
    pub fn assignments_from(&self, cursor: u64) -> AssignmentFeed {
        self.assignments_after(cursor, "")
    }

    /// Opens the assignment feed after `cursor`, read in `database_epoch`
    /// ([`Client::database_epoch`] when the app saved the cursor). When the
    /// server's epoch is another (its database was restored from a
    /// backup), the feed starts from the cursor the server stored instead.
    pub fn assignments_after(&self, cursor: u64, database_epoch: &str) -> AssignmentFeed {
        let (events, receiver) = mpsc::channel(FEED_BUFFER_EVENTS);
        let (acks, ack_receiver) = mpsc::unbounded_channel();
        let position = Position {
            cursor,
            epoch: database_epoch.to_owned(),
        };
        let task = tokio::spawn(run_feed(self.clone(), position, events, ack_receiver));
        AssignmentFeed {
            events: receiver,
            acks,
            task,
        }
    }

    /// Accepts an assignment (for a team assignment, the first acceptance wins).
    pub async fn accept_assignment(&self, assignment_id: &str) -> Result<pb::AssignmentResult, Error> {
        self.update_assignment(assignment_id, Kind::Accepted, "", &[])
            .await
    }

    /// Rejects an assignment assigned to this officer, with a reason.
    pub async fn reject_assignment(
        &self,
        assignment_id: &str,
        reason: &str,
    ) -> Result<pb::AssignmentResult, Error> {
        self.update_assignment(assignment_id, Kind::Rejected, reason, &[])
            .await
    }

    /// Reports being on the way.
    pub async fn en_route(&self, assignment_id: &str) -> Result<pb::AssignmentResult, Error> {
        self.update_assignment(assignment_id, Kind::EnRoute, "", &[])
            .await
    }

    /// Reports arriving.
    pub async fn on_site(&self, assignment_id: &str) -> Result<pb::AssignmentResult, Error> {
        self.update_assignment(assignment_id, Kind::OnSite, "", &[]).await
    }

    /// Completes an assignment with the (already stored) records that close it.
    pub async fn complete_assignment(
        &self,
        assignment_id: &str,
        record_ids: &[String],
    ) -> Result<pb::AssignmentResult, Error> {
        self.update_assignment(assignment_id, Kind::Completed, "", record_ids)
            .await
    }

    /// Any lifecycle step. A fresh update id makes it idempotent across retries.
    pub async fn update_assignment(
        &self,
        assignment_id: &str,
        transition: Kind,
        reason: &str,
        record_ids: &[String],
    ) -> Result<pb::AssignmentResult, Error> {
        self.assignment_request(Body::UpdateAssignment(pb::UpdateAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: assignment_id.to_owned(),
            transition: transition as i32,
            reason: reason.to_owned(),
            record_ids: record_ids.to_vec(),
        }))
        .await
    }

    /// Supervisors: dispatches an assignment (its `id` must be a fresh UUIDv7).
    pub async fn create_assignment(
        &self,
        assignment: &pb::Assignment,
    ) -> Result<pb::AssignmentResult, Error> {
        self.assignment_request(Body::CreateAssignment(pb::CreateAssignment {
            assignment: Some(assignment.clone()),
        }))
        .await
    }

    /// Supervisors: cancels an assignment.
    pub async fn cancel_assignment(
        &self,
        assignment_id: &str,
        reason: &str,
    ) -> Result<pb::AssignmentResult, Error> {
        self.assignment_request(Body::CancelAssignment(pb::CancelAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: assignment_id.to_owned(),
            reason: reason.to_owned(),
        }))
        .await
    }

    /// Supervisors: gives an assignment to another officer or team.
    pub async fn reassign_assignment(
        &self,
        assignment_id: &str,
        assignee: pb::reassign_assignment::Assignee,
        reason: &str,
    ) -> Result<pb::AssignmentResult, Error> {
        self.assignment_request(Body::ReassignAssignment(pb::ReassignAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: assignment_id.to_owned(),
            assignee: Some(assignee),
            reason: reason.to_owned(),
        }))
        .await
    }

    /// Supervisors: approves completed work (PENDING_REVIEW → COMPLETED; its
    /// incident, if any, closes) or returns it with a reason (→ RETURNED,
    /// back on the officer's feed).
    pub async fn review_assignment(
        &self,
        assignment_id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<pb::AssignmentResult, Error> {
        self.assignment_request(Body::ReviewAssignment(pb::ReviewAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: assignment_id.to_owned(),
            approve,
            reason: reason.to_owned(),
        }))
        .await
    }

    /// Lists the assignments the signed-in person may see, newest first.
    pub async fn list_assignments(&self, filter: &pb::ListAssignments) -> Result<pb::AssignmentList, Error> {
        let request = pb::Request {
            body: Some(Body::ListAssignments(filter.clone())),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::Assignments(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    async fn assignment_request(&self, body: Body) -> Result<pb::AssignmentResult, Error> {
        let request = pb::Request {
            body: Some(body),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::Assignment(result) => Ok(result),
            other => Err(unexpected(other)),
        }
    }
}

/// Where the feed is: the last event's seq and the database epoch it is of
/// (empty: not known).
struct Position {
    cursor: u64,
    epoch: String,
}

/// Keeps a feed stream open, reconnecting with backoff, until the app drops the feed.
async fn run_feed(
    client: Client,
    mut position: Position,
    events: mpsc::Sender<Result<pb::AssignmentEvent, Error>>,
    mut acks: mpsc::UnboundedReceiver<u64>,
) {
    let policy = client.retry_policy();
    let mut backoff = policy.backoff_initial;
    loop {
        match feed_once(&client, &mut position, &events, &mut acks).await {
            Ok(()) => return, // the app dropped the feed
            Err(error) if !error.is_retryable() => {
                let _ = events.send(Err(error)).await;
                return;
            }
            Err(error) => {
                tracing::debug!(%error, cursor = position.cursor, "assignment feed lost; reconnecting");
                let jitter =
                    Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(policy.backoff_max);
            }
        }
        if events.is_closed() {
            return;
        }
    }
}

/// One feed stream. `Ok` when the app is gone; `Err` when the stream ended.
async fn feed_once(
    client: &Client,
    position: &mut Position,
    events: &mpsc::Sender<Result<pb::AssignmentEvent, Error>>,
    acks: &mut mpsc::UnboundedReceiver<u64>,
) -> Result<(), Error> {
    let connection = client.connection().await?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| stream_error(&connection, e))?;
    let epoch = client.database_epoch().await.unwrap_or_default();
    if !position.epoch.is_empty() && position.epoch != epoch {
        // The server's database was restored: seqs of the old epoch mean
        // nothing now. Start from the cursor the server stored.
        tracing::warn!(old = %position.epoch, new = %epoch, "database epoch changed; feed resynchronises");
        position.cursor = 0;
    }
    let subscribe = pb::Request {
        body: Some(Body::SubscribeAssignments(pb::SubscribeAssignments {
            cursor: position.cursor,
            database_epoch: position.epoch.clone(),
        })),
        capture: None,
    };
    position.epoch = epoch;
    let cursor = &mut position.cursor;
    send.write_all(&frame::encode(&subscribe))
        .await
        .map_err(|e| stream_error(&connection, e))?;
    // Frames are read on their own task: reading is not cancel-safe.
    let (frames, mut frame_receiver) = mpsc::channel(FEED_BUFFER_EVENTS);
    let reader_connection = connection.clone();
    let reader = tokio::spawn(async move {
        loop {
            let frame = match read_frame(&mut recv, FEED_FRAME_BYTES_MAX).await {
                Ok(body) => {
                    pb::FeedFrame::decode(body.as_slice()).map_err(|e| Error::Protocol(e.to_string()))
                }
                Err(error) => Err(crate::connection::read_error(&reader_connection, error)),
            };
            let failed = frame.is_err();
            if frames.send(frame).await.is_err() || failed {
                return;
            }
        }
    });
    let result = loop {
        tokio::select! {
            frame = frame_receiver.recv() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(error)) => break Err(error),
                    None => break Err(Error::Connection("the feed stream ended".into())),
                };
                match frame.body {
                    Some(feed_frame::Body::Event(event)) => {
                        // Never hand the app an event twice.
                        if event.seq <= *cursor {
                            continue;
                        }
                        *cursor = event.seq;
                        if events.send(Ok(event)).await.is_err() {
                            break Ok(());
                        }
                    }
                    // The server may have set a cursor of a rewound history aside.
                    Some(feed_frame::Body::StartsAfter(start)) => *cursor = start,
                    Some(feed_frame::Body::CaughtUp(_)) => {}
                    Some(feed_frame::Body::Error(status)) => break Err(Error::Rejected(Box::new(status))),
                    None => break Err(Error::Protocol("empty feed frame".into())),
                }
            }
            ack = acks.recv() => match ack {
                Some(seq) => {
                    if let Err(error) = write_frame(&mut send, &pb::FeedAck { cursor: seq }).await {
                        break Err(stream_error(&connection, error));
                    }
                }
                None => break Ok(()),
            },
        }
    };
    reader.abort();
    if matches!(result, Err(Error::Connection(_))) {
        client.forget(&connection).await;
    }
    result
}
