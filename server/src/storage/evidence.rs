//! Photo evidence as stored: the photo rows, unfinished uploads, thumbnails.
//! (The bytes live in the blob store, `crate::evidence`.)

use async_trait::async_trait;
use uuid::Uuid;

use super::{StorageError, StoredReceipt};

/// Photos, unfinished uploads and thumbnails.
#[async_trait]
pub trait EvidenceStore: Send + Sync + 'static {
    /// Reads a stored photo.
    async fn photo(&self, evidence_id: Uuid) -> Result<Option<StoredPhoto>, StorageError>;

    /// Reads a device's unfinished upload of an evidence id.
    async fn partial_upload(
        &self,
        device_id: &str,
        evidence_id: Uuid,
    ) -> Result<Option<PartialUpload>, StorageError>;

    /// Records a new unfinished upload (replacing any with the same key).
    async fn put_partial_upload(&self, upload: &PartialUpload) -> Result<(), StorageError>;

    /// Moves an unfinished upload's durable offset.
    async fn set_partial_offset(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        durable_offset: u64,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Forgets an unfinished upload.
    async fn delete_partial_upload(&self, device_id: &str, evidence_id: Uuid) -> Result<(), StorageError>;

    /// Declared bytes of a device's unfinished uploads.
    async fn partial_bytes_for_device(&self, device_id: &str) -> Result<u64, StorageError>;

    /// Unfinished uploads with no progress since `updated_before_ms`.
    async fn stale_partial_uploads(&self, updated_before_ms: i64)
        -> Result<Vec<PartialUpload>, StorageError>;

    /// How a record and photos point at each other.
    async fn record_links(&self, record_id: Uuid) -> Result<RecordLinks, StorageError>;

    /// Records a photo's thumbnail (stored in the blob store).
    async fn insert_thumbnail(
        &self,
        evidence_id: Uuid,
        sha256: &[u8; 32],
        width: u32,
        height: u32,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// A photo's thumbnail blob, if made.
    async fn thumbnail(&self, evidence_id: Uuid) -> Result<Option<[u8; 32]>, StorageError>;

    /// Takes up to `limit` queued media jobs whose lease ran out (oldest
    /// first) under a lease until `now_ms + lease_ms`: no other worker, on
    /// any node, takes them meanwhile.
    async fn claim_media_jobs(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StorageError>;

    /// The job is done (or given up): it leaves the queue.
    async fn finish_media_job(&self, item_id: Uuid) -> Result<(), StorageError>;

    /// The job failed for now: it may be taken again from `retry_at_ms`.
    async fn release_media_job(&self, item_id: Uuid, retry_at_ms: i64) -> Result<(), StorageError>;

    /// Jobs in the queue.
    async fn media_jobs_pending(&self) -> Result<u64, StorageError>;

    /// Appends what post-processing found about an item (once per finding).
    async fn add_media_finding(
        &self,
        item_id: Uuid,
        finding: &str,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), StorageError>;

    /// What post-processing found about an item, oldest first.
    async fn media_findings(&self, item_id: Uuid) -> Result<Vec<MediaFinding>, StorageError>;

    /// Whether any photo or thumbnail references the blob.
    async fn blob_is_referenced(&self, sha256: &[u8; 32]) -> Result<bool, StorageError>;

    /// Leases the blob for `holder` until `until_ms` (durably, before the
    /// holder relies on the blob being there); taking it again extends it.
    async fn take_blob_lease(
        &self,
        sha256: &[u8; 32],
        holder: &str,
        until_ms: i64,
    ) -> Result<(), StorageError>;

    /// The holder is done with the blob (it is referenced now, or not wanted).
    async fn release_blob_lease(&self, sha256: &[u8; 32], holder: &str) -> Result<(), StorageError>;

    /// Takes (or renews) the lease on receiving an upload for `holder`
    /// ("node/stream") until `until_ms`: granted when it is free, expired,
    /// or held by a stream of the same node (`node_prefix`, "node/").
    /// False when another node's stream holds it.
    async fn take_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
        node_prefix: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StorageError>;

    /// Renews a lease `holder` still holds; false when it holds it no more.
    async fn renew_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
        until_ms: i64,
    ) -> Result<bool, StorageError>;

    /// Lets the lease go, if `holder` still holds it.
    async fn release_upload_lease(
        &self,
        device_id: &str,
        evidence_id: Uuid,
        holder: &str,
    ) -> Result<(), StorageError>;

    /// Whether the blob is referenced or leased at `now_ms`: the janitor
    /// removes neither. Expired leases are dropped on the way.
    async fn blob_is_wanted(&self, sha256: &[u8; 32], now_ms: i64) -> Result<bool, StorageError>;
}

/// A queued media job, as taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaJob {
    /// The item.
    pub item_id: Uuid,
    /// Times taken, this one included.
    pub attempts: u64,
}

/// One thing post-processing found about an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFinding {
    /// What: `undecodable`, `post_processing_failed`.
    pub finding: String,
    /// For a person.
    pub detail: String,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
}

/// Queryable facts of a stored photo.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoIndex {
    /// The record it belongs to.
    pub record_id: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SM3 of the bytes.
    pub sm3: [u8; 32],
    /// MIME type.
    pub content_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Declared capture time.
    pub captured_at_ms: i64,
    /// Declared capture position.
    pub position: Option<(f64, f64)>,
    /// EXIF capture time.
    pub exif_time_ms: Option<i64>,
    /// EXIF position.
    pub exif_position: Option<(f64, f64)>,
    /// Review flags (`EvidenceFlag` values).
    pub flags: Vec<i32>,
    /// Video and audio: playing time from the container.
    pub duration_ms: Option<u64>,
    /// Video and audio: codecs, comma-separated (`avc1,mp4a`, `pcm`, `mp3`).
    pub codecs: Option<String>,
    /// Video and audio: the container's creation time (ISO-BMFF `mvhd`).
    pub container_time_ms: Option<i64>,
}

/// A stored photo, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPhoto {
    /// Receipt facts (sha256 = the photo's SHA-256).
    pub receipt: StoredReceipt,
    /// Uploading device.
    pub device_id: String,
    /// Uploading officer.
    pub officer_id: String,
    /// The photo's columns.
    pub index: PhotoIndex,
}

/// An unfinished upload's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialUpload {
    /// Evidence id.
    pub evidence_id: Uuid,
    /// Uploading device.
    pub device_id: String,
    /// Uploading officer.
    pub officer_id: String,
    /// The declared SHA-256 of the whole photo.
    pub header_sha256: [u8; 32],
    /// The declared size.
    pub size_bytes: u64,
    /// Bytes held durably.
    pub durable_offset: u64,
    /// When the upload began.
    pub created_at_ms: i64,
    /// When bytes last became durable.
    pub updated_at_ms: i64,
}

/// How a record and photos point at each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordLinks {
    /// (device, officer) that stored the record, if stored.
    pub creator: Option<(String, String)>,
    /// Photo ids the record lists.
    pub listed: Vec<String>,
    /// Stored photos naming the record: (photo id, device, officer).
    pub naming: Vec<(String, String, String)>,
}
