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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedRwLockWriteGuard, RwLock};

use super::group_commit::CommitError;
use super::{AssignmentCommit, AssignmentStore, NewAssignmentEvent};
use crate::metrics::Metrics;
use crate::published::Published;
use crate::push::PushHub;

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
    /// Submissions waiting for their outcome.
    in_flight: Arc<AtomicUsize>,
    /// The writer reads this before each transaction; [`Self::hold`] writes it.
    gate: Arc<RwLock<()>>,
}

/// While alive, the event writer starts no transaction (see [`EventCommitter::hold`]).
pub struct WriterHold(#[allow(dead_code)] OwnedRwLockWriteGuard<()>);

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
    pub fn start(storage: Arc<dyn AssignmentStore>, publisher: Publisher) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_EVENTS_MAX);
        let gate = Arc::new(RwLock::new(()));
        tokio::spawn(run_writer(storage, receiver, publisher, gate.clone()));
        Self {
            queue,
            in_flight: Arc::default(),
            gate,
        }
    }

    /// Holds the writer before its next transaction until the returned
    /// guard is dropped; submissions queue meanwhile. Tests use it to put
    /// several changes of one assignment in flight at once (so each has
    /// read the same version), which a loaded machine otherwise serializes.
    pub async fn hold(&self) -> WriterHold {
        WriterHold(self.gate.clone().write_owned().await)
    }

    /// Submissions waiting for their outcome now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
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
        let _counted = InFlight::enter(&self.in_flight);
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

/// Counts a submission until it has its answer or is given up (dropped).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run_writer(
    storage: Arc<dyn AssignmentStore>,
    mut receiver: mpsc::Receiver<Job>,
    publisher: Publisher,
    gate: Arc<RwLock<()>>,
) {
    let mut jobs = Vec::with_capacity(BATCH_EVENTS_MAX);
    while receiver.recv_many(&mut jobs, BATCH_EVENTS_MAX).await > 0 {
        let _open = gate.read().await;
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

#[cfg(test)]
mod tests {

    use fieldlink_protocol::pb;

    use super::*;
    use crate::storage::held_store::{Ending, HeldStore};

    fn event() -> NewAssignmentEvent {
        NewAssignmentEvent {
            event_id: uuid::Uuid::now_v7(),
            request_sha256: [3; 32],
            event: pb::AssignmentEvent {
                at_ms: 1,
                assignment: Some(pb::Assignment {
                    id: uuid::Uuid::now_v7().to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            audience: vec!["officer-01".into()],
        }
    }

    async fn held(
        ending: Ending,
    ) -> (
        Arc<HeldStore>,
        PushHub,
        tokio::task::JoinHandle<Result<AssignmentCommit, CommitError>>,
    ) {
        let store = Arc::new(HeldStore::new(ending));
        let push = PushHub::new(16);
        let committer = EventCommitter::start(
            store.clone(),
            Publisher {
                push: push.clone(),
                metrics: Arc::default(),
                clock: || 1,
            },
        );
        let submit = tokio::spawn(async move { committer.commit(None, event()).await });
        store.wait_for_writes(1).await;
        HeldStore::let_others_run().await;
        (store, push, submit)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dispatcher_waits_for_the_commit_and_a_failure_publishes_nothing() {
        let (store, push, submit) = held(Ending::Fails).await;
        let mut feed = push.subscribe();
        assert!(!submit.is_finished(), "answered before the commit ended");
        store.release();
        let answer = submit.await.unwrap();
        assert!(matches!(answer, Err(CommitError::Storage(_))), "{answer:?}");
        assert!(feed.try_recv().is_err(), "a failed event reached the feeds");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_committed_event_is_published_before_its_dispatcher_hears() {
        let (store, push, submit) = held(Ending::Commits).await;
        let mut feed = push.subscribe();
        assert!(!submit.is_finished(), "answered before the commit ended");
        assert!(feed.try_recv().is_err(), "published before the commit ended");
        store.release();
        assert_eq!(
            submit.await.unwrap().unwrap(),
            AssignmentCommit::Committed { seq: 1 }
        );
        let published = feed
            .try_recv()
            .expect("published by the time the dispatcher hears");
        assert_eq!(published.event.seq, 1);
    }
}
