//! The durable outbox: items are stored on the terminal first and sent when
//! a connection allows, so an officer can work offline for hours and an app
//! killed at any moment loses nothing.
//!
//! Modelled on matrix-rust-sdk's send queue: every item has a
//! client-generated id, the exact bytes to send are stored once (a resend is
//! byte-identical, so the server answers it with the original receipt), and
//! every failure is classed as retryable (kept, retried with backoff and
//! jitter) or permanent (parked for a person to fix or drop).
//!
//! ```no_run
//! # async fn demo(client: fieldlink_client::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use fieldlink_client::outbox::{Outbox, OutboxConfig};
//! let outbox = Outbox::open(OutboxConfig::new("terminal-outbox.sqlite")).await?;
//! let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
//! let id = outbox.enqueue_inspection(&record).await?; // durable on the terminal now
//! let mut updates = outbox.subscribe();
//! let sync = outbox.start_sync(client); // drains whenever the server is reachable
//! while let Some(Ok(update)) = updates.next().await {
//!     println!("{}: {:?}", update.item_id, update.state);
//! }
//! sync.stop().await;
//! # let _ = id; Ok(()) }
//! ```

mod store;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fieldlink_protocol::frame;
use fieldlink_protocol::pb::{self, request::Body, AssignmentEventKind};
use prost::Message;
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

pub use store::StoreError;
pub use sync::SyncHandle;

use crate::photo::PhotoUpload;
use crate::reference::CatalogueCopy;
use store::Store;

/// Outbox settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// The outbox database file (photos are kept in a folder beside it).
    pub path: PathBuf,
    /// Most items waiting to be sent.
    pub items_max: u64,
    /// Most bytes waiting to be sent (photos dominate).
    pub bytes_max: u64,
    /// Items sent at once.
    pub concurrency: usize,
    /// Attempts per item before it is parked as failed.
    pub attempts_max: u32,
    /// Wait before the second attempt; doubles each time, with jitter.
    pub backoff_initial: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// Signs each item's capture statement when it is enqueued — at
    /// capture time, before it waits offline (docs/protocol.md §10b).
    /// Without it, items are signed when they are sent.
    pub capture: Option<crate::capture::CaptureIdentity>,
    /// How long a photo's (video's, …) local copy is kept after its
    /// receipt. Records are always kept. If the server's database is then
    /// restored from a backup older than the receipt (a new database
    /// epoch), everything still kept is sent again — set this to at least
    /// the agency's backup interval to make such a restore lose nothing.
    /// Zero (the default): a copy goes as soon as its receipt is recorded.
    pub keep_sent_media: Duration,
}

impl OutboxConfig {
    /// Defaults: 10,000 items, 2 GiB, 4 at once, 100 attempts, backoff 1 s
    /// … 5 min, sent media not kept.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            items_max: 10_000,
            bytes_max: 2 * 1024 * 1024 * 1024,
            concurrency: 4,
            attempts_max: 100,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            capture: None,
            keep_sent_media: Duration::ZERO,
        }
    }

    /// Signs items at enqueue time with the device key `key_pem`, as
    /// `officer_id` on `device_id`.
    pub fn signing_as(
        mut self,
        key_pem: &[u8],
        officer_id: &str,
        device_id: &str,
    ) -> Result<Self, crate::Error> {
        self.capture = Some(crate::capture::CaptureIdentity {
            signer: crate::capture::DeviceSigner::from_pem(key_pem)?,
            officer_id: officer_id.to_owned(),
            device_id: device_id.to_owned(),
        });
        Ok(self)
    }
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// An inspection record.
    Inspection,
    /// A photo.
    Photo,
    /// An electronic-service confirmation.
    Service,
    /// A service event.
    ServiceEvent,
    /// Remote-interview metadata.
    Interview,
    /// An assignment lifecycle step. Sent only after every item enqueued
    /// before it has settled (a completion follows its records).
    AssignmentUpdate,
}

