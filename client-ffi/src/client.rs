//! A connected terminal: connect, submit items, upload files, close.

use std::ffi::{c_char, c_void};

use fieldlink_client::protocol::pb;
use fieldlink_client::{Client, PhotoUpload};
use prost::Message;

use crate::pointers::{borrow_bytes, borrow_str, hand_out, out_ref, take_back};
use crate::runtime::block_on;
use crate::status::{guard, Failure, FlStatus};
use crate::{FlItemKind, FlReceipt};

/// A terminal's client: one per signed-in officer and device. Created by
/// [`fl_client_connect`], released by [`fl_client_close`]; usable from
/// several threads at once.
pub struct FlClient {
    pub(crate) client: Client,
}

/// Called as an upload advances: bytes the server holds or has been sent,
/// the file's size, and the attempt (1 for the first stream). Runs on the
/// thread that called the upload; it must not call back into the library.
pub type FlProgressCallback =
    Option<extern "C" fn(user_data: *mut c_void, sent_bytes: u64, total_bytes: u64, attempt: u32)>;

/// Connects and signs in. `config_json` (borrowed) names the server, the
/// PEM files and the sign-in (docs/integrating.md). On `FL_STATUS_OK`, `*out`
/// owns a new client, to be released with [`fl_client_close`].
///
/// # Safety
/// `config_json` is a NUL-terminated string; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_client_connect(config_json: *const c_char, out: *mut *mut FlClient) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let out = unsafe { out_ref(out, "out") }?;
        *out = std::ptr::null_mut();
        // SAFETY: as above.
        let json = unsafe { borrow_str(config_json, "config_json") }?;
        let config = crate::config::client_config(json)?;
        let client = block_on(Client::connect(config))??;
        *out = hand_out(FlClient { client });
        Ok(())
    })
}

/// Closes the connection (letting answers in flight arrive) and frees the
/// client. NULL is ignored. Feeds and outboxes opened with it keep working
/// until they are closed themselves.
///
/// # Safety
/// `client` is NULL or from [`fl_client_connect`], and not used after.
#[no_mangle]
pub unsafe extern "C" fn fl_client_close(client: *mut FlClient) {
    // SAFETY: the caller's promise above.
    unsafe { take_back(client, |client| client.client.close()) }
}

/// Borrows the client behind a handle.
///
/// # Safety
/// `client` is NULL or a live handle from [`fl_client_connect`].
pub(crate) unsafe fn borrow_client<'a>(client: *const FlClient) -> Result<&'a Client, Failure> {
    // SAFETY: the caller's promise.
    unsafe { client.as_ref() }
        .map(|c| &c.client)
        .ok_or_else(|| Failure::invalid("client is NULL"))
}

/// Decodes `bytes` as the message `kind` names.
pub(crate) fn decode<T: Message + Default>(bytes: &[u8], what: &str) -> Result<T, Failure> {
    T::decode(bytes).map_err(|e| Failure::invalid(format!("the bytes are not a {what}: {e}")))
}

/// Submits one item: `bytes` (borrowed) are its protobuf encoding, of the
/// message `kind` names. Resent with the same id on retryable failures
/// inside the call; on `FL_STATUS_OK`, `*receipt` says it is stored.
///
/// # Safety
/// `client` is a live handle; `bytes` is valid for `len` bytes; `receipt`
/// is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_client_submit(
    client: *const FlClient,
    kind: u32,
    bytes: *const u8,
    len: usize,
    receipt: *mut FlReceipt,
) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (client, bytes, out) = unsafe {
            (
                borrow_client(client)?,
                borrow_bytes(bytes, len, "bytes")?,
                out_ref(receipt, "receipt")?,
            )
        };
        let stored = block_on(async {
            match FlItemKind::from_raw(kind)? {
                FlItemKind::Inspection => {
                    client
                        .submit_inspection(&decode::<pb::InspectionRecord>(bytes, "InspectionRecord")?)
                        .await
                }
                FlItemKind::Service => {
                    client
                        .submit_service(&decode::<pb::ServiceConfirmation>(bytes, "ServiceConfirmation")?)
                        .await
                }
                FlItemKind::ServiceEvent => {
                    client
                        .submit_service_event(&decode::<pb::ServiceEvent>(bytes, "ServiceEvent")?)
                        .await
                }
                FlItemKind::Interview => {
                    client
                        .submit_interview(&decode::<pb::InterviewRecord>(bytes, "InterviewRecord")?)
                        .await
                }
                FlItemKind::GridReport => {
                    client
                        .submit_grid_report(&decode::<pb::GridReport>(bytes, "GridReport")?)
                        .await
                }
            }
            .map_err(Failure::from)
        })??;
        *out = FlReceipt::from_pb(&stored);
        Ok(())
    })
}

/// Uploads the file at `path` (a photo, video, audio or document of
/// `content_type`, e.g. `image/jpeg`) as evidence of the record
/// `record_id`. Streamed from the file, resumed where the server stopped
/// after a lost connection; `progress` (may be NULL) is called with
/// `user_data` as bytes go out. All strings are borrowed for the call.
///
/// # Safety
/// `client` is a live handle; the strings are NUL-terminated; `receipt` is
/// valid for a write; `user_data` is passed to `progress` untouched.
#[no_mangle]
pub unsafe extern "C" fn fl_client_upload_file(
    client: *const FlClient,
    record_id: *const c_char,
    content_type: *const c_char,
    path: *const c_char,
    progress: FlProgressCallback,
    user_data: *mut c_void,
    receipt: *mut FlReceipt,
) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (client, record_id, content_type, path, out) = unsafe {
            (
                borrow_client(client)?,
                borrow_str(record_id, "record_id")?,
                borrow_str(content_type, "content_type")?,
                borrow_str(path, "path")?,
                out_ref(receipt, "receipt")?,
            )
        };
        let stored = block_on(async {
            let upload = PhotoUpload::from_file(record_id, content_type, fieldlink_client::now_ms(), path)
                .await
                .map_err(|e| Failure::new(FlStatus::Io, format!("{path}: {e}")))?;
            client
                .upload_photo(&upload, |step| {
                    if let Some(callback) = progress {
                        callback(user_data, step.sent_bytes, step.total_bytes, step.attempt);
                    }
                })
                .await
                .map_err(Failure::from)
        })??;
        *out = FlReceipt::from_pb(&stored);
        Ok(())
    })
}

/// Sends where the officer is now as a position datagram (docs/protocol.md
/// §10e): handed to the connection, never retransmitted; send at most one
/// per `position_interval_ms_min` (Welcome), the server drops faster ones.
/// `at_ms` is when the fix was taken (ms since the Unix epoch). A value out
/// of range is refused here with `FL_STATUS_REJECTED` (reason
/// `INVALID_FIELD`), before anything is sent.
///
/// # Safety
/// `client` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn fl_client_send_position(
    client: *const FlClient,
    latitude: f64,
    longitude: f64,
    accuracy_m: f32,
    speed_mps: f32,
    at_ms: i64,
) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promise above.
        let client = unsafe { borrow_client(client) }?;
        let ping = pb::PositionPing {
            latitude,
            longitude,
            accuracy_m,
            speed_mps,
            at_ms,
        };
        block_on(client.send_position(&ping))?.map_err(Failure::from)
    })
}
