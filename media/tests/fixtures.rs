//! Every validator against real files made by ffmpeg, heif-enc and qpdf
//! (tests/fixtures/README.md says how), fed whole and in small chunks, and
//! against their truncated, padded, polyglot and hostile variants.

use fieldlink_media::{validate, Facts, Format, Limits, MediaError, Validator};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

const VALID: [(&str, Format); 12] = [
    ("photo.jpg", Format::Jpeg),
    ("photo.png", Format::Png),
    ("photo.heic", Format::Heic),
    ("video-h264.mp4", Format::Mp4),
    ("video-h264-aac-end-moov.mp4", Format::Mp4),
    ("video-h265.mov", Format::QuickTime),
    ("audio-aac.m4a", Format::M4a),
    ("audio.wav", Format::Wav),
    ("audio.mp3", Format::Mp3),
    ("document.pdf", Format::Pdf),
    ("document-xref-stream.pdf", Format::Pdf),
    ("video-h264.mp4", Format::Mp4),
];

fn in_chunks(format: Format, bytes: &[u8], size: usize) -> Result<Facts, MediaError> {
    let mut validator = Validator::new(format, bytes.len() as u64, Limits::default());
    for chunk in bytes.chunks(size) {
        validator.feed(chunk)?;
    }
    validator.finish()
}

#[test]
fn real_files_pass_whole_and_in_any_chunking() {
    for (name, format) in VALID {
        let bytes = fixture(name);
        assert_eq!(Format::sniff(&bytes), Some(format), "{name} sniffed");
        let whole = validate(format, &bytes, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!whole.trailing_bytes, "{name}");
        for size in [1, 3, 7, 64, 4096] {
            assert_eq!(
                in_chunks(format, &bytes, size).as_ref(),
                Ok(&whole),
                "{name} in {size}-byte chunks"
            );
        }
    }
}