/// Where an item is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ItemState {
    /// Stored on the terminal, waiting its turn.
    Queued,
    /// Its turn came; the SDK is connecting to the server (up to the
    /// connect timeout). Offline, an item goes from here to
    /// `FailedRetryable` with [`crate::Error::Unreachable`], never through
    /// `Sending`.
    Waiting,
    /// Being sent on a live connection; for photos, how many bytes are out.
    Sending {
        /// Bytes sent (photos) or 0.
        bytes_sent: u64,
    },
    /// Durably stored by the server.
    Acknowledged {
        /// The server's sequence number.
        server_seq: u64,
        /// SHA-256 of what the server stored (shown and serialized as hex).
        sha256: fieldlink_protocol::Digest,
    },
    /// Failed for now; tried again at `next_attempt_at_ms`.
    FailedRetryable {
        /// The last error.
        error: String,
        /// When the next attempt is due (ms since the Unix epoch).
        next_attempt_at_ms: i64,
    },
    /// Refused for good (the server's typed error); parked until a person
    /// drops it. Items after it are not held up.
    FailedPermanent {
        /// The refusal.
        error: String,
    },
}

/// An item as the outbox holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxItem {
    /// The item's id (its UUIDv7; for assignment steps the update id).
    pub id: String,
    /// What it is.
    pub kind: ItemKind,
    /// Position in enqueue order.
    pub position: u64,
    /// Attempts so far.
    pub attempts: u32,
    /// Where it is.
    pub state: ItemState,
}

/// A change of an item's state, for subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxUpdate {
    /// The item.
    pub item_id: String,
    /// Its new state.
    pub state: ItemState,
}

/// Updates kept for a slow subscriber before it is told it lagged.
const UPDATES_BUFFERED: usize = 1024;

/// The outbox's state changes, from [`Outbox::subscribe`].
///
/// ```no_run
/// # async fn demo(outbox: fieldlink_client::outbox::Outbox) {
/// let mut updates = outbox.subscribe();
/// while let Some(update) = updates.next().await {
///     match update {
///         Ok(update) => println!("{} → {:?}", update.item_id, update.state),
///         // Missed some: the current states are in `outbox.items()`.
///         Err(lagged) => println!("missed {} updates", lagged.missed),
///     }
/// }
/// # }
/// ```
pub struct OutboxUpdates(broadcast::Receiver<OutboxUpdate>);

/// A subscriber fell behind and missed `missed` updates; it goes on with
/// the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missed {missed} outbox updates (read Outbox::items for the current states)")]
pub struct UpdatesLagged {
    /// How many updates were dropped.
    pub missed: u64,
}

impl OutboxUpdates {
    /// The next update; `Err` once after falling behind; `None` when the
    /// outbox is gone. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Option<Result<OutboxUpdate, UpdatesLagged>> {
        match self.0.recv().await {
            Ok(update) => Some(Ok(update)),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(Err(UpdatesLagged { missed })),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next update if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Result<OutboxUpdate, UpdatesLagged>> {
        match self.0.try_recv() {
            Ok(update) => Some(Ok(update)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => Some(Err(UpdatesLagged { missed })),
            Err(_) => None,
        }
    }
}

/// Why the outbox refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox holds as many items or bytes as it may. Send some first.
    #[error("the outbox is full: {items} items and {bytes} bytes waiting (limits {items_max} items, {bytes_max} bytes)")]
    Full {
        /// Items waiting.
        items: u64,
        /// Bytes waiting.
        bytes: u64,
        /// The item limit.
        items_max: u64,
        /// The byte limit.
        bytes_max: u64,
    },
    /// The item breaks a rule of the protocol; it was not stored.
    #[error("invalid item: {0}")]
    Invalid(#[from] fieldlink_protocol::FieldError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The capture statement could not be signed; the item was not stored.
    #[error("cannot sign the capture: {0}")]
    Signing(String),
}

/// What [`Outbox::refresh_reference`] fetched anew.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferenceRefresh {
    /// The catalogue was fetched and kept.
    pub catalogue: bool,
    /// The roster was fetched and kept.
    pub roster: bool,
}

/// The kinds of reference data kept.
const CATALOGUE: &str = "catalogue";
const ROSTER: &str = "roster";

/// The outbox. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: OutboxConfig,
    store: Store,
    photos_dir: PathBuf,
    wake: Notify,
    updates: broadcast::Sender<OutboxUpdate>,
}

