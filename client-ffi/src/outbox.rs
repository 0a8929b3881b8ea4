//! The offline outbox (离线待发): items and files stored on the terminal
//! first, sent in order whenever the server is reachable.

use std::ffi::c_char;
use std::time::Duration;

use fieldlink_client::outbox::{Outbox, OutboxConfig, SyncHandle};
use fieldlink_client::protocol::pb;
use fieldlink_client::PhotoUpload;

use crate::client::{borrow_client, decode, FlClient};
use crate::pointers::{borrow_bytes, borrow_str, hand_out, out_ref, owned_string, take_back};
use crate::runtime::block_on;
use crate::status::{guard, Failure, FlStatus};
use crate::FlItemKind;

/// An open outbox. Created by [`fl_outbox_open`], released by
/// [`fl_outbox_close`]; usable from several threads at once.
pub struct FlOutbox {
    outbox: Outbox,
    sync: std::sync::Mutex<Option<SyncHandle>>,
}

/// An item's id as the outbox gives it: a NUL-terminated UUID.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FlItemId {
    /// The id, NUL-terminated.
    pub id: [u8; 40],
}

impl FlItemId {
    fn of(id: &str) -> Self {
        FlItemId {
            id: crate::pointers::fixed_text(id),
        }
    }
}

fn outbox_failure(error: fieldlink_client::outbox::OutboxError) -> Failure {
    Failure::new(FlStatus::Io, error.to_string())
}

/// Opens (or creates) the outbox database at `path` (borrowed); its files
/// are kept in a folder beside it. On `FL_STATUS_OK`, `*out` owns the outbox.
///
/// # Safety
/// `path` is NUL-terminated; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_open(path: *const c_char, out: *mut *mut FlOutbox) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (path, out) = unsafe { (borrow_str(path, "path")?, out_ref(out, "out")?) };
        *out = std::ptr::null_mut();
        let outbox = block_on(Outbox::open(OutboxConfig::new(path)))?.map_err(outbox_failure)?;
        *out = hand_out(FlOutbox {
            outbox,
            sync: std::sync::Mutex::new(None),
        });
        Ok(())
    })
}

/// Borrows the outbox behind a handle.
unsafe fn borrow_outbox<'a>(outbox: *const FlOutbox) -> Result<&'a FlOutbox, Failure> {
    // SAFETY: the caller's promise (a live handle or NULL).
    unsafe { outbox.as_ref() }.ok_or_else(|| Failure::invalid("outbox is NULL"))
}

/// Stores an item (its protobuf bytes, borrowed, of the message `kind`
/// names) to be sent in order; durable on the terminal when this returns.
/// Grid reports are sent directly ([`fl_client_submit`](crate::fl_client_submit)).
///
/// # Safety
/// `outbox` is a live handle; `bytes` is valid for `len` bytes; `id` is
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_enqueue(
    outbox: *const FlOutbox,
    kind: u32,
    bytes: *const u8,
    len: usize,
    id: *mut FlItemId,
) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (outbox, bytes, out) = unsafe {
            (
                borrow_outbox(outbox)?,
                borrow_bytes(bytes, len, "bytes")?,
                out_ref(id, "id")?,
            )
        };
        let outbox = &outbox.outbox;
        let queued = block_on(async {
            match FlItemKind::from_raw(kind)? {
                FlItemKind::Inspection => {
                    let record = decode::<pb::InspectionRecord>(bytes, "InspectionRecord")?;
                    outbox.enqueue_inspection(&record).await.map_err(outbox_failure)
                }
                FlItemKind::Service => {
                    let service = decode::<pb::ServiceConfirmation>(bytes, "ServiceConfirmation")?;
                    outbox.enqueue_service(&service).await.map_err(outbox_failure)
                }
                FlItemKind::ServiceEvent => {
                    let event = decode::<pb::ServiceEvent>(bytes, "ServiceEvent")?;
                    outbox.enqueue_service_event(&event).await.map_err(outbox_failure)
                }
                FlItemKind::Interview => {
                    let interview = decode::<pb::InterviewRecord>(bytes, "InterviewRecord")?;
                    outbox.enqueue_interview(&interview).await.map_err(outbox_failure)
                }
                FlItemKind::GridReport => Err(Failure::invalid(
                    "grid reports are not queued by the outbox: send them with fl_client_submit",
                )),
            }
        })??;
        *out = FlItemId::of(&queued);
        Ok(())
    })
}

