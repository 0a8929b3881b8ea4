//! The in-memory commit sink: a storage layer that acknowledges every item
//! without writing it, so the ingest scenario can measure the transport and
//! protocol ceiling of the server with the database taken out. Everything
//! else (the directory, session tokens, reads) goes to the real storage
//! underneath. Benchmarks only: nothing committed here survives anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use fieldlink_server::directory::{Officer, Team};
use fieldlink_server::storage::{
    AssignmentCommit, AssignmentFilter, AssignmentStore, CaseItemRow, CommitOutcome, DatabaseEpoch,
    EpochStore, EvidenceStore, FeedCursor, HighWater, IncidentCommit, IncidentFilter, IncidentReport,
    IncidentStore, ItemStore, ItemSummary, JoinRule, LogStore, NewAssignmentEvent, NewItem, PartialUpload,
    PeopleStore, PositionFix, PositionStore, RecordLinks, RecordedEvent, ReportOutcome, ServiceHistory,
    SessionToken, Storage, StorageError, StoredAssignment, StoredCheckpoint, StoredCustody, StoredIncident,
    StoredItem, StoredPhoto, StoredReceipt,
};
use uuid::Uuid;

/// Acknowledges commits in memory; delegates the rest to `inner`.
pub struct CommitSink {
    inner: Arc<dyn Storage>,
    next_seq: AtomicU64,
}

impl CommitSink {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn Storage>) -> Arc<dyn Storage> {
        Arc::new(Self {
            inner,
            next_seq: AtomicU64::new(1),
        })
    }
}

#[async_trait]
impl ItemStore for CommitSink {
    /// Every item is "stored" with the next sequence number (the bench
    /// sends fresh ids only, so no resend or conflict is looked for).
    async fn commit_items(&self, items: &[NewItem], now_ms: i64) -> Result<Vec<CommitOutcome>, StorageError> {
        Ok(items
            .iter()
            .map(|item| {
                CommitOutcome::Stored(StoredReceipt {
                    item_id: item.item_id,
                    server_seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
                    received_at_ms: now_ms,
                    sha256: item.sha256,
                    leaf: None,
                })
            })
            .collect())
    }

    async fn item(&self, item_id: Uuid) -> Result<Option<StoredItem>, StorageError> {
        self.inner.item(item_id).await
    }

    async fn item_count(&self) -> Result<u64, StorageError> {
        self.inner.item_count().await
    }

    async fn case_opener(&self, case_id: &str) -> Result<Option<String>, StorageError> {
        self.inner.case_opener(case_id).await
    }

    async fn service_history(&self, service_id: Uuid) -> Result<Option<ServiceHistory>, StorageError> {
        self.inner.service_history(service_id).await
    }

    async fn case_items(
        &self,
        case_id: &str,
        page: &fieldlink_server::storage::CasePage,
    ) -> Result<Vec<CaseItemRow>, StorageError> {
        self.inner.case_items(case_id, page).await
    }

    async fn case_summaries(
        &self,
        filter: &fieldlink_server::storage::CaseFilter,
    ) -> Result<Vec<fieldlink_server::storage::CaseSummary>, StorageError> {
        self.inner.case_summaries(filter).await
    }

    async fn recent_items(
        &self,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ItemSummary>, StorageError> {
        self.inner.recent_items(before_seq, limit).await
    }

    async fn last_positions(&self) -> Result<Vec<(String, f64, f64, i64)>, StorageError> {
        self.inner.last_positions().await
    }
}

#[async_trait]
impl EvidenceStore for CommitSink {
    async fn take_blob_lease(
        &self,
        sha256: &[u8; 32],
        holder: &str,
        until_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner.take_blob_lease(sha256, holder, until_ms).await
    }

    async fn release_blob_lease(&self, sha256: &[u8; 32], holder: &str) -> Result<(), StorageError> {
        self.inner.release_blob_lease(sha256, holder).await
    }

    async fn blob_is_wanted(&self, sha256: &[u8; 32], now_ms: i64) -> Result<bool, StorageError> {
        self.inner.blob_is_wanted(sha256, now_ms).await
    }

    async fn take_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
        node_prefix: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StorageError> {
        self.inner
            .take_upload_lease(device_id, evidence_id, holder, node_prefix, now_ms, until_ms)
            .await
    }

    async fn renew_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
        until_ms: i64,
    ) -> Result<bool, StorageError> {
        self.inner
            .renew_upload_lease(device_id, evidence_id, holder, until_ms)
            .await
    }

