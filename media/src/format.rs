//! The formats a terminal may upload, by MIME type and magic number.

/// What a piece of media evidence is, for limits and for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A still image (JPEG, PNG, HEIC).
    Photo,
    /// A recording with pictures (MP4, MOV).
    Video,
    /// A sound recording (M4A, WAV, MP3).
    Audio,
    /// A document (PDF): a served document, a signed form.
    Document,
}

impl Kind {
    /// Lower-case name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Photo => "photo",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Document => "document",
        }
    }
}

/// A media format the server accepts, named by its MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `image/jpeg`.
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/heic` (HEIF with HEVC images): structure checked only.
    Heic,
    /// `video/mp4` with H.264 or H.265 video.
    Mp4,
    /// `video/quicktime` (MOV) with H.264 or H.265 video.
    QuickTime,
    /// `audio/mp4` (M4A) with AAC audio.
    M4a,
    /// `audio/wav` (RIFF WAVE).
    Wav,
    /// `audio/mpeg` (MP3).
    Mp3,
    /// `application/pdf`.
    Pdf,
}

impl Format {
    /// Every accepted format.
    pub const ALL: [Format; 9] = [
        Format::Jpeg,
        Format::Png,
        Format::Heic,
        Format::Mp4,
        Format::QuickTime,
        Format::M4a,
        Format::Wav,
        Format::Mp3,
        Format::Pdf,
    ];

    /// The MIME type.
    pub fn as_mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Heic => "image/heic",
            Format::Mp4 => "video/mp4",
            Format::QuickTime => "video/quicktime",
            Format::M4a => "audio/mp4",
            Format::Wav => "audio/wav",
            Format::Mp3 => "audio/mpeg",
            Format::Pdf => "application/pdf",
        }
    }

    /// Parses a MIME type (exact, lower case, as [`Format::as_mime`] writes it).
    pub fn from_mime(mime: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_mime() == mime)
    }

    /// The usual file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Heic => "heic",
            Format::Mp4 => "mp4",
            Format::QuickTime => "mov",
            Format::M4a => "m4a",
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
            Format::Pdf => "pdf",
        }
    }

    /// Photo, video, audio or document.
    pub fn kind(self) -> Kind {
        match self {
            Format::Jpeg | Format::Png | Format::Heic => Kind::Photo,
            Format::Mp4 | Format::QuickTime => Kind::Video,
            Format::M4a | Format::Wav | Format::Mp3 => Kind::Audio,
            Format::Pdf => Kind::Document,
        }
    }

    /// Whether `bytes` (the file's first bytes, 12 or more) start with this
    /// format's magic number. ISO-BMFF formats share theirs (`ftyp`); their
    /// brands and tracks are checked by the validator.
    pub fn matches_magic(self, bytes: &[u8]) -> bool {
        match self {
            // SOI followed by the first marker's 0xFF.
            Format::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            // PNG signature (ISO/IEC 15948 §5.2).
            Format::Png => bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Format::Heic | Format::Mp4 | Format::QuickTime | Format::M4a => bytes.get(4..8) == Some(b"ftyp"),
            Format::Wav => bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE"),
            // An ID3v2 tag, or an MPEG audio frame sync (11 bits set).
            Format::Mp3 => {
                bytes.starts_with(b"ID3") || matches!(bytes, [0xFF, second, ..] if second & 0xE0 == 0xE0)
            }
            Format::Pdf => bytes.starts_with(b"%PDF-"),
        }
    }

    /// Guesses the format from a file's first bytes (64 or more is best),
    /// for clients that pick the declared type: ISO-BMFF files by their
    /// major brand.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.get(4..8) == Some(b"ftyp") {
            let brand = bytes.get(8..12)?;
            return Some(match brand {
                b"qt  " => Format::QuickTime,
                b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1" => Format::Heic,
                b"M4A " | b"M4B " => Format::M4a,
                _ => Format::Mp4,
            });
        }
        [Format::Jpeg, Format::Png, Format::Wav, Format::Pdf, Format::Mp3]
            .into_iter()
            .find(|format| format.matches_magic(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_round_trip_and_unknown_ones_are_refused() {
        for format in Format::ALL {
            assert_eq!(Format::from_mime(format.as_mime()), Some(format));
        }
        assert_eq!(Format::from_mime("image/gif"), None);
        assert_eq!(Format::from_mime("IMAGE/JPEG"), None);
    }

    #[test]
    fn magic_numbers_tell_the_formats_apart() {
        assert!(Format::Jpeg.matches_magic(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!Format::Jpeg.matches_magic(b"\x89PNG\r\n\x1a\n"));
        assert!(Format::Png.matches_magic(b"\x89PNG\r\n\x1a\nrest"));
        assert!(!Format::Png.matches_magic(b"GIF89a"));
        assert!(Format::Pdf.matches_magic(b"%PDF-1.7\n"));
        assert!(!Format::Pdf.matches_magic(b"PK\x03\x04"));
        assert!(Format::Wav.matches_magic(b"RIFF\0\0\0\0WAVEfmt "));
        assert!(!Format::Wav.matches_magic(b"RIFF\0\0\0\0AVI LIST"));
        assert!(Format::Mp3.matches_magic(b"ID3\x04"));
        assert!(Format::Mp3.matches_magic(&[0xFF, 0xFB, 0x90]));
        assert!(!Format::Mp3.matches_magic(&[0xFF, 0xD8, 0xFF]) || Format::Jpeg.matches_magic(&[0xFF, 0xD8]));
        assert_eq!(
            Format::sniff(b"\0\0\0\x18ftypqt  \0\0\0\0"),
            Some(Format::QuickTime)
        );
        assert_eq!(Format::sniff(b"\0\0\0\x18ftypisom\0\0\0\0"), Some(Format::Mp4));
        assert_eq!(Format::sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some(Format::Heic));
        assert_eq!(Format::sniff(b"\0\0\0\x18ftypM4A \0\0\0\0"), Some(Format::M4a));
        assert_eq!(Format::sniff(&[0xFF, 0xD8, 0xFF, 0xDB]), Some(Format::Jpeg));
        assert_eq!(Format::sniff(b"hello"), None);
    }

    #[test]
    fn every_format_has_a_kind() {
        assert_eq!(Format::Heic.kind(), Kind::Photo);
        assert_eq!(Format::QuickTime.kind(), Kind::Video);
        assert_eq!(Format::Mp3.kind(), Kind::Audio);
        assert_eq!(Format::Pdf.kind(), Kind::Document);
    }
}
