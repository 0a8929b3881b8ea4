//! Group commit: concurrent submissions share one durable transaction.
//!
//! Submitters send their item through a bounded queue and wait for its
//! outcome. One writer task takes whatever is queued (up to
//! `commit_batch_items_max`), commits it in one transaction (one fsync), and
//! answers each submitter. Under load batches grow by themselves; a lone
//! submitter still commits at once. A full queue makes submitters wait
//! (backpressure), never drops an item.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{CommitOutcome, ItemStore, NewItem};

/// Why an item was not committed. Nothing of it was stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The transaction failed; retrying may help.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The writer has stopped (server shutting down).
    #[error("the commit queue is closed")]
    Closed,
}

struct Job {
    item: NewItem,
    respond: oneshot::Sender<Result<CommitOutcome, CommitError>>,
}

/// Submits items to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct GroupCommitter {
    queue: mpsc::Sender<Job>,
}

/// Counters the writer keeps, for tests and metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Transactions committed.
    pub batches: std::sync::atomic::AtomicU64,
    /// Items in those transactions.
    pub items: std::sync::atomic::AtomicU64,
    /// The largest batch so far.
    pub largest_batch_items: std::sync::atomic::AtomicU64,
    /// Time spent committing, µs.
    pub commit_micros_total: std::sync::atomic::AtomicU64,
}

impl GroupCommitter {
    /// Starts the writer task. It ends once every `GroupCommitter` clone is
    /// dropped and the queue is drained, so in-flight commits finish on shutdown.
    pub fn start(
        storage: Arc<dyn ItemStore>,
        batch_items_max: usize,
        queue_items_max: usize,
        stats: Arc<CommitStats>,
        clock: fn() -> i64,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(queue_items_max);
        let writer = tokio::spawn(run_writer(storage, receiver, batch_items_max, stats, clock));
        (Self { queue }, writer)
    }

    /// Commits one item durably and returns what happened to it.
    pub async fn commit(&self, item: NewItem) -> Result<CommitOutcome, CommitError> {
        let (respond, outcome) = oneshot::channel();
        self.queue
            .send(Job { item, respond })
            .await
            .map_err(|_| CommitError::Closed)?;
        outcome.await.map_err(|_| CommitError::Closed)?
    }
}

async fn run_writer(
    storage: Arc<dyn ItemStore>,
    mut receiver: mpsc::Receiver<Job>,
    batch_items_max: usize,
    stats: Arc<CommitStats>,
    clock: fn() -> i64,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut jobs = Vec::with_capacity(batch_items_max);
    while receiver.recv_many(&mut jobs, batch_items_max).await > 0 {
        let (items, responders): (Vec<NewItem>, Vec<_>) =
            jobs.drain(..).map(|job| (job.item, job.respond)).unzip();
        let started = std::time::Instant::now();
        let result = storage.commit_items(&items, clock()).await;
        stats
            .commit_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        stats.batches.fetch_add(1, Relaxed);
        stats.items.fetch_add(items.len() as u64, Relaxed);
        stats.largest_batch_items.fetch_max(items.len() as u64, Relaxed);
        match result {
            Ok(outcomes) => {
                for (respond, outcome) in responders.into_iter().zip(outcomes) {
                    // A submitter that went away (connection lost) still has its
                    // item stored; a resend will get the original receipt.
                    let _ = respond.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(%error, items = items.len(), "group commit failed; nothing stored");
                for respond in responders {
                    let _ = respond.send(Err(CommitError::Storage(error.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::held_store::{Ending, HeldStore};
    use crate::storage::{ItemIndex, ItemKind};

    fn item() -> NewItem {
        NewItem {
            item_id: uuid::Uuid::now_v7(),
            kind: ItemKind::ServiceEvent,
            device_id: "device-001".into(),
            officer_id: "officer-01".into(),
            case_id: None,
            sha256: [7; 32],
            body: vec![1, 2, 3],
            capture: None,
            index: ItemIndex::ServiceEvent {
                service_id: uuid::Uuid::now_v7().to_string(),
                kind: 1,
                at_ms: 1,
            },
        }
    }

    fn start(store: &Arc<HeldStore>) -> GroupCommitter {
        let (committer, _writer) = GroupCommitter::start(store.clone(), 16, 64, Arc::default(), || 1);
        committer
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_submitter_waits_while_the_transaction_is_open_and_a_failure_is_never_a_receipt() {
        let store = Arc::new(HeldStore::new(Ending::Fails));
        let committer = start(&store);
        let submit = tokio::spawn(async move { committer.commit(item()).await });
        store.wait_for_writes(1).await;
        HeldStore::let_others_run().await;
        assert!(!submit.is_finished(), "answered before the commit ended");
        store.release();
        let answer = submit.await.unwrap();
        assert!(matches!(answer, Err(CommitError::Storage(_))), "{answer:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_outcome_arrives_only_after_the_commit() {
        let store = Arc::new(HeldStore::new(Ending::Commits));
        let committer = start(&store);
        let submitted = item();
        let id = submitted.item_id;
        let submit = tokio::spawn(async move { committer.commit(submitted).await });
        store.wait_for_writes(1).await;
        HeldStore::let_others_run().await;
        assert!(!submit.is_finished(), "answered before the commit ended");
        store.release();
        match submit.await.unwrap() {
            Ok(CommitOutcome::Stored(receipt)) => assert_eq!(receipt.item_id, id),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_queued_behind_a_failing_commit_wait_for_their_own_and_fail_with_it() {
        let store = Arc::new(HeldStore::new(Ending::Fails));
        let committer = start(&store);
        let first = tokio::spawn({
            let committer = committer.clone();
            async move { committer.commit(item()).await }
        });
        store.wait_for_writes(1).await;
        // These queue while the first transaction is held open.
        let queued: Vec<_> = (0..5)
            .map(|_| {
                let committer = committer.clone();
                tokio::spawn(async move { committer.commit(item()).await })
            })
            .collect();
        HeldStore::let_others_run().await;
        store.release();
        assert!(matches!(first.await.unwrap(), Err(CommitError::Storage(_))));
        // The queued ones are now in a transaction of their own, still held.
        store.wait_for_writes(2).await;
        HeldStore::let_others_run().await;
        assert!(queued.iter().all(|task| !task.is_finished()));
        for _ in 0..queued.len() {
            store.release();
        }
        for task in queued {
            assert!(matches!(task.await.unwrap(), Err(CommitError::Storage(_))));
        }
    }
}
