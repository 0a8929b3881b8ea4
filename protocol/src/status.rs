//! Building [`pb::Status`] values and classifying codes.

use crate::pb::{self, Code};
use crate::FieldError;

/// Machine-readable reasons carried in `Status.reason`.
pub mod reason {
    /// The frame's announced length is over the limit.
    pub const FRAME_TOO_LARGE: &str = "FRAME_TOO_LARGE";
    /// The stream ended inside a frame.
    pub const FRAME_TRUNCATED: &str = "FRAME_TRUNCATED";
    /// The length prefix is not a valid varint, or bytes follow the frame.
    pub const FRAME_MALFORMED: &str = "FRAME_MALFORMED";
    /// The frame body is not a valid protobuf message of the expected type.
    pub const MESSAGE_MALFORMED: &str = "MESSAGE_MALFORMED";
    /// The request body is missing or of a kind this server does not know.
    pub const UNKNOWN_REQUEST: &str = "UNKNOWN_REQUEST";
    /// The same item id is stored with different content.
    pub const ID_CONFLICT: &str = "ID_CONFLICT";
    /// The hello names a protocol version this server does not speak.
    pub const UNSUPPORTED_VERSION: &str = "UNSUPPORTED_VERSION";
    /// Wrong officer id or password, or an unknown, expired or revoked token.
    pub const BAD_CREDENTIALS: &str = "BAD_CREDENTIALS";
    /// A field broke a validation rule.
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    /// Storage is failing; nothing was stored.
    pub const STORAGE_UNAVAILABLE: &str = "STORAGE_UNAVAILABLE";
    /// The server is shutting down.
    pub const SHUTTING_DOWN: &str = "SHUTTING_DOWN";
    /// The photo's bytes do not hash to the declared SHA-256.
    pub const DIGEST_MISMATCH: &str = "DIGEST_MISMATCH";
    /// More or fewer bytes arrived than the header declared.
    pub const SIZE_MISMATCH: &str = "SIZE_MISMATCH";
    /// The resume offset is not the offset the server holds.
    pub const OFFSET_MISMATCH: &str = "OFFSET_MISMATCH";
    /// The bytes are not of the declared image type.
    pub const CONTENT_TYPE_MISMATCH: &str = "CONTENT_TYPE_MISMATCH";
    /// The image is truncated or corrupt.
    pub const IMAGE_CORRUPT: &str = "IMAGE_CORRUPT";
    /// The image's dimensions are over the limits (a decompression bomb).
    pub const IMAGE_TOO_LARGE: &str = "IMAGE_TOO_LARGE";
    /// A video, recording or document is truncated or corrupt (photos:
    /// `IMAGE_CORRUPT`).
    pub const MEDIA_CORRUPT: &str = "MEDIA_CORRUPT";
    /// A video's frame size, or a file's boxes, chunks or objects, are over
    /// the limits (photos: `IMAGE_TOO_LARGE`).
    pub const MEDIA_TOO_LARGE: &str = "MEDIA_TOO_LARGE";
    /// Well formed, but not accepted: a video codec other than H.264 or
    /// H.265, audio other than AAC in an M4A, an unknown PDF version.
    pub const MEDIA_UNSUPPORTED: &str = "MEDIA_UNSUPPORTED";
    /// The device holds too many bytes of unfinished uploads.
    pub const PARTIAL_QUOTA: &str = "PARTIAL_QUOTA";
    /// The upload stream stalled.
    pub const UPLOAD_STALLED: &str = "UPLOAD_STALLED";
    /// The signed-in officer may not do this (or the resource is not theirs).
    pub const NOT_PERMITTED: &str = "NOT_PERMITTED";
    /// The request did not arrive whole within the request timeout.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// A newer upload of the same evidence id took over this one.
    pub const SUPERSEDED: &str = "SUPERSEDED";
    /// The resource is not in a state that allows this (an assignment step
    /// out of order, a service already delivered).
    pub const INVALID_STATE: &str = "INVALID_STATE";
    /// The named resource does not exist (or is not visible to the caller).
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// Too many concurrent changes of one resource; retry shortly.
    pub const CONTENDED: &str = "CONTENDED";
    /// The device sent requests faster than its rate limit.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The device has as many uploads in progress as it may.
    pub const UPLOAD_LIMIT: &str = "UPLOAD_LIMIT";
    /// The device holds as many connections as it may.
    pub const CONNECTION_LIMIT: &str = "CONNECTION_LIMIT";
    /// Another server node is receiving this upload; resume after `retry_after_ms`.
    pub const UPLOAD_ELSEWHERE: &str = "UPLOAD_ELSEWHERE";
    /// The stream was reset or stopped before the answer could be sent.
    pub const STREAM_LOST: &str = "STREAM_LOST";
    /// The console request needs a signed-in supervisor.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// A report could not be written in the asked format (a workbook).
    pub const EXPORT_FAILED: &str = "EXPORT_FAILED";