/// Stores a file (photo, video, audio, document of `content_type`) as
/// evidence of `record_id`: hashed now, copied into the outbox, sent after
/// the items enqueued before it. Strings are borrowed.
///
/// # Safety
/// `outbox` is a live handle; the strings are NUL-terminated; `id` is
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_enqueue_file(
    outbox: *const FlOutbox,
    record_id: *const c_char,
    content_type: *const c_char,
    path: *const c_char,
    id: *mut FlItemId,
) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (outbox, record_id, content_type, path, out) = unsafe {
            (
                borrow_outbox(outbox)?,
                borrow_str(record_id, "record_id")?,
                borrow_str(content_type, "content_type")?,
                borrow_str(path, "path")?,
                out_ref(id, "id")?,
            )
        };
        let queued = block_on(async {
            let upload = PhotoUpload::from_file(record_id, content_type, fieldlink_client::now_ms(), path)
                .await
                .map_err(|e| Failure::new(FlStatus::Io, format!("{path}: {e}")))?;
            outbox.outbox.enqueue_photo(&upload).await.map_err(outbox_failure)
        })??;
        *out = FlItemId::of(&queued);
        Ok(())
    })
}

/// Every item the outbox holds and where it is (queued, sending,
/// acknowledged with its seq, failed), as a JSON array in `*json` (owned
/// by the caller: free with [`fl_string_free`](crate::fl_string_free)).
///
/// # Safety
/// `outbox` is a live handle; `json` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_items_json(outbox: *const FlOutbox, json: *mut *mut c_char) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (outbox, out) = unsafe { (borrow_outbox(outbox)?, out_ref(json, "json")?) };
        *out = std::ptr::null_mut();
        let items = block_on(outbox.outbox.items())?.map_err(outbox_failure)?;
        let text = serde_json::to_string(&items).map_err(|e| Failure::new(FlStatus::Io, e.to_string()))?;
        *out = owned_string(text);
        Ok(())
    })
}

/// Starts sending in the background through `client` (borrowed: the
/// outbox keeps its own reference), whenever the server is reachable,
/// until the outbox is closed. A second call replaces the first.
///
/// # Safety
/// `outbox` and `client` are live handles.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_start_sync(outbox: *const FlOutbox, client: *const FlClient) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (outbox, client) = unsafe { (borrow_outbox(outbox)?, borrow_client(client)?) };
        let handle = block_on(async { outbox.outbox.start_sync(client.clone()) })?;
        let previous = outbox
            .sync
            .lock()
            .map_err(|_| Failure::new(FlStatus::Panic, "the outbox's lock is poisoned"))?
            .replace(handle);
        if let Some(previous) = previous {
            block_on(previous.stop())?;
        }
        Ok(())
    })
}

/// Waits up to `timeout_ms` until nothing is left to send (every item
/// acknowledged or parked as refused); `*settled` is 1 if so, else 0.
///
/// # Safety
/// `outbox` is a live handle; `settled` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_settled(
    outbox: *const FlOutbox,
    timeout_ms: u32,
    settled: *mut u8,
) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (outbox, out) = unsafe { (borrow_outbox(outbox)?, out_ref(settled, "settled")?) };
        let done = block_on(
            outbox
                .outbox
                .settled(Duration::from_millis(u64::from(timeout_ms))),
        )?
        .map_err(outbox_failure)?;
        *out = u8::from(done);
        Ok(())
    })
}

/// Stops sending (after the items in flight are recorded) and closes the
/// outbox; what is queued stays for the next open. NULL is ignored.
///
/// # Safety
/// `outbox` is NULL or from [`fl_outbox_open`], and not used after.
#[no_mangle]
pub unsafe extern "C" fn fl_outbox_close(outbox: *mut FlOutbox) {
    // SAFETY: the caller's promise above.
    unsafe {
        take_back(outbox, |outbox| async move {
            let sync = outbox.sync.lock().ok().and_then(|mut sync| sync.take());
            if let Some(sync) = sync {
                sync.stop().await;
            }
        })
    }
}
