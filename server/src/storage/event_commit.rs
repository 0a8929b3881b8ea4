//! Group commit for assignment events: dispatches and lifecycle steps that
//! arrive together share one durable transaction, and are published to the
//! live feeds in seq order once it has committed.
//!
//! A command center dispatching to a whole shift at once would otherwise
//! wait for one fsync'd transaction per assignment, one after another. The
//! version checks stay per event, in order, inside the transaction (two
//! changes of one assignment at the same version: the second conflicts and
//! its service reads again). Publishing here, in the writer, keeps the live
//! broadcast in seq order, so no feed sees a gap it must fill from storage.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::group_commit::CommitError;
use super::{AssignmentCommit, NewAssignmentEvent, Storage};
use crate::metrics::Metrics;
use crate::push::{Published, PushHub};

/// Events queued before submitters wait (backpressure).
const QUEUE_EVENTS_MAX: usize = 4_096;
/// Events in one transaction at most.
const BATCH_EVENTS_MAX: usize = 256;

struct Job {
    expected_version: Option<u64>,
    event: NewAssignmentEvent,
    respond: oneshot::Sender<Result<AssignmentCommit, CommitError>>,
}

/// Submits assignment events to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct EventCommitter {
    queue: mpsc::Sender<Job>,
}

/// Where committed events go.
pub struct Publisher {
    /// The live feeds of this node.
    pub push: PushHub,
    /// Push counters.
    pub metrics: Arc<Metrics>,
    /// The server clock.
    pub clock: fn() -> i64,
}

impl EventCommitter {
    /// Starts the writer task; it ends once every clone is dropped.
    pub fn start(storage: Arc<dyn Storage>, publisher: Publisher) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_EVENTS_MAX);
        tokio::spawn(run_writer(storage, receiver, publisher));
        Self { queue }
    }

    /// Appends `event` if the assignment is still at `expected_version`
    /// (`None`: it must not exist yet); a committed event is published
    /// before this returns.
    pub async fn commit(
        &self,
        expected_version: Option<u64>,
        event: NewAssignmentEvent,
    ) -> Result<AssignmentCommit, CommitError> {
        let (respond, outcome) = oneshot::channel();
        self.queue
            .send(Job {
                expected_version,
                event,
                respond,
            })
            .await
            .map_err(|_| CommitError::Closed)?;
        outcome.await.map_err(|_| CommitError::Closed)?
    }
}

async fn run_writer(storage: Arc<dyn Storage>, mut receiver: mpsc::Receiver<Job>, publisher: Publisher) {
    let mut jobs = Vec::with_capacity(BATCH_EVENTS_MAX);
    while receiver.recv_many(&mut jobs, BATCH_EVENTS_MAX).await > 0 {
        let events: Vec<(Option<u64>, &NewAssignmentEvent)> = jobs
            .iter()
            .map(|job| (job.expected_version, &job.event))
            .collect();
        let committed = storage.commit_assignment_events(&events).await;
        drop(events);
        match committed {
            Ok(outcomes) => {
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    if let AssignmentCommit::Committed { seq } = outcome {
                        let mut event = job.event.event;
                        event.seq = seq;
                        if !publisher.push.is_relayed() {
                            publisher.metrics.pushed(event.at_ms, (publisher.clock)());
                        }
                        publisher.push.publish(Published::new(event, job.event.audience));
                    }
                    let _ = job.respond.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(%error, events = jobs.len(), "assignment events not committed; nothing stored");
                for job in jobs.drain(..) {
                    let _ = job.respond.send(Err(CommitError::Storage(error.to_string())));
                }
            }
        }
    }
}
