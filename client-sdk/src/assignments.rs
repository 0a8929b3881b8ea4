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
use tokio::io::AsyncWriteExt;

/// Largest feed frame the SDK accepts.
const FEED_FRAME_BYTES_MAX: u32 = 1 << 20;
/// Events buffered between the network and the app.
const FEED_BUFFER_EVENTS: usize = 64;

/// The live stream of assignment events for the signed-in officer (for a
/// supervisor: every event), from [`Client::assignments`].
///
/// Resumes from the last acknowledged cursor after any reconnect. An event
/// is acknowledged to the server only once the app has taken it — returned
/// by [`AssignmentFeed::next`] or yielded by the [`Stream`] — so nothing is
/// lost and nothing is shown twice. Both are cancel-safe: a `next()` dropped
/// under a `timeout` or `select!` takes nothing and acknowledges nothing;
/// the event comes with the next call.
///
/// Officers' terminals usually want [`AssignmentFeed::without_own_steps`]:
/// the feed otherwise also carries back the officer's own steps (accepted,
/// on site, completed) and the DELIVERED mark their terminal caused.
///
/// ```no_run
/// # async fn demo(client: fieldlink_client::Client) -> Result<(), fieldlink_client::Error> {
/// // It is also a `futures_core::Stream` of the same items.
/// let mut feed = client.assignments().without_own_steps();
/// while let Some(event) = feed.next().await {
///     let event = event?; // Err: the feed cannot go on (e.g. the sign-in was revoked)
///     println!("{:?} {}", event.kind(), event.assignment.map(|a| a.title).unwrap_or_default());
/// }
/// # Ok(()) }
/// ```
///
/// [`Stream`]: futures_core::Stream
pub struct AssignmentFeed {
    events: mpsc::Receiver<Result<FeedItem, Error>>,
    acks: mpsc::UnboundedSender<u64>,
    skip_own: bool,
    /// The client's record of the last event taken.
    taken: Taken,
}

/// The last event an app took from a client's feeds, and the database
/// epoch its seq is of: where the client's next feed starts.
pub(crate) type Taken = std::sync::Arc<std::sync::Mutex<Option<(u64, std::sync::Arc<str>)>>>;

/// An event as the feed task passes it on.
struct FeedItem {
    event: pb::AssignmentEvent,
    /// Caused by this officer (or the DELIVERED mark of their terminal).
    own: bool,
    /// The database epoch its seq is of.
    epoch: std::sync::Arc<str>,
}

impl AssignmentFeed {
    /// The next event, waiting for it. `Err` when the feed cannot go on
    /// (e.g. the sign-in was revoked); `None` after that.
    pub async fn next(&mut self) -> Option<Result<pb::AssignmentEvent, Error>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Leaves out the officer's own steps — events whose `by` is the
    /// signed-in officer, and DELIVERED marks — acknowledging them as they
    /// pass, so they are not sent again. For officers' terminals; a
    /// supervisor watching delivery keeps them.
    pub fn without_own_steps(mut self) -> Self {
        self.skip_own = true;
        self
    }

    fn poll_event(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<pb::AssignmentEvent, Error>>> {
        loop {
            let item = match std::task::ready!(self.events.poll_recv(cx)) {
                None => return std::task::Poll::Ready(None),
                Some(Err(error)) => return std::task::Poll::Ready(Some(Err(error))),
                Some(Ok(item)) => item,
            };
            // Taken: acknowledged now, and only now.
            let _ = self.acks.send(item.event.seq);
            if let Ok(mut taken) = self.taken.lock() {
                *taken = Some((item.event.seq, item.epoch));
            }
            if !(self.skip_own && item.own) {
                return std::task::Poll::Ready(Some(Ok(item.event)));
            }
        }
    }
}

impl futures_core::Stream for AssignmentFeed {
    type Item = Result<pb::AssignmentEvent, Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}

impl Client {
    /// Opens the assignment feed. It starts after the last event the app
    /// took from an earlier feed of this client, or else after the cursor
    /// the server stored for this officer on this device. Dropping the feed
    /// sends the server what was taken, then closes the stream.
    pub fn assignments(&self) -> AssignmentFeed {
        let taken = self.feed_taken.lock().ok().and_then(|taken| taken.clone());
        match taken {
            Some((cursor, epoch)) => self.assignments_after(cursor, &epoch),
            None => self.assignments_from(0),
        }
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
        // Ends by itself once the feed is dropped (after sending the last
        // acknowledgements).
        tokio::spawn(run_feed(self.clone(), position, events, ack_receiver));
        AssignmentFeed {
            events: receiver,
            acks,
            skip_own: false,
            taken: self.feed_taken.clone(),
        }
    }

