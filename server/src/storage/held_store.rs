//! A storage double for the commit writers' tests: every write blocks until
//! the test releases it, then succeeds or fails as the test chose. With it a
//! test can see that a submitter is still waiting while its transaction is
//! open, and that a failed transaction never turns into a receipt.

use async_trait::async_trait;
use tokio::sync::{watch, Semaphore};
use uuid::Uuid;

use super::{
    AssignmentCommit, AssignmentFilter, AssignmentStore, CaseItemRow, CommitOutcome, FeedCursor, ItemStore,
    ItemSummary, NewAssignmentEvent, NewItem, RecordedEvent, ServiceHistory, StorageError, StoredAssignment,
    StoredItem, StoredReceipt,
};

/// How a released write ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The transaction commits.
    Commits,
    /// The transaction fails; nothing is stored.
    Fails,
}

/// Writes wait for [`HeldStore::release`]; reads answer "nothing stored".
pub struct HeldStore {
    ending: Ending,
    entered: watch::Sender<usize>,
    released: Semaphore,
}

impl HeldStore {
    /// A store whose writes end as `ending` once released.
    pub fn new(ending: Ending) -> Self {
        Self {
            ending,
            entered: watch::Sender::new(0),
            released: Semaphore::new(0),
        }
    }

    /// Waits until `count` writes have begun (and are blocked).
    pub async fn wait_for_writes(&self, count: usize) {
        let mut entered = self.entered.subscribe();
        entered
            .wait_for(|&n| n >= count)
            .await
            .expect("the sender lives in self");
    }

    /// Lets one blocked (or future) write finish.
    pub fn release(&self) {
        self.released.add_permits(1);
    }

    /// Gives an answer sent too early every chance to arrive before the
    /// test looks (other tasks run; no claim about how long anything takes).
    pub async fn let_others_run() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    async fn hold(&self) -> Result<(), StorageError> {
        self.entered.send_modify(|n| *n += 1);
        let permit = self.released.acquire().await.expect("never closed");
        permit.forget();
        match self.ending {
            Ending::Commits => Ok(()),
            Ending::Fails => Err(StorageError::Unsafe("injected failure".into())),
        }
    }
}

#[async_trait]
impl ItemStore for HeldStore {
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError> {
        self.hold().await?;
        Ok(items
            .iter()
            .zip(1..)
            .map(|(item, seq)| {
                CommitOutcome::Stored(StoredReceipt {
                    item_id: item.item_id,
                    server_seq: seq,
                    received_at_ms: now_ms,
                    sha256: item.sha256,
                    leaf: None,
                })
            })
            .collect())
    }

    async fn item(&self, _item_id: Uuid) -> Result<Option<StoredItem>, StorageError> {
        Ok(None)
    }

    async fn item_count(&self) -> Result<u64, StorageError> {
        Ok(0)
    }

    async fn case_opener(&self, _case_id: &str) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    async fn service_history(&self, _service_id: Uuid) -> Result<Option<ServiceHistory>, StorageError> {
        Ok(None)
    }

    async fn case_items(
        &self,
        _case_id: &str,
        _page: &super::CasePage,
    ) -> Result<Vec<CaseItemRow>, StorageError> {
        Ok(Vec::new())
    }

    async fn case_summaries(
        &self,
        _filter: &super::CaseFilter,
    ) -> Result<Vec<super::CaseSummary>, StorageError> {
        Ok(Vec::new())
    }

    async fn recent_items(
        &self,
        _before_seq: Option<u64>,
        _limit: u32,
    ) -> Result<Vec<ItemSummary>, StorageError> {
        Ok(Vec::new())
    }

    async fn last_positions(&self) -> Result<Vec<(String, f64, f64, i64)>, StorageError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl AssignmentStore for HeldStore {
    async fn assignment(&self, _assignment_id: Uuid) -> Result<Option<StoredAssignment>, StorageError> {
        Ok(None)
    }

    async fn assignment_event_by_id(&self, _event_id: Uuid) -> Result<Option<RecordedEvent>, StorageError> {
        Ok(None)
    }

    async fn commit_assignment_events(
        &self,
        events: &[(Option<u64>, &NewAssignmentEvent)],
    ) -> Result<Vec<AssignmentCommit>, StorageError> {
        self.hold().await?;
        Ok((1..=events.len() as u64)
            .map(|seq| AssignmentCommit::Committed { seq })
            .collect())
    }

    async fn feed_events(
        &self,
        _officer_id: Option<&str>,
        _after_seq: u64,
        _limit: u32,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        Ok(Vec::new())
    }

    async fn feed_cursor(&self, _officer_id: &str, _device_id: &str) -> Result<u64, StorageError> {
        Ok(0)
    }

    async fn store_feed_cursors(&self, _cursors: &[FeedCursor], _now_ms: i64) -> Result<(), StorageError> {
        self.hold().await
    }

    async fn list_assignments(
        &self,
        _filter: &AssignmentFilter,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        Ok(Vec::new())
    }

    async fn overdue_assignments(&self, _now_ms: i64) -> Result<Vec<StoredAssignment>, StorageError> {
        Ok(Vec::new())
    }

    async fn unaccepted_team_assignments(
        &self,
        _before_ms: i64,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        Ok(Vec::new())
    }

    async fn latest_assignment_seq(&self) -> Result<u64, StorageError> {
        Ok(0)
    }

    async fn assignment_history(
        &self,
        _assignment_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        Ok(Vec::new())
    }

    async fn events_with_audience(
        &self,
        _after_seq: u64,
        _limit: u32,
    ) -> Result<Vec<(fieldlink_protocol::pb::AssignmentEvent, Vec<String>)>, StorageError> {
        Ok(Vec::new())
    }
}
