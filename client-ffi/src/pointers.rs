//! Pointers from and to C: borrowing what the caller passes, handing over
//! what the library allocates, and freeing it again.

use std::ffi::{c_char, CStr, CString};

use crate::status::Failure;

/// Bytes the library allocated (for example an encoded event). The caller
/// owns them and frees them with [`fl_bytes_free`], once.
#[repr(C)]
#[derive(Debug)]
pub struct FlBytes {
    /// The bytes, or NULL when `len` is 0.
    pub data: *mut u8,
    /// How many.
    pub len: usize,
}

impl FlBytes {
    pub(crate) fn empty() -> Self {
        Self {
            data: std::ptr::null_mut(),
            len: 0,
        }
    }

    pub(crate) fn from_vec(bytes: Vec<u8>) -> Self {
        if bytes.is_empty() {
            return Self::empty();
        }
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        Self {
            data: Box::into_raw(boxed).cast(),
            len,
        }
    }
}

/// Frees bytes the library gave out and sets them to empty. NULL, or
/// bytes already freed this way, are ignored.
///
/// # Safety
/// `bytes` is NULL or points to an `FlBytes` filled by this library and not
/// changed since.
#[no_mangle]
pub unsafe extern "C" fn fl_bytes_free(bytes: *mut FlBytes) {
    // SAFETY: the caller passes NULL or a valid FlBytes (documented above).
    let Some(bytes) = (unsafe { bytes.as_mut() }) else {
        return;
    };
    if !bytes.data.is_null() && bytes.len > 0 {
        let slice = std::ptr::slice_from_raw_parts_mut(bytes.data, bytes.len);
        // SAFETY: data and len came from Box<[u8]>::into_raw in from_vec.
        drop(unsafe { Box::from_raw(slice) });
    }
    *bytes = FlBytes::empty();
}

/// Frees a string the library gave out (`fl_outbox_items_json`). NULL is
/// ignored.
///
/// # Safety
/// `text` is NULL or a string this library returned, freed only once.
#[no_mangle]
pub unsafe extern "C" fn fl_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: it came from CString::into_raw (documented above).
        drop(unsafe { CString::from_raw(text) });
    }
}

/// `text` in a fixed NUL-terminated buffer (ids in result structs), cut
/// to fit.
pub(crate) fn fixed_text<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0; N];
    let n = text.len().min(N.saturating_sub(1));
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out
}

/// A string the library allocates for the caller.
pub(crate) fn owned_string(text: String) -> *mut c_char {
    CString::new(text.replace('\0', " "))
        .unwrap_or_default()
        .into_raw()
}

/// Hands a new object to the caller as a handle it owns.
pub(crate) fn hand_out<T>(object: T) -> *mut T {
    Box::into_raw(Box::new(object))
}

/// Takes back a handle given out by [`hand_out`] and finishes it on the
/// library's runtime (closing a connection, sending a last acknowledgement,
/// stopping a drain). NULL is ignored.
///
/// # Safety
/// `handle` is NULL or from [`hand_out`] with this `T`, and not used after.
pub(crate) unsafe fn take_back<T, F>(handle: *mut T, finish: impl FnOnce(Box<T>) -> F)
where
    F: std::future::Future<Output = ()>,
{
    if handle.is_null() {
        return;
    }
    crate::status::guard(|| {
        // SAFETY: from Box::into_raw in hand_out (the caller's promise).
        let object = unsafe { Box::from_raw(handle) };
        crate::runtime::block_on(finish(object))
    });
}

/// Borrows a NUL-terminated UTF-8 string for the call.
///
/// # Safety
/// `text` is NULL or a valid NUL-terminated string.
pub(crate) unsafe fn borrow_str<'a>(text: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's promise).
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
}

/// Borrows `len` bytes at `data` for the call.
///
/// # Safety
/// `data` is valid for reads of `len` bytes (or `len` is 0).
pub(crate) unsafe fn borrow_bytes<'a>(data: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, valid for len bytes (the caller's promise).
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Where the caller wants a result written.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn out_ref<'a, T>(out: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: NULL or valid (the caller's promise).
    unsafe { out.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_handed_out_are_freed_once_and_null_is_ignored() {
        let mut bytes = FlBytes::from_vec(vec![1, 2, 3]);
        assert_eq!(bytes.len, 3);
        // SAFETY: bytes from from_vec; freeing twice is documented as harmless.
        unsafe {
            fl_bytes_free(&mut bytes);
            assert!(bytes.data.is_null() && bytes.len == 0);
            fl_bytes_free(&mut bytes);
            fl_bytes_free(std::ptr::null_mut());
            fl_string_free(std::ptr::null_mut());
            fl_string_free(owned_string("a\0b".into()));
        }
    }

    #[test]
    fn null_and_non_utf8_arguments_are_refused() {
        // SAFETY: NULL, and a valid NUL-terminated string that is not UTF-8.
        unsafe {
            assert!(borrow_str(std::ptr::null(), "x").is_err());
            assert!(borrow_str(c"\xff".as_ptr(), "x").is_err());
            assert!(borrow_bytes(std::ptr::null(), 1, "x").is_err());
            assert_eq!(borrow_bytes(std::ptr::null(), 0, "x").unwrap(), &[] as &[u8]);
        }
    }
}
