//! Photo evidence headers: the checked domain type and its rules.

use uuid::Uuid;

use crate::inspection::{parse_place, Place};
use crate::pb;
use crate::validate::{self, FieldError, ValidationContext};

/// The media formats the server accepts (photo, video, audio, document),
/// named by MIME type: [`fieldlink_media::Format`].
pub use fieldlink_media::Format as ContentType;
pub use fieldlink_media::Kind as MediaKind;

/// The largest upload the server accepts of each kind, in bytes
/// (advertised in `Limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaBytesMax {
    /// Photos (JPEG, PNG, HEIC).
    pub photo: u64,
    /// Video (MP4, MOV).
    pub video: u64,
    /// Audio (M4A, WAV, MP3).
    pub audio: u64,
    /// Documents (PDF).
    pub document: u64,
}

impl MediaBytesMax {
    /// The limit for one kind.
    pub fn of(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Photo => self.photo,
            MediaKind::Video => self.video,
            MediaKind::Audio => self.audio,
            MediaKind::Document => self.document,
        }
    }
}

impl Default for MediaBytesMax {
    fn default() -> Self {
        Self {
            photo: crate::limits::PHOTO_BYTES_MAX_DEFAULT,
            video: crate::limits::VIDEO_BYTES_MAX_DEFAULT,
            audio: crate::limits::AUDIO_BYTES_MAX_DEFAULT,
            document: crate::limits::DOCUMENT_BYTES_MAX_DEFAULT,
        }
    }
}

/// A checked photo header.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoHeader {
    /// The evidence id (UUIDv7).
    pub evidence_id: Uuid,
    /// The record it belongs to (UUIDv7).
    pub record_id: Uuid,
    /// Total size in bytes.
    pub size_bytes: u64,
    /// Declared SHA-256.
    pub sha256: [u8; 32],
    /// Declared format.
    pub content_type: ContentType,
    /// Capture time by the terminal's clock.
    pub captured_at_ms: i64,
    /// Capture place, if the terminal had a fix.
    pub capture_place: Option<Place>,
    /// First byte this stream carries.
    pub offset: u64,
    /// The case, if any.
    pub case_id: Option<String>,
}

