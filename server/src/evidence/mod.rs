//! Photo evidence: where photos are stored and how they are checked.
//!
//! - [`blob_store`]: the content-addressed store of original bytes (and thumbnails).
//! - [`partial`]: unfinished uploads on disk, and the writer that hashes
//!   (SHA-256 and SM3) while it writes, off the network tasks.
//! - [`image_check`]: magic bytes, header dimensions against the limits,
//!   structure (JPEG segments, PNG chunk CRCs), trailing bytes; no decode.
//! - [`exif_check`]: EXIF capture time and GPS against what the terminal declared.
//! - [`thumbnail`]: the supervisor's thumbnail, made after the receipt.
//! - [`media_worker`]: the durable post-processing queue (decode, thumbnail)
//!   under one decode memory budget.
//! - [`upload_plan`]: where an upload stream may start (resume, fresh, refused);
//!   [`upload_model`] checks it and the writer against a model.
//! - [`upload_slots`]: one active stream per (device, evidence id);
//!   [`upload_lease`]: and one node at a time, across nodes.
//! - [`janitor`]: discards expired partial uploads and orphan blobs.

pub mod blob_store;
pub mod bulk_thread;
pub mod exif_check;
pub mod faults;
pub mod image_check;
pub mod janitor;
pub mod media_worker;
pub mod object_blobs;
pub mod partial;
pub mod thumbnail;
pub mod upload_lease;
pub mod upload_model;
pub mod upload_plan;
pub mod upload_slots;

use std::path::Path;
use std::sync::Arc;

/// Uploads checked at once before their receipts.
const CHECKS_AT_ONCE: usize = 4;

/// The evidence store as the services use it.
pub struct Evidence {
    /// Original photos and thumbnails, by SHA-256.
    pub blobs: blob_store::BlobStore,
    /// Unfinished uploads.
    pub partials: partial::PartialFiles,
    /// Active upload streams.
    pub slots: upload_slots::UploadSlots,
    /// Bounds how many uploads are checked at once before their receipts
    /// (each check reads its file, up to the photo size limit).
    pub check_permits: Arc<tokio::sync::Semaphore>,
    /// Wakes the media worker when a photo was stored.
    pub media_wake: Arc<tokio::sync::Notify>,
    /// Injected faults (tests only).
    pub faults: faults::Faults,
}

impl Evidence {
    /// Opens (creating) the store under `root`; with `s3`, blobs go to that
    /// object store and `root` keeps partial uploads and temporary files.
    pub fn open(root: &Path, s3: Option<&object_blobs::S3Location>) -> std::io::Result<Self> {
        let faults = faults::Faults::default();
        let mut blobs = blob_store::BlobStore::open(&root.join("blobs"))?.with_faults(faults.clone());
        if let Some(location) = s3 {
            blobs = blobs.in_object_store(object_blobs::ObjectBlobs::open(location)?);
        }
        Ok(Self {
            blobs,
            partials: partial::PartialFiles::open(&root.join("partial"))?,
            slots: upload_slots::UploadSlots::default(),
            check_permits: Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
            media_wake: Arc::new(tokio::sync::Notify::new()),
            faults,
        })
    }
}