    /// Accepts an assignment (for a team assignment, the first acceptance
    /// wins; the others get `FAILED_PRECONDITION` naming who took it).
    ///
    /// From DISPATCHED or DELIVERED, by the assignee (or a member of the
    /// assigned team). Another state is `FAILED_PRECONDITION`/`INVALID_STATE`
    /// with the current state in the message; someone else's assignment is
    /// `PERMISSION_DENIED` (a team-mate's) or `NOT_FOUND`. Connection
    /// failures are retried with the same update id, so a step is never
    /// applied twice.
    pub async fn accept_assignment(&self, assignment_id: &str) -> Result<pb::AssignmentResult, Error> {
        step(
            self.update_assignment(assignment_id, Kind::Accepted, "", &[])
                .await,
        )
    }

    /// Rejects an assignment assigned to this officer, with a reason
    /// (required, at most 1 KiB). From DISPATCHED or DELIVERED; officer
    /// assignments only (a team's is left for a team-mate). Errors as
    /// [`Client::accept_assignment`].
    pub async fn reject_assignment(
        &self,
        assignment_id: &str,
        reason: &str,
    ) -> Result<pb::AssignmentResult, Error> {
        step(
            self.update_assignment(assignment_id, Kind::Rejected, reason, &[])
                .await,
        )
    }

    /// Reports being on the way: from ACCEPTED. Errors as
    /// [`Client::accept_assignment`].
    pub async fn en_route(&self, assignment_id: &str) -> Result<pb::AssignmentResult, Error> {
        step(
            self.update_assignment(assignment_id, Kind::EnRoute, "", &[])
                .await,
        )
    }

    /// Reports arriving: from ACCEPTED, EN_ROUTE or RETURNED. Errors as
    /// [`Client::accept_assignment`].
    pub async fn on_site(&self, assignment_id: &str) -> Result<pb::AssignmentResult, Error> {
        step(self.update_assignment(assignment_id, Kind::OnSite, "", &[]).await)
    }

    /// Completes an assignment with the records that close it: from ON_SITE
    /// or RETURNED only (arrive with [`Client::on_site`] first), putting it
    /// in PENDING_REVIEW for a supervisor. `record_ids` (at least one) must
    /// be stored already, made for this assignment (`assignment_id`) by this
    /// officer; otherwise `FAILED_PRECONDITION` naming `record_ids[i]`.
    /// Through the outbox, queue the records first and the step with
    /// [`crate::outbox::Outbox::enqueue_assignment_update`]: it waits for
    /// them. Errors as [`Client::accept_assignment`].
    pub async fn complete_assignment(
        &self,
        assignment_id: &str,
        record_ids: &[String],
    ) -> Result<pb::AssignmentResult, Error> {
        step(
            self.update_assignment(assignment_id, Kind::Completed, "", record_ids)
                .await,
        )
    }

