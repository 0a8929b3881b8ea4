//! The service layer's one error type, and its one mapping to wire statuses.
//!
//! Errors that are the terminal's fault (bad input, bad credentials) are
//! logged at debug level; errors that are ours (storage) are logged as errors
//! and reach the terminal only as a generic UNAVAILABLE — no internals leak.

use fieldlink_protocol::envelope::EnvelopeError;
use fieldlink_protocol::frame::FrameError;
use fieldlink_protocol::pb::{self, Code};
use fieldlink_protocol::status::{self, reason};
use fieldlink_protocol::{FieldError, SUPPORTED_VERSIONS};

/// Why a request or session was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field broke a rule (the terminal's fault).
    #[error(transparent)]
    InvalidField(#[from] FieldError),
    /// The frame was refused before decoding (the terminal's fault).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The frame did not hold a request this server understands.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A message other than a request could not be decoded (e.g. the hello).
    #[error("malformed {what}: {detail}")]
    MalformedMessage {
        /// Which message.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// The item id is stored with different bytes.
    #[error("item id already stored with different content (seq {existing_seq})")]
    Conflict {
        /// The stored item's sequence number.
        existing_seq: u64,
    },
    /// The signed-in officer may not do this.
    #[error("{message}")]
    PermissionDenied {
        /// The field at fault, if one is.
        field: String,
        /// Why.
        message: String,
    },
    /// Sign-in refused. Deliberately says nothing about which part was wrong.
    #[error("sign-in refused")]
    Unauthenticated,
    /// The hello asked for a protocol version this server does not speak.
    #[error("protocol version {0} is not supported")]
    UnsupportedVersion(u32),
    /// Storage failed; nothing was stored. Details are logged, not sent.
    #[error("storage unavailable")]
    StorageUnavailable,
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The peer was too slow to send its frame.
    #[error("timed out waiting for the request")]
    Timeout,
    /// The photo's bytes do not hash to the declared SHA-256; nothing stored.
    #[error("the photo's bytes do not match the declared SHA-256")]
    DigestMismatch,
    /// More or fewer bytes than declared; nothing stored.
    #[error("{received_bytes} bytes received, {declared_bytes} declared")]
    SizeMismatch {
        /// Declared size.
        declared_bytes: u64,
        /// Bytes that arrived (at least).
        received_bytes: u64,
    },
    /// A resume from an offset the server does not hold.
    #[error("cannot resume at this offset; the server holds {durable_offset} bytes")]
    OffsetMismatch {
        /// What the server holds durably.
        durable_offset: u64,
    },
    /// The bytes are not a valid image of the declared type.
    #[error(transparent)]
    Image(#[from] crate::evidence::image_check::ImageError),
    /// The bytes are not valid media of the declared type (found while
    /// they arrived, or at their end).
    #[error("{}: {error}", kind.as_str())]
    Media {
        /// What the file was declared to be.
        kind: fieldlink_media::Kind,
        /// Why it was refused.
        error: fieldlink_media::MediaError,
    },
    /// The device holds too many bytes of unfinished uploads.
    #[error("unfinished uploads of this device hold {held_bytes} bytes; the limit is {limit_bytes}")]
    PartialQuota {
        /// Bytes held, this upload included.
        held_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// The upload stream went silent.
    #[error("the upload stream stalled; resume from the durable offset")]
    UploadStalled,
    /// A newer stream for the same upload took over.
    #[error("a newer stream for this upload took over")]
    Superseded,
    /// The request is valid but the state of what it refers to forbids it.
    #[error("{message}")]
    FailedPrecondition {
        /// The field at fault.
        field: String,
        /// Why, naming the current state.
        message: String,
    },
    /// Nothing the caller may see has this id.
    #[error("{message}")]
    NotFound {
        /// The field naming it.
        field: String,
        /// What was not found.
        message: String,
    },
    /// Too many concurrent changes to the same thing; retry.
    #[error("too many concurrent changes; retry")]
    Contended,
    /// The device sends requests faster than its rate.
    #[error("too many requests from this device; retry in {retry_after_ms} ms")]
    RateLimited {
        /// When a request will be accepted again.
        retry_after_ms: u64,
    },
    /// Every password check is running: a sign-in is refused at once.
    #[error("the server is busy checking passwords; retry in {retry_after_ms} ms")]
    PasswordChecksBusy {
        /// When to try again.
        retry_after_ms: u64,
    },
    /// Too many failed sign-ins in a row for this account or source.
    #[error("too many failed sign-ins; try again in {} s", retry_after_ms.div_ceil(1000))]
    SignInLockedOut {
        /// When to try again.
        retry_after_ms: u64,
    },
    /// Another node is receiving this upload.
    #[error("another server node is still receiving this upload; resume in {retry_after_ms} ms")]
    UploadElsewhere {
        /// When to try again.
        retry_after_ms: u64,
    },
    /// The device runs as many uploads as it may.
    #[error("this device already runs {limit} uploads at once")]
    UploadLimit {
        /// The limit.
        limit: usize,
    },
    /// The server runs as many uploads as it may (all devices together).
    #[error("the server runs {limit} uploads at once; try again shortly")]
    ServerUploadLimit {
        /// The limit.
        limit: usize,
    },
    /// The device holds as many connections as it may.
    #[error("this device already holds {limit} connections")]
    ConnectionLimit {
        /// The limit.
        limit: usize,
    },
    /// The stream broke before the request was complete; nobody to answer.
    #[error("the stream was lost")]
    StreamLost,
}

impl ServiceError {
    /// The status sent to the terminal. The only place errors become wire codes.
    pub fn to_status(&self) -> pb::Status {
        match self {
            ServiceError::InvalidField(error) => status::invalid_field(error),
            ServiceError::Frame(error) => match error {
                FrameError::TooLarge { .. } => {
                    status::status(Code::ResourceExhausted, reason::FRAME_TOO_LARGE, error.to_string())
                }
                FrameError::Truncated { .. } | FrameError::Empty => {
                    status::status(Code::InvalidArgument, reason::FRAME_TRUNCATED, error.to_string())
                }
                FrameError::MalformedLength | FrameError::TrailingBytes { .. } => {
                    status::status(Code::InvalidArgument, reason::FRAME_MALFORMED, error.to_string())
                }
            },
            ServiceError::Envelope(error) => match error {
                EnvelopeError::UnknownKind => {
                    status::status(Code::Unimplemented, reason::UNKNOWN_REQUEST, error.to_string())
                }
                EnvelopeError::Malformed(_) | EnvelopeError::DuplicateBody => {
                    status::status(Code::InvalidArgument, reason::MESSAGE_MALFORMED, error.to_string())
                }
            },
            ServiceError::MalformedMessage { .. } => {
                status::status(Code::InvalidArgument, reason::MESSAGE_MALFORMED, self.to_string())
            }
            ServiceError::Conflict { existing_seq } => pb::Status {
                conflicting_seq: *existing_seq,
                ..status::status(Code::AlreadyExists, reason::ID_CONFLICT, self.to_string())
            },
            ServiceError::PermissionDenied { field, message } => pb::Status {
                field: field.clone(),
                ..status::status(Code::PermissionDenied, reason::NOT_PERMITTED, message.clone())
            },
            ServiceError::Unauthenticated => status::status(
                Code::Unauthenticated,
                reason::BAD_CREDENTIALS,
                "unknown officer, wrong password, or an expired or revoked session token",
            ),
            ServiceError::UnsupportedVersion(version) => pb::Status {
                supported_versions: SUPPORTED_VERSIONS.to_vec(),
                ..status::status(
                    Code::FailedPrecondition,
                    reason::UNSUPPORTED_VERSION,
                    format!("protocol version {version} is not supported; this server speaks {SUPPORTED_VERSIONS:?}"),
                )
            },
            ServiceError::StorageUnavailable => pb::Status {
                retry_after_ms: 1_000,
                ..status::status(
                    Code::Unavailable,
                    reason::STORAGE_UNAVAILABLE,
                    "storage is temporarily unavailable; nothing was stored",
                )
            },
            ServiceError::ShuttingDown => pb::Status {
                retry_after_ms: 1_000,
                ..status::status(Code::Unavailable, reason::SHUTTING_DOWN, self.to_string())
            },
            ServiceError::Timeout => status::status(Code::DeadlineExceeded, reason::REQUEST_TIMEOUT, self.to_string()),
            ServiceError::DigestMismatch => pb::Status {
                field: "sha256".into(),
                ..status::status(Code::InvalidArgument, reason::DIGEST_MISMATCH, self.to_string())
            },
            ServiceError::SizeMismatch { .. } => pb::Status {
                field: "size_bytes".into(),
                ..status::status(Code::InvalidArgument, reason::SIZE_MISMATCH, self.to_string())
            },
            ServiceError::OffsetMismatch { durable_offset } => pb::Status {
                field: "offset".into(),
                durable_offset: *durable_offset,
                ..status::status(Code::FailedPrecondition, reason::OFFSET_MISMATCH, self.to_string())
            },
            ServiceError::Image(error) => {
                use crate::evidence::image_check::ImageError;
                let (reason, field) = match error {
                    ImageError::NoDecoder(_) => (reason::CONTENT_TYPE_MISMATCH, "content_type"),
                    ImageError::TooLarge(_) => (reason::IMAGE_TOO_LARGE, ""),
                    ImageError::Corrupt(_) => (reason::IMAGE_CORRUPT, ""),
                };
                pb::Status {
                    field: field.into(),
                    ..status::status(Code::InvalidArgument, reason, self.to_string())
                }
            }
            ServiceError::Media { kind, error } => {
                use fieldlink_media::{Kind, MediaError};
                let photo = *kind == Kind::Photo;
                let (reason, field) = match error {
                    MediaError::NotThisFormat(_) => (reason::CONTENT_TYPE_MISMATCH, "content_type"),
                    MediaError::TooLarge(_) if photo => (reason::IMAGE_TOO_LARGE, ""),
                    MediaError::TooLarge(_) => (reason::MEDIA_TOO_LARGE, ""),
                    MediaError::Corrupt(_) if photo => (reason::IMAGE_CORRUPT, ""),
                    MediaError::Corrupt(_) => (reason::MEDIA_CORRUPT, ""),
                    MediaError::Unsupported(_) => (reason::MEDIA_UNSUPPORTED, "content_type"),
                };
                pb::Status {
                    field: field.into(),
                    ..status::status(Code::InvalidArgument, reason, self.to_string())
                }
            }
            ServiceError::PartialQuota { .. } => pb::Status {
                retry_after_ms: 60_000,
                ..status::status(Code::ResourceExhausted, reason::PARTIAL_QUOTA, self.to_string())
            },
            ServiceError::UploadStalled => {
                status::status(Code::DeadlineExceeded, reason::UPLOAD_STALLED, self.to_string())
            }
            ServiceError::Superseded => status::status(Code::Aborted, reason::SUPERSEDED, self.to_string()),
            ServiceError::FailedPrecondition { field, message } => pb::Status {
                field: field.clone(),
                ..status::status(Code::FailedPrecondition, reason::INVALID_STATE, message.clone())
            },
            ServiceError::NotFound { field, message } => pb::Status {
                field: field.clone(),
                ..status::status(Code::NotFound, reason::NOT_FOUND, message.clone())
            },
            ServiceError::Contended => pb::Status {
                retry_after_ms: 100,
                ..status::status(Code::Aborted, reason::CONTENDED, self.to_string())
            },
            ServiceError::RateLimited { retry_after_ms }
            | ServiceError::PasswordChecksBusy { retry_after_ms }
            | ServiceError::SignInLockedOut { retry_after_ms } => pb::Status {
                retry_after_ms: *retry_after_ms,
                ..status::status(Code::ResourceExhausted, reason::RATE_LIMITED, self.to_string())
            },
            ServiceError::UploadElsewhere { retry_after_ms } => pb::Status {
                retry_after_ms: *retry_after_ms,
                ..status::status(Code::Unavailable, reason::UPLOAD_ELSEWHERE, self.to_string())
            },
            ServiceError::UploadLimit { .. } => pb::Status {
                retry_after_ms: 1_000,
                ..status::status(Code::ResourceExhausted, reason::UPLOAD_LIMIT, self.to_string())
            },
            ServiceError::ServerUploadLimit { .. } => pb::Status {
                retry_after_ms: 2_000,
                ..status::status(Code::ResourceExhausted, reason::UPLOAD_LIMIT, self.to_string())
            },
            ServiceError::ConnectionLimit { .. } => pb::Status {
                retry_after_ms: 5_000,
                ..status::status(Code::ResourceExhausted, reason::CONNECTION_LIMIT, self.to_string())
            },
            ServiceError::StreamLost => status::status(Code::Cancelled, reason::STREAM_LOST, self.to_string()),
        }
    }
}

impl From<crate::storage::group_commit::CommitError> for ServiceError {
    fn from(error: crate::storage::group_commit::CommitError) -> Self {
        match error {
            crate::storage::group_commit::CommitError::Closed => ServiceError::ShuttingDown,
            crate::storage::group_commit::CommitError::Storage(_) => ServiceError::StorageUnavailable,
        }
    }
}

impl From<crate::storage::StorageError> for ServiceError {
    fn from(error: crate::storage::StorageError) -> Self {
        tracing::error!(%error, "storage error");
        ServiceError::StorageUnavailable
    }
}

impl ServiceError {
    /// A service step (delivered, confirmed) another report of which was
    /// stored first, decided inside the commit: the same answer as for a
    /// report arriving after it.
    pub fn step_taken(at_ms: i64) -> Self {
        ServiceError::FailedPrecondition {
            field: "kind".into(),
            message: format!(
                "another report of this step of the service was stored first (at {at_ms} ms); events never overwrite"
            ),
        }
    }
}
