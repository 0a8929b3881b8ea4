//! Every limit of the protocol, named with its unit last.
//!
//! Server-side limits that an operator may change have a `_DEFAULT` here and
//! are advertised to the terminal in `Welcome.limits`; the per-field limits of
//! records are part of the contract and fixed for protocol version 1.

/// Default largest frame body the server accepts: 1 MiB. Inspection records
/// are a few KiB; photos travel outside frames.
pub const FRAME_BYTES_MAX_DEFAULT: u32 = 1 << 20;
/// Largest hello frame, whatever the configured frame limit: 4 KiB.
pub const HELLO_FRAME_BYTES_MAX: u32 = 4 * 1024;
/// Default largest photo: 25 MiB.
pub const PHOTO_BYTES_MAX_DEFAULT: u64 = 25 * 1024 * 1024;
/// Default largest video upload (MP4, MOV): 4 GiB.
pub const VIDEO_BYTES_MAX_DEFAULT: u64 = 4 * 1024 * 1024 * 1024;
/// Default largest audio upload (M4A, WAV, MP3): 1 GiB.
pub const AUDIO_BYTES_MAX_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Default largest document upload (PDF): 100 MiB.
pub const DOCUMENT_BYTES_MAX_DEFAULT: u64 = 100 * 1024 * 1024;
/// Default allowance for terminal clocks running ahead of the server: 5 minutes.
pub const CLOCK_SKEW_MS_MAX_DEFAULT: i64 = 5 * 60 * 1000;
/// Default number of requests a terminal may have in flight on one connection.
pub const CONCURRENT_REQUESTS_MAX_DEFAULT: u32 = 16;

/// Earliest timestamp any item may carry: 2000-01-01T00:00:00Z. Anything
/// earlier is a terminal with an unset clock.
pub const TIMESTAMP_MS_MIN: i64 = 946_684_800_000;

/// Length of an id in canonical UUID text form.
pub const UUID_TEXT_BYTES: usize = 36;
/// Shortest matter code.
pub const MATTER_CODE_BYTES_MIN: usize = 3;
/// Longest matter code.
pub const MATTER_CODE_BYTES_MAX: usize = 32;
/// Longest officer id.
pub const OFFICER_ID_BYTES_MAX: usize = 64;
/// Most officers on one record.
pub const OFFICERS_PER_RECORD_MAX: usize = 10;
/// Officers an enforcement action needs (Administrative Penalty Law art. 42:
/// "执法人员不得少于两人").
pub const ENFORCEMENT_OFFICERS_MIN: usize = 2;
/// Longest subject name.
pub const SUBJECT_NAME_BYTES_MAX: usize = 200;
/// Longest subject identifier (unified social credit code, ID number).
pub const SUBJECT_IDENTIFIER_BYTES_MAX: usize = 64;
/// Longest subject contact.
pub const SUBJECT_CONTACT_BYTES_MAX: usize = 200;
/// Longest address.
pub const ADDRESS_BYTES_MAX: usize = 500;
/// Longest findings text: 16 KiB.
pub const FINDINGS_BYTES_MAX: usize = 16 * 1024;
/// Longest outcome note: 4 KiB.
pub const OUTCOME_NOTE_BYTES_MAX: usize = 4 * 1024;
/// Most photos linked from one record.
pub const PHOTOS_PER_RECORD_MAX: usize = 100;
/// Longest case id.
pub const CASE_ID_BYTES_MAX: usize = 64;
/// Longest SDK version string in a hello.
pub const SDK_VERSION_BYTES_MAX: usize = 64;
/// Longest password in a hello.
pub const PASSWORD_BYTES_MAX: usize = 256;
/// Longest session token in a hello.
pub const SESSION_TOKEN_BYTES_MAX: usize = 128;

/// Default step in which upload bytes are made durable: 1 MiB.
pub const UPLOAD_CHECKPOINT_BYTES_DEFAULT: u32 = 1 << 20;
/// Default time a partial upload is kept after its last byte: 24 hours.
pub const PARTIAL_UPLOAD_TTL_MS_DEFAULT: i64 = 24 * 60 * 60 * 1000;
/// Default bytes of partial uploads one device may hold: 8 GiB (two
/// videos of the default largest size under way at once).
pub const PARTIAL_BYTES_PER_DEVICE_MAX_DEFAULT: u64 = 8 * 1024 * 1024 * 1024;
/// Largest image width or height the server decodes.
pub const IMAGE_SIDE_PIXELS_MAX: u32 = 16_384;
/// Largest image the server decodes, in pixels (64 megapixels).
pub const IMAGE_PIXELS_MAX: u64 = 64 * 1024 * 1024;
/// Longest side of a thumbnail.
pub const THUMBNAIL_SIDE_PIXELS_MAX: u32 = 320;