    /// Every reason above, for documentation checks and clients that list them.
    pub const ALL: &[&str] = &[
        FRAME_TOO_LARGE,
        FRAME_TRUNCATED,
        FRAME_MALFORMED,
        MESSAGE_MALFORMED,
        UNKNOWN_REQUEST,
        ID_CONFLICT,
        UNSUPPORTED_VERSION,
        BAD_CREDENTIALS,
        INVALID_FIELD,
        STORAGE_UNAVAILABLE,
        SHUTTING_DOWN,
        DIGEST_MISMATCH,
        SIZE_MISMATCH,
        OFFSET_MISMATCH,
        CONTENT_TYPE_MISMATCH,
        IMAGE_CORRUPT,
        IMAGE_TOO_LARGE,
        MEDIA_CORRUPT,
        MEDIA_TOO_LARGE,
        MEDIA_UNSUPPORTED,
        PARTIAL_QUOTA,
        UPLOAD_STALLED,
        NOT_PERMITTED,
        REQUEST_TIMEOUT,
        SUPERSEDED,
        INVALID_STATE,
        NOT_FOUND,
        CONTENDED,
        RATE_LIMITED,
        UPLOAD_LIMIT,
        CONNECTION_LIMIT,
        UPLOAD_ELSEWHERE,
        STREAM_LOST,
        UNAUTHENTICATED,
        EXPORT_FAILED,
    ];
}

/// Whether resending the same request later can help, for a code.
pub fn code_is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded | Code::Aborted
    )
}

/// A status with `code`, `reason` and `message`; `retryable` follows the code.
pub fn status(code: Code, reason: &str, message: impl Into<String>) -> pb::Status {
    pb::Status {
        code: code as i32,
        message: message.into(),
        reason: reason.to_owned(),
        retryable: code_is_retryable(code),
        ..Default::default()
    }
}

/// `INVALID_ARGUMENT` naming the offending field.
pub fn invalid_field(error: &FieldError) -> pb::Status {
    pb::Status {
        field: error.field.clone(),
        ..status(Code::InvalidArgument, reason::INVALID_FIELD, error.to_string())
    }
}

impl pb::Status {
    /// The code, or `UNKNOWN` for a value this crate does not know.
    pub fn code_or_unknown(&self) -> Code {
        Code::try_from(self.code).unwrap_or(Code::Unknown)
    }
}

impl std::fmt::Display for pb::Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code_or_unknown().as_str_name())?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.field.is_empty() && !self.message.starts_with(&self.field) {
            write!(f, " [field {}]", self.field)?;
        }
        Ok(())
    }
}

impl std::error::Error for pb::Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_follows_the_code() {
        assert!(status(Code::Unavailable, reason::STORAGE_UNAVAILABLE, "x").retryable);
        assert!(!status(Code::InvalidArgument, reason::INVALID_FIELD, "x").retryable);
    }

    #[test]
    fn invalid_field_names_the_field() {
        let s = invalid_field(&FieldError::new("place.latitude", "out of range"));
        assert_eq!(s.field, "place.latitude");
        assert_eq!(s.code_or_unknown(), Code::InvalidArgument);
        assert!(s.to_string().contains("place.latitude"));
    }

    #[test]
    fn every_reason_is_in_the_protocol_documents_table() {
        let doc = include_str!("../../docs/protocol.md");
        for name in reason::ALL {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is not documented in docs/protocol.md"
            );
        }
    }

    #[test]
    fn reasons_are_distinct_and_named_as_their_values() {
        let mut seen = std::collections::HashSet::new();
        for name in reason::ALL {
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{name}"
            );
        }
    }
}
