//! What a validator finds, its limits and its refusals.

use crate::format::Format;

/// What a valid file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// Width in pixels (a photo, a video's largest track); 0 for audio and documents.
    pub width: u32,
    /// Height in pixels, as `width`.
    pub height: u32,
    /// Playing time (video, audio), from the container.
    pub duration_ms: Option<u64>,
    /// The video codec's four-character code (`avc1`, `hvc1`, …).
    pub video_codec: Option<String>,
    /// The audio codec: a sample entry's code (`mp4a`), `pcm` (WAV) or `mp3`.
    pub audio_codec: Option<String>,
    /// When the container says it was made (ISO-BMFF `mvhd`), ms since the Unix epoch.
    pub created_at_ms: Option<i64>,
    /// Bytes follow the format's end (JPEG EOI, PNG IEND, the last box,
    /// the RIFF chunk, the last MP3 frame or tag, PDF `%%EOF`).
    pub trailing_bytes: bool,
    /// The EXIF block (TIFF structure) of a JPEG (APP1) or PNG (eXIf), to
    /// read capture time and position from.
    pub exif: Option<Vec<u8>>,
}

/// Limits a validator enforces before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most pixels an image (or a video frame) may declare.
    pub pixels_max: u64,
    /// Longest side an image may declare, in pixels.
    pub side_max: u32,
    /// Most boxes, chunks, segments or frames one file may hold.
    pub parts_max: u64,
    /// Deepest nesting of ISO-BMFF boxes.
    pub depth_max: usize,
    /// Most objects a PDF may hold.
    pub pdf_objects_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            pixels_max: 64 * 1024 * 1024,
            side_max: 16_384,
            parts_max: 4_000_000,
            depth_max: 16,
            pdf_objects_max: 1_000_000,
        }
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The magic bytes are not those of the declared type.
    #[error("the bytes are not {}", .0.as_mime())]
    NotThisFormat(Format),
    /// Dimensions, counts or nesting over the limits.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Truncated or corrupt.
    #[error("truncated or corrupt: {0}")]
    Corrupt(String),
    /// Well formed, but not what the server accepts (a codec, a version).
    #[error("not accepted: {0}")]
    Unsupported(String),
}

pub(crate) fn corrupt(message: impl Into<String>) -> MediaError {
    MediaError::Corrupt(message.into())
}

/// Checks declared dimensions against the limits.
pub(crate) fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(corrupt(format!("{width}x{height} pixels")));
    }
    if width > limits.side_max || height > limits.side_max {
        return Err(MediaError::TooLarge(format!(
            "{width}x{height}: a side is over {} pixels",
            limits.side_max
        )));
    }
    if u64::from(width) * u64::from(height) > limits.pixels_max {
        return Err(MediaError::TooLarge(format!(
            "{width}x{height} is over {} pixels",
            limits.pixels_max
        )));
    }
    Ok(())
}

/// Counts parts (boxes, chunks, frames) against the limit.
pub(crate) fn count_part(count: &mut u64, limits: &Limits, what: &str) -> Result<(), MediaError> {
    *count += 1;
    if *count > limits.parts_max {
        return Err(MediaError::TooLarge(format!(
            "more than {} {what}",
            limits.parts_max
        )));
    }
    Ok(())
}