    /// Any lifecycle step: `transition` is the event the officer causes
    /// ([`Kind::Accepted`], [`Kind::Rejected`] (with a reason),
    /// [`Kind::EnRoute`], [`Kind::OnSite`] or [`Kind::Completed`] (with
    /// `record_ids`)) — the helpers above are the usual way. A fresh update
    /// id makes it idempotent across retries. A step the assignment's state
    /// does not allow is `FAILED_PRECONDITION`/`INVALID_STATE` with the
    /// current state in the message and `field` = `transition`.
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

impl Position {
    /// Before a (re)subscription, with the epoch of the session now in use
    /// (empty when it is not known: the session was lost again between the
    /// connect and this read). Only a known epoch that differs is a restore:
    /// seqs of the old epoch then mean nothing, and the feed starts from
    /// the cursor the server stored. An unknown one changes nothing; taking
    /// it for a restore would set the cursor to 0, and the server's stored
    /// cursor (acknowledgements are stored after the app took the events)
    /// would hand the app events it already had.
    fn resubscribe_in(&mut self, epoch: &str) {
        if epoch.is_empty() {
            return;
        }
        if !self.epoch.is_empty() && self.epoch != epoch {
            tracing::warn!(old = %self.epoch, new = %epoch, "database epoch changed; feed resynchronises");
            self.cursor = 0;
        }
        epoch.clone_into(&mut self.epoch);
    }
}

/// A helper's refusal: the app named no transition (the helper chose it),
/// so a refusal of the state is not pinned on a `transition` field.
fn step(result: Result<pb::AssignmentResult, Error>) -> Result<pb::AssignmentResult, Error> {
    result.map_err(|error| match error {
        Error::Rejected(mut status) if status.field == "transition" => {
            status.field.clear();
            Error::Rejected(status)
        }
        other => other,
    })
}

/// Keeps a feed stream open, reconnecting with backoff, until the app drops the feed.
async fn run_feed(
    client: Client,
    mut position: Position,
    events: mpsc::Sender<Result<FeedItem, Error>>,
    mut acks: mpsc::UnboundedReceiver<u64>,
) {
    let policy = client.retry_policy();
    let mut backoff = policy.backoff_initial;
    let mut network = client.network_changes();
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
                tokio::select! {
                    () = tokio::time::sleep(backoff + jitter) => {}
                    () = events.closed() => return,
                    // The network is back: reconnect now, from the start of the backoff.
                    Ok(()) = network.changed() => backoff = policy.backoff_initial / 2,
                }
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
    events: &mpsc::Sender<Result<FeedItem, Error>>,
    acks: &mut mpsc::UnboundedReceiver<u64>,
) -> Result<(), Error> {
    let connection = client.connection().await?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|e| stream_error(&connection, e))?;
    let epoch = client.database_epoch().await.unwrap_or_default();
    let me = client
        .welcome()
        .await
        .and_then(|welcome| welcome.officer)
        .map(|officer| officer.officer_id)
        .unwrap_or_default();
    // The epoch the cursor belongs to, sent with it (the server checks it).
    let cursor_epoch = position.epoch.clone();
    position.resubscribe_in(&epoch);
    let subscribe = pb::Request {
        body: Some(Body::SubscribeAssignments(pb::SubscribeAssignments {
            cursor: position.cursor,
            database_epoch: cursor_epoch,
        })),
        capture: None,
    };
    let epoch: std::sync::Arc<str> = position.epoch.clone().into();
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
                        let own = event.by == me || event.kind() == Kind::Delivered;
                        let item = FeedItem { event, own, epoch: epoch.clone() };
                        if events.send(Ok(item)).await.is_err() {
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
                Some(mut seq) => {
                    // What the app took meanwhile: one ack covers it all.
                    while let Ok(newer) = acks.try_recv() {
                        seq = seq.max(newer);
                    }
                    if let Err(error) = write_frame(&mut send, &pb::FeedAck { cursor: seq }).await {
                        break Err(stream_error(&connection, error));
                    }
                }
                None => break Ok(()),
            },
        }
    };
    reader.abort();
    if result.is_ok() {
        // The app is gone: what it took before leaving is acknowledged.
        let mut last = None;
        while let Ok(seq) = acks.try_recv() {
            last = Some(seq);
        }
        if let Some(seq) = last {
            let _ = write_frame(&mut send, &pb::FeedAck { cursor: seq }).await;
        }
        let _ = send.finish();
    }
    if matches!(result, Err(Error::Connection(_))) {
        client.forget(&connection).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::Position;

    fn at(cursor: u64, epoch: &str) -> Position {
        Position {
            cursor,
            epoch: epoch.to_owned(),
        }
    }

    #[test]
    fn only_a_known_new_epoch_restarts_the_feed_from_the_stored_cursor() {
        // The session was lost again before its epoch was read: keep going.
        let mut position = at(42, "a");
        position.resubscribe_in("");
        assert_eq!((position.cursor, position.epoch.as_str()), (42, "a"));
        // The same epoch: keep going.
        position.resubscribe_in("a");
        assert_eq!((position.cursor, position.epoch.as_str()), (42, "a"));
        // A restored database: seqs of the old epoch mean nothing.
        position.resubscribe_in("b");
        assert_eq!((position.cursor, position.epoch.as_str()), (0, "b"));
        // A first subscription learns its epoch.
        let mut first = at(0, "");
        first.resubscribe_in("a");
        assert_eq!((first.cursor, first.epoch.as_str()), (0, "a"));
    }
}