impl PhotoHeader {
    /// Checks the header against the contract and the server's limit for
    /// the declared kind.
    pub fn parse(
        header: pb::PhotoHeader,
        context: &ValidationContext,
        bytes_max: &MediaBytesMax,
    ) -> Result<Self, FieldError> {
        let evidence_id = validate::item_id("evidence_id", &header.evidence_id)?;
        let record_id = validate::item_id("record_id", &header.record_id)?;
        if header.size_bytes == 0 {
            return Err(FieldError::new("size_bytes", "is required (media is not empty)"));
        }
        let sha256: [u8; 32] = header
            .sha256
            .as_slice()
            .try_into()
            .map_err(|_| FieldError::new("sha256", "must be 32 bytes"))?;
        let content_type = ContentType::from_mime(&header.content_type).ok_or_else(|| {
            FieldError::new(
                "content_type",
                format!(
                    "must be one of {}",
                    ContentType::ALL.map(ContentType::as_mime).join(", ")
                ),
            )
        })?;
        let kind = content_type.kind();
        let limit = bytes_max.of(kind);
        if header.size_bytes > limit {
            return Err(FieldError::new(
                "size_bytes",
                format!(
                    "{} bytes exceeds the {} limit of {limit} bytes",
                    header.size_bytes,
                    kind.as_str()
                ),
            ));
        }
        let captured_at_ms = validate::timestamp_ms("captured_at_ms", header.captured_at_ms, context)?;
        let capture_place = match header.capture_place {
            None => None,
            Some(place) => {
                // The address is optional for a photo: accept an empty one.
                let mut place = place;
                let had_address = !place.address.trim().is_empty();
                if !had_address {
                    place.address = "-".into();
                }
                let mut parsed = parse_place("capture_place", Some(place))?;
                if !had_address {
                    parsed.address.clear();
                }
                Some(parsed)
            }
        };
        if header.offset >= header.size_bytes {
            return Err(FieldError::new("offset", "must be less than size_bytes"));
        }
        let case_id = match header.case_id.as_str() {
            "" => None,
            text => Some(validate::case_id("case_id", text)?),
        };
        Ok(Self {
            evidence_id,
            record_id,
            size_bytes: header.size_bytes,
            sha256,
            content_type,
            captured_at_ms,
            capture_place,
            offset: header.offset,
            case_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: ValidationContext = ValidationContext {
        now_ms: 1_800_000_000_000,
        clock_skew_ms_max: 300_000,
    };

    fn valid() -> pb::PhotoHeader {
        pb::PhotoHeader {
            evidence_id: Uuid::now_v7().to_string(),
            record_id: Uuid::now_v7().to_string(),
            size_bytes: 1000,
            sha256: vec![7; 32],
            content_type: "image/jpeg".into(),
            captured_at_ms: CONTEXT.now_ms - 1000,
            capture_place: Some(pb::Place {
                latitude: 29.0,
                longitude: 121.0,
                address: String::new(),
                accuracy_m: 5.0,
            }),
            offset: 0,
            case_id: String::new(),
        }
    }

    const LIMITS: MediaBytesMax = MediaBytesMax {
        photo: 5000,
        video: 50_000,
        audio: 20_000,
        document: 10_000,
    };

    fn refused_field(header: pb::PhotoHeader) -> String {
        PhotoHeader::parse(header, &CONTEXT, &LIMITS).unwrap_err().field
    }

    #[test]
    fn a_valid_header_parses_with_an_empty_address() {
        let parsed = PhotoHeader::parse(valid(), &CONTEXT, &LIMITS).unwrap();
        assert_eq!(parsed.content_type, ContentType::Jpeg);
        assert_eq!(parsed.capture_place.unwrap().address, "");
    }

    #[test]
    fn every_header_rule_names_its_field() {
        let mut h = valid();
        h.evidence_id = "x".into();
        assert_eq!(refused_field(h), "evidence_id");
        let mut h = valid();
        h.record_id.clear();
        assert_eq!(refused_field(h), "record_id");
        let mut h = valid();
        h.size_bytes = 0;
        assert_eq!(refused_field(h), "size_bytes");
        let mut h = valid();
        h.size_bytes = 5001;
        assert_eq!(refused_field(h), "size_bytes");
        let mut h = valid();
        h.sha256 = vec![1; 31];
        assert_eq!(refused_field(h), "sha256");
        let mut h = valid();
        h.content_type = "image/gif".into();
        assert_eq!(refused_field(h), "content_type");
        let mut h = valid();
        h.captured_at_ms = CONTEXT.now_ms + 3_600_000;
        assert_eq!(refused_field(h), "captured_at_ms");
        let mut h = valid();
        h.capture_place.as_mut().unwrap().latitude = 100.0;
        assert_eq!(refused_field(h), "capture_place.latitude");
        let mut h = valid();
        h.offset = 1000;
        assert_eq!(refused_field(h), "offset");
        let mut h = valid();
        h.case_id = "c".repeat(65);
        assert_eq!(refused_field(h), "case_id");
    }

    #[test]
    fn each_kind_has_its_own_size_limit() {
        let mut video = valid();
        video.content_type = "video/mp4".into();
        video.size_bytes = 50_000;
        assert!(PhotoHeader::parse(video.clone(), &CONTEXT, &LIMITS).is_ok());
        video.size_bytes = 50_001;
        assert_eq!(refused_field(video), "size_bytes");
        let mut pdf = valid();
        pdf.content_type = "application/pdf".into();
        pdf.size_bytes = 10_001;
        assert_eq!(refused_field(pdf), "size_bytes");
    }

    #[test]
    fn magic_bytes_identify_the_format() {
        assert!(ContentType::Jpeg.matches_magic(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!ContentType::Jpeg.matches_magic(b"\x89PNG\r\n\x1a\n"));
        assert!(ContentType::Png.matches_magic(b"\x89PNG\r\n\x1a\nrest"));
        assert!(!ContentType::Png.matches_magic(b"GIF89a"));
    }
}