    async fn release_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
    ) -> Result<(), StorageError> {
        self.inner
            .release_upload_lease(device_id, evidence_id, holder)
            .await
    }

    async fn claim_media_jobs(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<fieldlink_server::storage::MediaJob>, StorageError> {
        self.inner.claim_media_jobs(now_ms, lease_ms, limit).await
    }

    async fn finish_media_job(&self, item_id: Uuid) -> Result<(), StorageError> {
        self.inner.finish_media_job(item_id).await
    }

    async fn release_media_job(&self, item_id: Uuid, retry_at_ms: i64) -> Result<(), StorageError> {
        self.inner.release_media_job(item_id, retry_at_ms).await
    }

    async fn media_jobs_pending(&self) -> Result<u64, StorageError> {
        self.inner.media_jobs_pending().await
    }

    async fn add_media_finding(
        &self,
        item_id: Uuid,
        finding: &str,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner
            .add_media_finding(item_id, finding, detail, at_ms)
            .await
    }

    async fn media_findings(
        &self,
        item_id: Uuid,
    ) -> Result<Vec<fieldlink_server::storage::MediaFinding>, StorageError> {
        self.inner.media_findings(item_id).await
    }

    async fn photo(&self, evidence_id: Uuid) -> Result<Option<StoredPhoto>, StorageError> {
        self.inner.photo(evidence_id).await
    }

    async fn partial_upload(
        &self,
        device_id: &str,
        evidence_id: Uuid,
    ) -> Result<Option<PartialUpload>, StorageError> {
        self.inner.partial_upload(device_id, evidence_id).await
    }

    async fn put_partial_upload(&self, upload: &PartialUpload) -> Result<(), StorageError> {
        self.inner.put_partial_upload(upload).await
    }

    async fn set_partial_offset(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        durable_offset: u64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner
            .set_partial_offset(device_id, evidence_id, durable_offset, now_ms)
            .await
    }

    async fn delete_partial_upload(&self, device_id: &str, evidence_id: Uuid) -> Result<(), StorageError> {
        self.inner.delete_partial_upload(device_id, evidence_id).await
    }

    async fn partial_bytes_for_device(&self, device_id: &str) -> Result<u64, StorageError> {
        self.inner.partial_bytes_for_device(device_id).await
    }

    async fn stale_partial_uploads(
        &self,
        updated_before_ms: i64,
    ) -> Result<Vec<PartialUpload>, StorageError> {
        self.inner.stale_partial_uploads(updated_before_ms).await
    }

    async fn record_links(&self, record_id: Uuid) -> Result<RecordLinks, StorageError> {
        self.inner.record_links(record_id).await
    }

    async fn insert_thumbnail(
        &self,
        evidence_id: Uuid,
        sha256: &[u8; 32],
        width: u32,
        height: u32,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner
            .insert_thumbnail(evidence_id, sha256, width, height, now_ms)
            .await
    }

    async fn thumbnail(&self, evidence_id: Uuid) -> Result<Option<[u8; 32]>, StorageError> {
        self.inner.thumbnail(evidence_id).await
    }

    async fn blob_is_referenced(&self, sha256: &[u8; 32]) -> Result<bool, StorageError> {
        self.inner.blob_is_referenced(sha256).await
    }
}

#[async_trait]
impl AssignmentStore for CommitSink {
    async fn assignment(&self, assignment_id: Uuid) -> Result<Option<StoredAssignment>, StorageError> {
        self.inner.assignment(assignment_id).await
    }

    async fn assignment_event_by_id(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StorageError> {
        self.inner.assignment_event_by_id(event_id).await
    }

    async fn commit_assignment_events(
        &self,
        events: &[(Option<u64>, &NewAssignmentEvent)],
    ) -> Result<Vec<AssignmentCommit>, StorageError> {
        self.inner.commit_assignment_events(events).await
    }

    async fn feed_events(
        &self,
        officer_id: Option<&str>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        self.inner.feed_events(officer_id, after_seq, limit).await
    }

    async fn feed_cursor(&self, officer_id: &str, device_id: &str) -> Result<u64, StorageError> {
        self.inner.feed_cursor(officer_id, device_id).await
    }

    async fn store_feed_cursors(&self, cursors: &[FeedCursor], now_ms: i64) -> Result<(), StorageError> {
        self.inner.store_feed_cursors(cursors, now_ms).await
    }

    async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        self.inner.list_assignments(filter).await
    }

    async fn unaccepted_team_assignments(
        &self,
        created_before_ms: i64,
    ) -> Result<Vec<StoredAssignment>, StorageError> {
        self.inner.unaccepted_team_assignments(created_before_ms).await
    }

    async fn overdue_assignments(&self, now_ms: i64) -> Result<Vec<StoredAssignment>, StorageError> {
        self.inner.overdue_assignments(now_ms).await
    }

    async fn latest_assignment_seq(&self) -> Result<u64, StorageError> {
        self.inner.latest_assignment_seq().await
    }