#[test]
fn facts_come_from_the_containers() {
    let mp4 = validate(Format::Mp4, &fixture("video-h264.mp4"), Limits::default()).unwrap();
    assert_eq!((mp4.width, mp4.height), (64, 48));
    assert_eq!(mp4.video_codec.as_deref(), Some("avc1"));
    assert_eq!(mp4.duration_ms, Some(1000));
    // ffmpeg -metadata creation_time=2026-11-30T08:15:00Z
    assert_eq!(mp4.created_at_ms, Some(1_796_026_500_000));

    let mov = validate(Format::QuickTime, &fixture("video-h265.mov"), Limits::default()).unwrap();
    assert_eq!(mov.video_codec.as_deref(), Some("hvc1"));
    assert_eq!((mov.width, mov.height), (64, 48));

    let both = validate(
        Format::Mp4,
        &fixture("video-h264-aac-end-moov.mp4"),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(both.audio_codec.as_deref(), Some("mp4a"));

    let m4a = validate(Format::M4a, &fixture("audio-aac.m4a"), Limits::default()).unwrap();
    assert_eq!(m4a.audio_codec.as_deref(), Some("mp4a"));
    assert!(
        m4a.duration_ms.is_some_and(|ms| (950..=1100).contains(&ms)),
        "{m4a:?}"
    );

    let wav = validate(Format::Wav, &fixture("audio.wav"), Limits::default()).unwrap();
    assert_eq!(wav.duration_ms, Some(500));
    assert_eq!(wav.audio_codec.as_deref(), Some("pcm"));

    let mp3 = validate(Format::Mp3, &fixture("audio.mp3"), Limits::default()).unwrap();
    assert!(
        mp3.duration_ms.is_some_and(|ms| (950..=1150).contains(&ms)),
        "{mp3:?}"
    );

    // HEIF's largest image size ('ispe'): the coded 64x64 HEVC image,
    // cropped to 64x48 at display.
    let heic = validate(Format::Heic, &fixture("photo.heic"), Limits::default()).unwrap();
    assert_eq!((heic.width, heic.height), (64, 64));
    let jpeg = validate(Format::Jpeg, &fixture("photo.jpg"), Limits::default()).unwrap();
    assert_eq!((jpeg.width, jpeg.height), (64, 48));
    let png = validate(Format::Png, &fixture("photo.png"), Limits::default()).unwrap();
    assert_eq!((png.width, png.height), (64, 48));
}

#[test]
fn every_truncation_is_refused() {
    for (name, format) in VALID {
        let bytes = fixture(name);
        for end in 0..bytes.len() {
            let cut = &bytes[..end];
            let mut validator = Validator::new(format, cut.len() as u64, Limits::default());
            let result = validator.feed(cut).and_then(|()| validator.finish());
            // MP3 frames end anywhere: a cut between whole frames is a shorter MP3.
            if format == Format::Mp3 && result.is_ok() {
                continue;
            }
            // The end of line after a PDF's %%EOF is optional.
            if format == Format::Pdf && bytes[end..].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            assert!(
                result.is_err(),
                "{name} cut at {end} of {} accepted: {result:?}",
                bytes.len()
            );
        }
    }
}

#[test]
fn the_declared_format_must_be_the_files() {
    assert_eq!(
        validate(Format::Png, &fixture("photo.jpg"), Limits::default()),
        Err(MediaError::NotThisFormat(Format::Png))
    );
    assert_eq!(
        validate(Format::Pdf, &fixture("audio.wav"), Limits::default()),
        Err(MediaError::NotThisFormat(Format::Pdf))
    );
    assert!(validate(Format::Mp3, &fixture("document.pdf"), Limits::default()).is_err());
    assert!(validate(Format::Heic, &fixture("video-h264.mp4"), Limits::default()).is_err());
    // Audio is not video, and video is not audio.
    assert!(matches!(
        validate(
            Format::M4a,
            &fixture("video-h264-aac-end-moov.mp4"),
            Limits::default()
        ),
        Err(MediaError::Unsupported(_))
    ));
    assert!(validate(Format::Mp4, &fixture("audio-aac.m4a"), Limits::default()).is_err());
}

#[test]
fn a_video_codec_other_than_h264_or_h265_is_not_accepted() {
    let result = validate(Format::Mp4, &fixture("video-mpeg4-part2.mp4"), Limits::default());
    assert!(
        matches!(result, Err(MediaError::Unsupported(ref m)) if m.contains("mp4v")),
        "{result:?}"
    );
}

#[test]
fn bytes_after_the_end_are_noticed_or_refused() {
    // Formats with an end marker report what follows it.
    for (name, format) in [
        ("photo.jpg", Format::Jpeg),
        ("photo.png", Format::Png),
        ("document.pdf", Format::Pdf),
        ("audio.mp3", Format::Mp3),
        ("audio.wav", Format::Wav),
    ] {
        let mut bytes = fixture(name);
        bytes.extend_from_slice(b"PK\x03\x04 a zip archive hiding behind");
        let facts = validate(format, &bytes, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(facts.trailing_bytes, "{name}");
    }
    // A PDF after a JPEG: flagged as trailing.
    let mut polyglot = fixture("photo.jpg");
    polyglot.extend_from_slice(&fixture("document.pdf"));
    assert!(
        validate(Format::Jpeg, &polyglot, Limits::default())
            .unwrap()
            .trailing_bytes
    );
    // ISO-BMFF boxes must tile the file: anything appended is refused.
    for (name, format) in [
        ("video-h264.mp4", Format::Mp4),
        ("photo.heic", Format::Heic),
        ("audio-aac.m4a", Format::M4a),
    ] {
        let mut bytes = fixture(name);
        bytes.extend_from_slice(b"PK\x03\x04 a zip archive hiding behind");
        assert!(validate(format, &bytes, Limits::default()).is_err(), "{name}");
    }
}

/// An ISO-BMFF box.
fn bmff_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

#[test]
fn hostile_boxes_are_refused_before_anything_is_allocated() {
    let ftyp = bmff_box(b"ftyp", b"isom\0\0\0\0isom");
    // Nested far deeper than the limit.
    let mut nested = bmff_box(b"free", b"");
    for _ in 0..40 {
        nested = bmff_box(b"trak", &nested);
    }
    let mut file = ftyp.clone();
    file.extend_from_slice(&bmff_box(b"moov", &nested));
    assert!(matches!(
        validate(Format::Mp4, &file, Limits::default()),
        Err(MediaError::TooLarge(_))
    ));

    // A child larger than its parent.
    let mut file = ftyp.clone();
    let mut moov = bmff_box(b"moov", &bmff_box(b"trak", b""));
    moov[11] = 0xFF; // the trak's size, past the moov
    file.extend_from_slice(&moov);
    assert!(matches!(
        validate(Format::Mp4, &file, Limits::default()),
        Err(MediaError::Corrupt(_))
    ));

    // A box that claims 4 GiB in a small file.
    let mut file = ftyp.clone();
    file.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xF0, b'm', b'd', b'a', b't', 1, 2, 3]);
    assert!(validate(Format::Mp4, &file, Limits::default()).is_err());

    // A box smaller than its own header (the classic endless loop).
    let mut file = ftyp.clone();
    file.extend_from_slice(&[0, 0, 0, 0x04, b'f', b'r', b'e', b'e']);
    assert!(validate(Format::Mp4, &file, Limits::default()).is_err());

    // A header box too big to read whole.
    let mut file = ftyp.clone();
    file.extend_from_slice(&bmff_box(b"moov", &bmff_box(b"mvhd", &vec![0; 2 * 1024 * 1024])));
    assert!(matches!(
        validate(Format::Mp4, &file, Limits::default()),
        Err(MediaError::TooLarge(_))
    ));

    // Millions of empty boxes: the count limit.
    let limits = Limits {
        parts_max: 1000,
        ..Limits::default()
    };
    let mut file = ftyp;
    for _ in 0..2000 {
        file.extend_from_slice(&bmff_box(b"free", b""));
    }
    assert!(matches!(
        validate(Format::Mp4, &file, limits),
        Err(MediaError::TooLarge(_))
    ));
}

