//! Status codes, the thread's last error, and the guard that keeps panics
//! on the Rust side.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use fieldlink_client::Error;

/// What a call did. `FL_STATUS_OK` is 0; every other code has its message in
/// [`fl_last_error_message`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlStatus {
    /// Done.
    Ok = 0,
    /// A pointer was NULL, a string not UTF-8, bytes not the message named.
    InvalidArgument = 1,
    /// The configuration is unusable (unreadable certificate, bad JSON).
    Config = 2,
    /// No server answered in time (offline, or UDP blocked). Retry later.
    Unreachable = 3,
    /// The TLS handshake or the officer's sign-in was refused.
    Authentication = 4,
    /// The server refused the request; [`fl_last_error_reason`] names why.
    Rejected = 5,
    /// The connection failed or was lost. Retry.
    Connection = 6,
    /// No answer, or no event, within the deadline.
    Timeout = 7,
    /// The server broke the protocol, or a log proof did not verify.
    Protocol = 8,
    /// A local file or the outbox's database failed.
    Io = 9,
    /// The feed has ended (after its error was reported).
    Ended = 10,
    /// A bug: the library caught a panic. The handle may be unusable.
    Panic = 99,
}

/// A failure: its code, message and (for refusals) the server's reason.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: FlStatus,
    pub message: String,
    pub reason: String,
}

impl Failure {
    pub fn new(status: FlStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            reason: String::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(FlStatus::InvalidArgument, message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Config(_) => FlStatus::Config,
            Error::Authentication(_) | Error::SignInRefused(_) => FlStatus::Authentication,
            Error::Rejected(_) => FlStatus::Rejected,
            Error::Connection(_) => FlStatus::Connection,
            Error::Unreachable(_) => FlStatus::Unreachable,
            Error::Timeout(_) => FlStatus::Timeout,
            Error::Protocol(_) | Error::LogProof(_) | Error::LogForked(_) | Error::NotCosigned(_) => {
                FlStatus::Protocol
            }
        };
        Self {
            status,
            reason: error.status().map(|s| s.reason.clone()).unwrap_or_default(),
            message: error.to_string(),
        }
    }
}

struct LastError {
    message: CString,
    reason: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn c_string(text: String) -> CString {
    // An interior NUL would end the C string early: replace it.
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// Runs `body`, turning its failure or panic into a status and the thread's
/// last error. Every exported function goes through here.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> FlStatus {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            LAST_ERROR.with(|last| *last.borrow_mut() = None);
            return FlStatus::Ok;
        }
        Ok(Err(failure)) => failure,
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Failure::new(FlStatus::Panic, format!("internal error (a bug): {text}"))
        }
    };
    let status = failure.status;
    LAST_ERROR.with(|last| {
        *last.borrow_mut() = Some(LastError {
            message: c_string(failure.message),
            reason: c_string(failure.reason),
        })
    });
    status
}

/// The message of this thread's last failed call, NUL-terminated UTF-8, or
/// NULL after a call that succeeded. Owned by the library: valid until this
/// thread's next `fl_` call; do not free.
#[no_mangle]
pub extern "C" fn fl_last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| {
        last.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |e| e.message.as_ptr())
    })
}

/// The server's reason code of this thread's last refusal (for example
/// `clock_skew`, docs/protocol.md), empty for other failures, NULL after a
/// call that succeeded. Owned by the library, as [`fl_last_error_message`].
#[no_mangle]
pub extern "C" fn fl_last_error_reason() -> *const c_char {
    LAST_ERROR.with(|last| {
        last.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |e| e.reason.as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_message() -> Option<String> {
        let message = fl_last_error_message();
        // SAFETY: NULL or the thread's current message.
        (!message.is_null()).then(|| unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned())
    }

    #[test]
    fn a_panic_becomes_a_status_with_its_message_and_a_success_clears_it() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, FlStatus::Panic);
        assert!(last_message().unwrap().contains("boom"));
        assert_eq!(guard(|| Ok(())), FlStatus::Ok);
        assert_eq!(last_message(), None);
        assert!(fl_last_error_reason().is_null());
    }

    #[test]
    fn a_refusal_keeps_the_servers_reason_and_an_interior_nul_does_not_cut_the_message() {
        let status = guard(|| {
            Err(Error::Rejected(Box::new(fieldlink_client::protocol::pb::Status {
                reason: "clock_skew".into(),
                message: "clock\0 off".into(),
                ..Default::default()
            }))
            .into())
        });
        assert_eq!(status, FlStatus::Rejected);
        // SAFETY: non-NULL after a failure.
        let reason = unsafe { CStr::from_ptr(fl_last_error_reason()) };
        assert_eq!(reason.to_str().unwrap(), "clock_skew");
        assert!(last_message().unwrap().contains("off"), "{:?}", last_message());
    }
}
