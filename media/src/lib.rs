//! Media evidence as it arrives: which formats exist ([`Format`], [`Kind`]),
//! and a structural validator per format ([`Validator`]) that is fed the
//! bytes chunk by chunk while they arrive and never holds a file whole.
//!
//! What each validator checks, with its limits:
//! - JPEG (ITU T.81 Annex B): markers and segments, the frame header's
//!   dimensions against the pixel limits, entropy-coded data up to EOI;
//! - PNG (ISO/IEC 15948): every chunk's length and CRC, IHDR first and its
//!   dimensions, IDAT present, up to IEND;
//! - ISO-BMFF (ISO/IEC 14496-12; MP4, QuickTime MOV, M4A, HEIC): boxes with
//!   their sizes nested inside their parents under a depth and count limit,
//!   `ftyp` first, one `moov` and media data for video and audio, the codec
//!   of each track (H.264/H.265 video, AAC audio), duration, creation time,
//!   frame size; HEIC's `meta` and its image sizes (`ispe`);
//! - WAV (RIFF): chunk sizes against the RIFF size, `fmt ` before `data`;
//! - MP3: an ID3v2 tag, then MPEG audio frames back to back, each header
//!   valid, an optional ID3v1 tag;
//! - PDF (ISO 32000): the header, `startxref` pointing at an `xref` table or
//!   an object, `%%EOF` at the end.
//!
//! Bytes after a format's end are reported ([`Facts::trailing_bytes`]); a
//! truncated file, a bad size or sum, a box that overflows its parent, a
//! frame that does not follow the last one is refused. No I/O, no decoding.

// No panics on what a terminal sent (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod bmff;
mod driver;
mod facts;
mod format;
mod jpeg;
mod mp3;
mod pdf;
mod png;
mod validator;
mod wav;

pub use facts::{Facts, Limits, MediaError};
pub use format::{Format, Kind};
pub use validator::{validate, Validator};
