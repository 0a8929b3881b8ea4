//! The assignment feed (派单推送): events pulled one at a time, as encoded
//! `fieldlink.v1.AssignmentEvent` messages.

use std::time::Duration;

use fieldlink_client::AssignmentFeed;
use prost::Message;

use crate::client::{borrow_client, FlClient};
use crate::pointers::{hand_out, out_ref, take_back, FlBytes};
use crate::runtime::block_on;
use crate::status::{guard, Failure, FlStatus};

/// An open feed. Created by [`fl_feed_open`], released by [`fl_feed_close`];
/// one thread at a time.
pub struct FlFeed {
    feed: AssignmentFeed,
}

/// Opens the officer's assignment feed: every event after the last one
/// this client's app took (or the cursor the server keeps for this officer
/// on this device), then new ones as they happen. An event counts as taken
/// once [`fl_feed_next`] returns it: it is not sent again. On `FL_STATUS_OK`,
/// `*out` owns the feed.
///
/// # Safety
/// `client` is a live handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_feed_open(client: *const FlClient, out: *mut *mut FlFeed) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (client, out) = unsafe { (borrow_client(client)?, out_ref(out, "out")?) };
        *out = std::ptr::null_mut();
        let feed = block_on(async { client.assignments() })?;
        *out = hand_out(FlFeed { feed });
        Ok(())
    })
}

/// Waits up to `timeout_ms` for the next event and hands it over as the
/// bytes of an `AssignmentEvent` in `*event` (owned by the caller: free
/// with [`fl_bytes_free`](crate::fl_bytes_free)). `FL_STATUS_TIMEOUT`: none came in
/// time (call again). `FL_STATUS_ENDED`: the feed is over (its error was reported
/// by the call before); open a new one.
///
/// # Safety
/// `feed` is a live handle from [`fl_feed_open`]; `event` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fl_feed_next(feed: *mut FlFeed, timeout_ms: u32, event: *mut FlBytes) -> FlStatus {
    guard(|| {
        // SAFETY: the caller's promises above.
        let (feed, out) = unsafe {
            (
                feed.as_mut().ok_or_else(|| Failure::invalid("feed is NULL"))?,
                out_ref(event, "event")?,
            )
        };
        *out = FlBytes::empty();
        // The timer is made inside the runtime (it needs its clock).
        let wait = Duration::from_millis(u64::from(timeout_ms));
        let next = block_on(async { tokio::time::timeout(wait, feed.feed.next()).await })?;
        match next {
            Err(_) => Err(Failure::new(FlStatus::Timeout, "no event within the timeout")),
            Ok(None) => Err(Failure::new(FlStatus::Ended, "the feed has ended")),
            Ok(Some(Err(error))) => Err(error.into()),
            Ok(Some(Ok(next))) => {
                *out = FlBytes::from_vec(next.encode_to_vec());
                Ok(())
            }
        }
    })
}

/// Closes the feed, telling the server what was taken. NULL is ignored.
///
/// # Safety
/// `feed` is NULL or from [`fl_feed_open`], and not used after.
#[no_mangle]
pub unsafe extern "C" fn fl_feed_close(feed: *mut FlFeed) {
    // Dropped inside the runtime: the drop sends the last acknowledgement.
    // SAFETY: the caller's promise above.
    unsafe { take_back(feed, |feed| async move { drop(feed) }) }
}