    async fn assignment_history(
        &self,
        assignment_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::AssignmentEvent>, StorageError> {
        self.inner.assignment_history(assignment_id).await
    }

    async fn events_with_audience(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(fieldlink_protocol::pb::AssignmentEvent, Vec<String>)>, StorageError> {
        self.inner.events_with_audience(after_seq, limit).await
    }
}

#[async_trait]
impl PeopleStore for CommitSink {
    async fn upsert_directory(&self, teams: &[Team], officers: &[Officer]) -> Result<(), StorageError> {
        self.inner.upsert_directory(teams, officers).await
    }

    async fn load_directory(&self) -> Result<(Vec<Team>, Vec<Officer>), StorageError> {
        self.inner.load_directory().await
    }

    async fn insert_session_token(
        &self,
        token_sha256: &[u8],
        token: &SessionToken,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner.insert_session_token(token_sha256, token, now_ms).await
    }

    async fn session_token(&self, token_sha256: &[u8]) -> Result<Option<SessionToken>, StorageError> {
        self.inner.session_token(token_sha256).await
    }

    async fn revoke_session_tokens(&self, officer_id: &str, now_ms: i64) -> Result<u64, StorageError> {
        self.inner.revoke_session_tokens(officer_id, now_ms).await
    }

    async fn credentials_recorded_by(
        &self,
        officer_ids: &[String],
        at_ms: i64,
    ) -> Result<Vec<(String, fieldlink_server::storage::CredentialRecord)>, StorageError> {
        self.inner.credentials_recorded_by(officer_ids, at_ms).await
    }

    async fn tokens_revoked_since(&self, since_ms: i64) -> Result<Vec<Vec<u8>>, StorageError> {
        self.inner.tokens_revoked_since(since_ms).await
    }

    async fn disable_officers_not_in(&self, keep: &[String]) -> Result<Vec<String>, StorageError> {
        self.inner.disable_officers_not_in(keep).await
    }

    async fn record_presence(
        &self,
        node_id: &str,
        officers: &[(String, u32, i64)],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner.record_presence(node_id, officers, now_ms).await
    }

    async fn presence(
        &self,
        except_node: &str,
        fresh_after_ms: i64,
    ) -> Result<Vec<(String, u32, i64)>, StorageError> {
        self.inner.presence(except_node, fresh_after_ms).await
    }

    async fn note_device_certificate(
        &self,
        device_id: &str,
        serial_hex: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.inner
            .note_device_certificate(device_id, serial_hex, now_ms)
            .await
    }

    async fn record_revocations(
        &self,
        serials_hex: &[String],
        now_ms: i64,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.record_revocations(serials_hex, now_ms).await
    }

    async fn device_revoked_at(&self, device_id: &str) -> Result<Option<i64>, StorageError> {
        self.inner.device_revoked_at(device_id).await
    }

    async fn devices(&self) -> Result<Vec<fieldlink_server::storage::DeviceRecord>, StorageError> {
        self.inner.devices().await
    }
}

#[async_trait]
impl IncidentStore for CommitSink {
    async fn report_incident(
        &self,
        report: &IncidentReport,
        rule: &JoinRule,
    ) -> Result<ReportOutcome, StorageError> {
        self.inner.report_incident(report, rule).await
    }

    async fn change_incidents(
        &self,
        changes: &[(Option<u64>, &fieldlink_protocol::pb::IncidentEvent)],
    ) -> Result<IncidentCommit, StorageError> {
        self.inner.change_incidents(changes).await
    }

    async fn incident_events_after(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, fieldlink_protocol::pb::IncidentEvent)>, StorageError> {
        self.inner.incident_events_after(after_seq, limit).await
    }

    async fn latest_incident_seq(&self) -> Result<u64, StorageError> {
        self.inner.latest_incident_seq().await
    }

    async fn incident_of_item(&self, item_id: Uuid) -> Result<Option<StoredIncident>, StorageError> {
        self.inner.incident_of_item(item_id).await
    }

    async fn monitor_last_heard(&self, mn: &str, since_ms: i64) -> Result<Option<i64>, StorageError> {
        self.inner.monitor_last_heard(mn, since_ms).await
    }

    async fn grid_reports_of(
        &self,
        officer_id: &str,
        filter: &fieldlink_server::storage::IncidentFilter,
    ) -> Result<Vec<fieldlink_server::storage::GridReportRow>, StorageError> {
        self.inner.grid_reports_of(officer_id, filter).await
    }

    async fn incident(&self, incident_id: Uuid) -> Result<Option<StoredIncident>, StorageError> {
        self.inner.incident(incident_id).await
    }

    async fn incident_history(
        &self,
        incident_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::IncidentEvent>, StorageError> {
        self.inner.incident_history(incident_id).await
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<StoredIncident>, StorageError> {
        self.inner.list_incidents(filter).await
    }

    async fn incident_event(&self, event_id: Uuid) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.inner.incident_event(event_id).await
    }
}

#[async_trait]
impl LogStore for CommitSink {
    async fn log_size(&self) -> Result<u64, StorageError> {
        self.inner.log_size().await
    }

    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StorageError> {
        self.inner.log_hashes(indexes).await
    }

    async fn log_leaf(&self, item_id: Uuid) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.inner.log_leaf(item_id).await
    }

    async fn log_leaves(&self, from_index: u64, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        self.inner.log_leaves(from_index, limit).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        self.inner.latest_checkpoint().await
    }

    async fn checkpoint_at(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StorageError> {
        self.inner.checkpoint_at(tree_size).await
    }

    async fn checkpoints(&self, from_size: u64, limit: u32) -> Result<Vec<StoredCheckpoint>, StorageError> {
        self.inner.checkpoints(from_size, limit).await
    }

    async fn unlogged_ids(&self, limit: u32) -> Result<Vec<Uuid>, StorageError> {
        self.inner.unlogged_ids(limit).await
    }

    async fn store_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError> {
        self.inner.store_checkpoint(checkpoint).await
    }

    async fn append_unlogged(&self, limit: u32) -> Result<u64, StorageError> {
        self.inner.append_unlogged(limit).await
    }

    async fn record_custody(
        &self,
        event: &fieldlink_protocol::pb::CustodyEvent,
    ) -> Result<StoredCustody, StorageError> {
        self.inner.record_custody(event).await
    }

    async fn custody_event(&self, event_id: Uuid) -> Result<Option<StoredCustody>, StorageError> {
        self.inner.custody_event(event_id).await
    }

    async fn item_custody(
        &self,
        item_id: Uuid,
        action: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredCustody>, StorageError> {
        self.inner.item_custody(item_id, action, limit).await
    }

    async fn store_cosignature(&self, tree_size: u64, witness: &str, note: &str) -> Result<(), StorageError> {
        self.inner.store_cosignature(tree_size, witness, note).await
    }

    async fn cosignatures(&self, tree_size: u64) -> Result<Vec<String>, StorageError> {
        self.inner.cosignatures(tree_size).await
    }

    async fn latest_cosigned_size(&self) -> Result<Option<u64>, StorageError> {
        self.inner.latest_cosigned_size().await
    }
}

#[async_trait]
impl PositionStore for CommitSink {
    async fn record_track(&self, points: &[PositionFix]) -> Result<(), StorageError> {
        self.inner.record_track(points).await
    }

    async fn track(
        &self,
        officer_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<PositionFix>, StorageError> {
        self.inner.track(officer_id, from_ms, to_ms, limit).await
    }

    async fn latest_track_points(&self, since_ms: i64) -> Result<Vec<PositionFix>, StorageError> {
        self.inner.latest_track_points(since_ms).await
    }

    async fn prune_track(&self, before_ms: i64) -> Result<u64, StorageError> {
        self.inner.prune_track(before_ms).await
    }
}

#[async_trait]
impl Storage for CommitSink {
    async fn close(&self) {
        self.inner.close().await
    }
}

#[async_trait]
impl fieldlink_server::storage::statistics::StatsStore for CommitSink {
    async fn inspection_counts(
        &self,
        range: fieldlink_server::storage::statistics::TimeRange,
        key: fieldlink_server::storage::statistics::InspectionKey,
    ) -> Result<Vec<fieldlink_server::storage::statistics::InspectionCount>, StorageError> {
        self.inner.inspection_counts(range, key).await
    }

    async fn incident_counts(
        &self,
        range: fieldlink_server::storage::statistics::TimeRange,
    ) -> Result<Vec<fieldlink_server::storage::statistics::IncidentCount>, StorageError> {
        self.inner.incident_counts(range).await
    }

    async fn incident_source_counts(
        &self,
        range: fieldlink_server::storage::statistics::TimeRange,
    ) -> Result<Vec<(String, u64)>, StorageError> {
        self.inner.incident_source_counts(range).await
    }

    async fn assignment_moments(
        &self,
        range: fieldlink_server::storage::statistics::TimeRange,
        limit: u32,
    ) -> Result<Vec<fieldlink_server::storage::statistics::AssignmentMoment>, StorageError> {
        self.inner.assignment_moments(range, limit).await
    }
}

#[async_trait]
impl EpochStore for CommitSink {
    async fn epochs(&self) -> Result<Vec<DatabaseEpoch>, StorageError> {
        self.inner.epochs().await
    }

    async fn high_water(&self) -> Result<HighWater, StorageError> {
        self.inner.high_water().await
    }

    async fn start_epoch(
        &self,
        after: Option<u64>,
        epoch: Uuid,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<DatabaseEpoch>, StorageError> {
        self.inner.start_epoch(after, epoch, reason, now_ms).await
    }
}
