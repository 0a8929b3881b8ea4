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

use super::{CommitOutcome, NewItem, Storage};

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
        storage: Arc<dyn Storage>,
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
    storage: Arc<dyn Storage>,
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
