//! Group commit for feed cursors: the acknowledgements of many terminals
//! share one durable transaction.
//!
//! A team assignment reaches every member's terminal at once, and each
//! acknowledges it at once: one fsync'd write per terminal would queue
//! thousands of commits in front of the next dispatch. Each feed still waits
//! until its cursor is durable (a feed opened afterwards starts after it);
//! the writer takes whatever is queued and stores it in one transaction.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{AssignmentStore, FeedCursor};

/// Cursors queued before acknowledging feeds wait (backpressure).
const QUEUE_CURSORS_MAX: usize = 16_384;
/// Cursors in one transaction at most.
const BATCH_CURSORS_MAX: usize = 4_096;

struct Job {
    cursor: FeedCursor,
    respond: oneshot::Sender<Result<(), String>>,
}

/// Submits cursors to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct CursorCommitter {
    queue: mpsc::Sender<Job>,
}

impl CursorCommitter {
    /// Starts the writer task; it ends once every clone is dropped.
    pub fn start(storage: Arc<dyn AssignmentStore>, clock: fn() -> i64) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CURSORS_MAX);
        tokio::spawn(run_writer(storage, receiver, clock));
        Self { queue }
    }

    /// Stores `cursor` durably (never moving it backwards).
    pub async fn store(&self, cursor: FeedCursor) -> Result<(), String> {
        let (respond, stored) = oneshot::channel();
        self.queue
            .send(Job { cursor, respond })
            .await
            .map_err(|_| "the cursor writer has stopped".to_owned())?;
        stored
            .await
            .map_err(|_| "the cursor writer has stopped".to_owned())?
    }
}

async fn run_writer(
    storage: Arc<dyn AssignmentStore>,
    mut receiver: mpsc::Receiver<Job>,
    clock: fn() -> i64,
) {
    let mut jobs = Vec::with_capacity(BATCH_CURSORS_MAX);
    while receiver.recv_many(&mut jobs, BATCH_CURSORS_MAX).await > 0 {
        let cursors: Vec<FeedCursor> = jobs.iter().map(|job| job.cursor.clone()).collect();
        let result = storage
            .store_feed_cursors(&cursors, clock())
            .await
            .map_err(|error| error.to_string());
        if let Err(error) = &result {
            tracing::warn!(%error, cursors = cursors.len(), "feed cursors not stored");
        }
        for job in jobs.drain(..) {
            let _ = job.respond.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    #[tokio::test]
    async fn concurrent_acknowledgements_share_transactions_and_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn AssignmentStore> =
            Arc::new(SqliteStorage::open(&dir.path().join("db.sqlite")).await.unwrap());
        let committer = CursorCommitter::start(storage.clone(), || 1);
        let mut tasks = Vec::new();
        for terminal in 0..300u64 {
            let committer = committer.clone();
            tasks.push(tokio::spawn(async move {
                committer
                    .store(FeedCursor {
                        officer_id: format!("officer-{terminal}"),
                        device_id: "device-001".into(),
                        cursor: terminal + 10,
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        for terminal in [0u64, 150, 299] {
            let stored = storage
                .feed_cursor(&format!("officer-{terminal}"), "device-001")
                .await
                .unwrap();
            assert_eq!(stored, terminal + 10);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acknowledgement_waits_for_its_cursor_and_a_failure_reaches_it() {
        use crate::storage::held_store::{Ending, HeldStore};
        let store = Arc::new(HeldStore::new(Ending::Fails));
        let committer = CursorCommitter::start(store.clone(), || 1);
        let stored = tokio::spawn(async move {
            committer
                .store(FeedCursor {
                    officer_id: "officer-01".into(),
                    device_id: "device-001".into(),
                    cursor: 5,
                })
                .await
        });
        store.wait_for_writes(1).await;
        HeldStore::let_others_run().await;
        assert!(
            !stored.is_finished(),
            "acknowledged before the cursor was durable"
        );
        store.release();
        assert!(stored.await.unwrap().is_err());
    }
}