impl Outbox {
    /// Opens (creating) the outbox at `config.path`. Items left `sending` by a
    /// killed app are queued again: a resend is always safe.
    pub async fn open(config: OutboxConfig) -> Result<Self, OutboxError> {
        let photos_dir = photos_dir_for(&config.path);
        std::fs::create_dir_all(&photos_dir).map_err(StoreError::Io)?;
        let store = Store::open(&config.path).await?;
        store.requeue_interrupted().await?;
        let (updates, _) = broadcast::channel(UPDATES_BUFFERED);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                photos_dir,
                wake: Notify::new(),
                updates,
            }),
        })
    }

    /// Checks an inspection record as the server will
    /// ([`crate::items::check_inspection`]; [`OutboxError::Invalid`] names
    /// the field, and nothing is stored), stores it for sending; returns its id.
    pub async fn enqueue_inspection(&self, record: &pb::InspectionRecord) -> Result<String, OutboxError> {
        crate::items::check_inspection(record)?;
        // Against the reference data kept, when there is some (the server
        // checks again; this catches it before the officer leaves the site).
        if let Some(catalogue) = self.catalogue().await? {
            catalogue.check_inspection(record)?;
        }
        if let Some(roster) = self.roster().await? {
            crate::reference::check_roster(&roster, record)?;
        }
        let id = fieldlink_protocol::validate::item_id("id", &record.id)?;
        self.enqueue_frame(id, ItemKind::Inspection, Body::SubmitInspection(record.clone()))
            .await
    }

    /// The catalogue kept offline, if one was fetched.
    pub async fn catalogue(&self) -> Result<Option<CatalogueCopy>, OutboxError> {
        match self.inner.store.reference(CATALOGUE).await? {
            Some((_, body)) => pb::Catalogue::decode(body.as_slice())
                .map(|message| Some(CatalogueCopy::from_message(message)))
                .map_err(|e| StoreError::Corrupt(format!("the kept catalogue: {e}")).into()),
            None => Ok(None),
        }
    }

    /// The roster kept offline, if one was fetched.
    pub async fn roster(&self) -> Result<Option<pb::Roster>, OutboxError> {
        match self.inner.store.reference(ROSTER).await? {
            Some((_, body)) => pb::Roster::decode(body.as_slice())
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("the kept roster: {e}")).into()),
            None => Ok(None),
        }
    }

    /// Fetches the catalogue and the roster when the server's revisions
    /// (its Welcome) differ from those kept, and keeps them durably. The
    /// sync loop calls this on each new session; call it yourself after
    /// signing in to have them before the first record.
    pub async fn refresh_reference(&self, client: &crate::Client) -> Result<ReferenceRefresh, crate::Error> {
        let store_error = |e: StoreError| crate::Error::Protocol(format!("outbox: {e}"));
        let welcome = client.welcome().await;
        let kept_revision = |kind| async move {
            self.inner
                .store
                .reference(kind)
                .await
                .map(|kept| kept.map(|(revision, _)| revision).unwrap_or_default())
        };
        let mut refreshed = ReferenceRefresh::default();
        let held = kept_revision(CATALOGUE).await.map_err(store_error)?;
        let current = welcome.as_ref().map(|w| w.catalogue_revision.as_str());
        if held.is_empty() || current != Some(held.as_str()) {
            if let Some(copy) = client.catalogue(&held).await? {
                self.inner
                    .store
                    .put_reference(CATALOGUE, &copy.revision, &copy.to_message().encode_to_vec())
                    .await
                    .map_err(store_error)?;
                refreshed.catalogue = true;
            }
        }
        let held = kept_revision(ROSTER).await.map_err(store_error)?;
        let current = welcome.as_ref().map(|w| w.roster_revision.as_str());
        if held.is_empty() || current != Some(held.as_str()) {
            if let Some(roster) = client.roster(&held).await? {
                self.inner
                    .store
                    .put_reference(ROSTER, &roster.revision, &roster.encode_to_vec())
                    .await
                    .map_err(store_error)?;
                refreshed.roster = true;
            }
        }
        Ok(refreshed)
    }

    /// Stores a service confirmation for sending; returns its id.
    pub async fn enqueue_service(&self, service: &pb::ServiceConfirmation) -> Result<String, OutboxError> {
        crate::items::check_service(service)?;
        let id = fieldlink_protocol::validate::item_id("id", &service.id)?;
        self.enqueue_frame(id, ItemKind::Service, Body::SubmitService(service.clone()))
            .await
    }

    /// Stores a service event for sending; returns its id.
    pub async fn enqueue_service_event(&self, event: &pb::ServiceEvent) -> Result<String, OutboxError> {
        crate::items::check_service_event(event)?;
        let id = fieldlink_protocol::validate::item_id("id", &event.id)?;
        self.enqueue_frame(
            id,
            ItemKind::ServiceEvent,
            Body::SubmitServiceEvent(event.clone()),
        )
        .await
    }

    /// Stores interview metadata for sending; returns its id.
    pub async fn enqueue_interview(&self, interview: &pb::InterviewRecord) -> Result<String, OutboxError> {
        crate::items::check_interview(interview)?;
        let id = fieldlink_protocol::validate::item_id("id", &interview.id)?;
        self.enqueue_frame(id, ItemKind::Interview, Body::SubmitInterview(interview.clone()))
            .await
    }

    /// Stores an assignment lifecycle step; it is sent after everything
    /// enqueued before it. Returns the update id.
    pub async fn enqueue_assignment_update(
        &self,
        assignment_id: &str,
        transition: AssignmentEventKind,
        reason: &str,
        record_ids: &[String],
    ) -> Result<String, OutboxError> {
        let update = pb::UpdateAssignment {
            update_id: Uuid::now_v7().to_string(),
            assignment_id: assignment_id.to_owned(),
            transition: transition as i32,
            reason: reason.to_owned(),
            record_ids: record_ids.to_vec(),
        };
        fieldlink_protocol::assignment::Update::parse(update.clone())?;
        let id = Uuid::parse_str(&update.update_id)
            .map_err(|_| fieldlink_protocol::FieldError::new("update_id", "not a UUID"))?;
        self.enqueue_frame(id, ItemKind::AssignmentUpdate, Body::UpdateAssignment(update))
            .await
    }

    /// Stores a photo, video, recording or document for sending: its bytes
    /// are copied into the outbox (written — a file a piece at a time —
    /// fsync'd, renamed) before this returns. The local copy is deleted once
    /// the server's receipt matches its digest.
    pub async fn enqueue_photo(&self, photo: &PhotoUpload) -> Result<String, OutboxError> {
        let id = fieldlink_protocol::validate::item_id("evidence_id", photo.evidence_id())?;
        self.check_room(photo.size_bytes()).await?;
        let path = self.inner.photos_dir.join(format!("{id}.photo"));
        let source = photo.source().clone();
        let dir = self.inner.photos_dir.clone();
        tokio::task::spawn_blocking(move || match source {
            crate::photo::Source::Memory(bytes) => write_durably(&dir, &path, &bytes),
            crate::photo::Source::File { path: from, .. } => copy_durably(&dir, &from, &path),
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
        .map_err(StoreError::Io)?;
        let header = photo.header(0).encode_to_vec();
        let capture = match &self.inner.config.capture {
            Some(identity) => Some(
                identity
                    .sign(&crate::capture::Captured {
                        kind: fieldlink_protocol::log::LeafKind::Photo,
                        item_id: photo.evidence_id(),
                        bytes: photo.bytes().map_or(&[][..], |bytes| bytes.as_ref()),
                        digests: photo.digests(),
                        captured_at_ms: photo.captured_at_ms(),
                        place: photo.place(),
                    })
                    .map_err(|e| OutboxError::Signing(e.to_string()))?
                    .encode_to_vec(),
            ),
            None => None,
        };
        self.inner
            .store
            .insert(
                &id.to_string(),
                ItemKind::Photo,
                &header,
                capture.as_deref(),
                photo.size_bytes(),
            )
            .await?;
        self.queued(id.to_string());
        Ok(id.to_string())
    }

    /// Every item, in enqueue order.
    pub async fn items(&self) -> Result<Vec<OutboxItem>, OutboxError> {
        Ok(self.inner.store.items().await?)
    }

    /// One item.
    pub async fn item(&self, id: &str) -> Result<Option<OutboxItem>, OutboxError> {
        Ok(self.inner.store.item(id).await?)
    }

    /// Drops a parked (failed-permanent) item. Returns whether it was dropped.
    pub async fn drop_parked(&self, id: &str) -> Result<bool, OutboxError> {
        let dropped = self.inner.store.delete_parked(id).await?;
        if dropped {
            let _ = std::fs::remove_file(self.inner.photos_dir.join(format!("{id}.photo")));
        }
        Ok(dropped)
    }

    /// State changes as they happen, from now on. A subscriber that falls
    /// more than 1,024 updates behind is told how many it missed
    /// ([`UpdatesLagged`]) and goes on; read [`Outbox::items`] then.
    pub fn subscribe(&self) -> OutboxUpdates {
        OutboxUpdates(self.inner.updates.subscribe())
    }

    /// Sends every item that is waiting out a retry backoff now, instead of
    /// when its backoff ends (for a "retry now" button). The sync also does
    /// this by itself on [`crate::Client::network_changed`].
    pub async fn retry_now(&self) -> Result<u64, OutboxError> {
        let woken = self.inner.store.retry_now().await?;
        self.inner.wake.notify_one();
        Ok(woken)
    }

    /// Starts draining in the background through `client`: whenever the
    /// server is reachable, until stopped.
    pub fn start_sync(&self, client: crate::Client) -> SyncHandle {
        sync::start(self.clone(), client)
    }

    /// Waits until no item is queued, sending or failed-retryable (every
    /// item acknowledged or parked), or `timeout` passes. Returns whether it settled.
    pub async fn settled(&self, timeout: Duration) -> Result<bool, OutboxError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.inner.store.unsettled_count().await? == 0 {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn enqueue_frame(&self, id: Uuid, kind: ItemKind, body: Body) -> Result<String, OutboxError> {
        let capture = match (&self.inner.config.capture, crate::capture::captured_of(&body)) {
            (Some(identity), Some(captured)) => Some(
                identity
                    .sign(&captured.captured())
                    .map_err(|e| OutboxError::Signing(e.to_string()))?,
            ),
            _ => None,
        };
        let frame = frame::encode(&pb::Request {
            body: Some(body),
            capture,
        });
        self.check_room(frame.len() as u64).await?;
        self.inner
            .store
            .insert(&id.to_string(), kind, &frame, None, frame.len() as u64)
            .await?;
        self.queued(id.to_string());
        Ok(id.to_string())
    }

    async fn check_room(&self, bytes: u64) -> Result<(), OutboxError> {
        let (items, held) = self.inner.store.pending_totals().await?;
        let config = &self.inner.config;
        if items + 1 > config.items_max || held + bytes > config.bytes_max {
            return Err(OutboxError::Full {
                items,
                bytes: held,
                items_max: config.items_max,
                bytes_max: config.bytes_max,
            });
        }
        Ok(())
    }

    fn queued(&self, id: String) {
        self.announce(id, ItemState::Queued);
        self.inner.wake.notify_one();
    }

    fn announce(&self, item_id: String, state: ItemState) {
        let _ = self.inner.updates.send(OutboxUpdate { item_id, state });
    }
}

fn photos_dir_for(path: &Path) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("outbox");
    path.with_file_name(format!("{stem}-photos"))
}

/// Temp file, fsync, rename, fsync the directory: a crash leaves no torn copy.
/// Copies the file `from` to `path` (a piece at a time), fsyncs, renames.
fn copy_durably(dir: &Path, from: &Path, path: &Path) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    let mut source = std::fs::File::open(from)?;
    let mut file = std::fs::File::create(&temp)?;
    std::io::copy(&mut source, &mut file)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item that breaks a rule is refused with the field named, and
    /// nothing is stored.
    #[tokio::test]
    async fn an_invalid_item_is_refused_before_it_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(OutboxConfig::new(dir.path().join("outbox.sqlite")))
            .await
            .unwrap();
        let mut record = fieldlink_protocol::inspection::example_record("officer-01", crate::now_ms());
        record.ended_at_ms = record.started_at_ms - 1;
        match outbox.enqueue_inspection(&record).await {
            Err(OutboxError::Invalid(error)) => assert_eq!(error.field, "ended_at_ms", "{error}"),
            other => panic!("{other:?}"),
        }
        assert!(outbox.items().await.unwrap().is_empty());
        let good = fieldlink_protocol::inspection::example_record("officer-01", crate::now_ms());
        outbox.enqueue_inspection(&good).await.unwrap();
        assert_eq!(outbox.items().await.unwrap().len(), 1);
    }

    /// A subscriber that falls behind is told how many updates it missed,
    /// then goes on with the next one; it does not end.
    #[tokio::test]
    async fn a_lagging_subscriber_is_told_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(OutboxConfig::new(dir.path().join("outbox.sqlite")))
            .await
            .unwrap();
        let mut updates = outbox.subscribe();
        let extra = 5;
        for n in 0..UPDATES_BUFFERED + extra {
            outbox.announce(format!("item-{n}"), ItemState::Queued);
        }
        let lagged = updates.next().await.unwrap().unwrap_err();
        assert_eq!(lagged.missed, extra as u64);
        let next = updates.next().await.unwrap().unwrap();
        assert_eq!(next.item_id, format!("item-{extra}"));
        let mut rest = 0;
        while let Some(update) = updates.try_next() {
            update.unwrap();
            rest += 1;
        }
        assert_eq!(rest, UPDATES_BUFFERED - 1);
        drop(outbox);
        assert!(updates.next().await.is_none(), "ends only with the outbox");
    }
}