#[test]
fn declared_dimensions_over_the_limits_are_refused_from_the_header() {
    let small = Limits {
        pixels_max: 1000,
        ..Limits::default()
    };
    for (name, format) in [
        ("photo.jpg", Format::Jpeg),
        ("photo.png", Format::Png),
        ("photo.heic", Format::Heic),
        ("video-h264.mp4", Format::Mp4),
    ] {
        let bytes = fixture(name);
        // The header alone is enough to refuse.
        let mut validator = Validator::new(format, bytes.len() as u64, small);
        let early = validator.feed(&bytes[..bytes.len().min(1500)]);
        let result = early.and_then(|()| validator.feed(&bytes[bytes.len().min(1500)..]));
        assert!(
            matches!(result, Err(MediaError::TooLarge(_))),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn damaged_insides_are_refused() {
    // A PNG byte flipped inside a chunk: its CRC.
    let mut png = fixture("photo.png");
    let middle = png.len() / 2;
    png[middle] ^= 0x40;
    assert!(validate(Format::Png, &png, Limits::default()).is_err());
    // A PDF whose startxref points elsewhere.
    let pdf = String::from_utf8_lossy(&fixture("document.pdf")).replace("startxref\n", "startxref\n1");
    assert!(validate(Format::Pdf, pdf.as_bytes(), Limits::default()).is_err());
    // A PDF of an unknown version.
    let mut pdf = fixture("document.pdf");
    pdf[5] = b'9';
    assert!(matches!(
        validate(Format::Pdf, &pdf, Limits::default()),
        Err(MediaError::Unsupported(_))
    ));
    // A WAV whose RIFF size is larger than the file.
    let mut wav = fixture("audio.wav");
    wav[4] = wav[4].wrapping_add(100);
    assert!(validate(Format::Wav, &wav, Limits::default()).is_err());
    // An MP3 frame header broken in the middle of the file.
    let mp3 = fixture("audio.mp3");
    let facts = validate(Format::Mp3, &mp3, Limits::default()).unwrap();
    let mut broken = mp3.clone();
    let second_frame = (1..mp3.len())
        .find(|&i| mp3[i] == 0xFF && mp3[i + 1] & 0xE0 == 0xE0 && i > 200)
        .unwrap();
    broken[second_frame + 1] = 0x00;
    let after = validate(Format::Mp3, &broken, Limits::default());
    assert!(
        after.is_err()
            || after
                .as_ref()
                .is_ok_and(|f| f.trailing_bytes && f.duration_ms < facts.duration_ms),
        "{after:?}"
    );
}
