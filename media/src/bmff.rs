//! ISO base media files (ISO/IEC 14496-12): MP4, QuickTime MOV, M4A, HEIC.
//! Boxes are size-prefixed and nest; every box must end inside its parent
//! and the top-level boxes must tile the file exactly. The boxes that say
//! what the file holds are read whole (small: `ftyp`, `mvhd`, `tkhd`,
//! `mdhd`, `hdlr`, `stsd`, `ispe`); media data and everything else is
//! passed over by its size.

use crate::driver::{be16, be32, be64, Machine, Step, READ_MAX};
use crate::facts::{check_pixels, corrupt, count_part, Facts, Limits, MediaError};
use crate::format::Format;

/// Seconds from 1904-01-01 (the ISO-BMFF epoch) to 1970-01-01.
const EPOCH_1904_TO_1970_S: u64 = 2_082_844_800;

/// Boxes whose children are read.
const CONTAINERS: [&[u8; 4]; 13] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf", b"mfra",
    b"iprp", b"ipco",
];

/// Boxes read whole.
const READ_WHOLE: [&[u8; 4]; 7] = [b"ftyp", b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"stsd", b"ispe"];

/// HEIF brands (ISO/IEC 23008-12).
const HEIF_BRANDS: [&[u8; 4]; 6] = [b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"];

/// Accepted video codecs: H.264 (`avc1`, `avc3`), H.265 (`hvc1`, `hev1`).
const VIDEO_CODECS: [&str; 4] = ["avc1", "avc3", "hvc1", "hev1"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    LargeSize([u8; 4], u64),
    /// A full box's version and flags, before its children (`meta`).
    FullBoxPrefix,
    Payload([u8; 4]),
    Skipping,
}

#[derive(Debug, Default, Clone)]
struct Track {
    handler: Option<[u8; 4]>,
    codec: Option<String>,
    width: u32,
    height: u32,
}

struct Open {
    kind: [u8; 4],
    end: u64,
}

pub(crate) struct Bmff {
    format: Format,
    limits: Limits,
    total: u64,
    state: State,
    stack: Vec<Open>,
    boxes: u64,
    brands: Vec<[u8; 4]>,
    moov: u32,
    mdat: bool,
    meta: bool,
    tracks: Vec<Track>,
    current: Option<Track>,
    facts: Facts,
    image_size: Option<(u32, u32)>,
}

impl Bmff {
    pub(crate) fn start(format: Format, total: u64, limits: Limits) -> (Self, Step) {
        let machine = Self {
            format,
            limits,
            total,
            state: State::Header,
            stack: Vec::new(),
            boxes: 0,
            brands: Vec::new(),
            moov: 0,
            mdat: false,
            meta: false,
            tracks: Vec::new(),
            current: None,
            facts: Facts::default(),
            image_size: None,
        };
        (machine, Step::Read(8))
    }

    fn parent_end(&self) -> u64 {
        self.stack.last().map_or(self.total, |open| open.end)
    }

    /// A box of `kind` ends at `end`, its payload from `payload_at`.
    fn open(&mut self, kind: [u8; 4], end: u64, payload_at: u64) -> Result<Step, MediaError> {
        count_part(&mut self.boxes, &self.limits, "boxes")?;
        if self.boxes == 1 && &kind != b"ftyp" {
            return Err(MediaError::NotThisFormat(self.format));
        }
        if end > self.parent_end() || end < payload_at {
            return Err(corrupt(format!("box '{}' overflows its parent", name(&kind))));
        }
        if !kind.iter().all(|&b| (0x20..=0x7E).contains(&b) || b == 0xA9) {
            return Err(corrupt("a box type that is not a four-character code"));
        }
        let top = self.stack.is_empty();
        if top && &kind == b"ftyp" && self.boxes != 1 {
            return Err(corrupt("a second 'ftyp' box"));
        }
        let payload = end - payload_at;
        match &kind {
            b"moov" if top => self.moov += 1,
            b"mdat" if top => self.mdat = true,
            b"trak" => {
                if self.tracks.len() >= 64 {
                    return Err(MediaError::TooLarge("more than 64 tracks".into()));
                }
                self.current = Some(Track::default());
            }
            _ => {}
        }
        let descend = CONTAINERS.contains(&&kind) || (&kind == b"meta" && top);
        if descend {
            if self.stack.len() >= self.limits.depth_max {
                return Err(MediaError::TooLarge(format!(
                    "boxes nested over {} deep",
                    self.limits.depth_max
                )));
            }
            self.stack.push(Open { kind, end });
            if &kind == b"meta" {
                if payload < 4 {
                    return Err(corrupt("'meta' box shorter than its version and flags"));
                }
                self.meta = true;
                self.state = State::FullBoxPrefix;
                return Ok(Step::Read(4));
            }
            // A container with no children closes at once.
            self.close_ended(payload_at);
            return self.next_header();
        }
        if READ_WHOLE.contains(&&kind) {
            if payload > READ_MAX as u64 {
                return Err(MediaError::TooLarge(format!(
                    "a {payload}-byte '{}' box",
                    name(&kind)
                )));
            }
            self.state = State::Payload(kind);
            return Ok(Step::Read(payload as usize));
        }
        self.state = State::Skipping;
        Ok(Step::Skip(payload))
    }

    /// The next box header.
    fn next_header(&mut self) -> Result<Step, MediaError> {
        self.state = State::Header;
        Ok(Step::Read(8))
    }

    /// Closes every open box that ends at `at`.
    fn close_ended(&mut self, at: u64) {
        while let Some(open) = self.stack.last() {
            if open.end != at {
                break;
            }
            if &open.kind == b"trak" {
                if let Some(track) = self.current.take() {
                    self.tracks.push(track);
                }
            }
            self.stack.pop();
        }
    }

    fn leaf(&mut self, kind: [u8; 4], payload: &[u8]) -> Result<(), MediaError> {
        let version = payload.first().copied().unwrap_or(0);
        match &kind {
            b"ftyp" => {
                if payload.len() < 8 || payload.len() % 4 != 0 {
                    return Err(corrupt("'ftyp' box size"));
                }
                self.brands = payload
                    .chunks_exact(4)
                    .enumerate()
                    .filter(|(index, _)| *index != 1) // the minor version
                    .filter_map(|(_, brand)| brand.try_into().ok())
                    .collect();
            }
            b"mvhd" => {
                let (created, timescale, duration) = match version {
                    0 if payload.len() >= 20 => (
                        u64::from(be32(payload, 4)),
                        be32(payload, 12),
                        u64::from(be32(payload, 16)),
                    ),
                    1 if payload.len() >= 32 => (be64(payload, 4), be32(payload, 20), be64(payload, 24)),
                    _ => return Err(corrupt("'mvhd' box")),
                };
                self.facts.created_at_ms = created
                    .checked_sub(EPOCH_1904_TO_1970_S)
                    .filter(|_| created != 0)
                    .and_then(|s| i64::try_from(s.saturating_mul(1000)).ok());
                if timescale > 0 {
                    let ms = u128::from(duration) * 1000 / u128::from(timescale);
                    self.facts.duration_ms = u64::try_from(ms).ok();
                }
            }
            b"tkhd" => {
                let at = if version == 1 { 88 } else { 76 };
                if payload.len() < at + 8 {
                    return Err(corrupt("'tkhd' box"));
                }
                if let Some(track) = self.current.as_mut() {
                    track.width = be32(payload, at) >> 16;
                    track.height = be32(payload, at + 4) >> 16;
                }
            }
            b"hdlr" => {
                if payload.len() < 12 {
                    return Err(corrupt("'hdlr' box"));
                }
                let handler = [payload[8], payload[9], payload[10], payload[11]];
                let parent = self.stack.last().map(|open| open.kind);
                if parent == Some(*b"mdia") {
                    if let Some(track) = self.current.as_mut() {
                        track.handler = Some(handler);
                    }
                }
            }
            b"stsd" => {
                if payload.len() < 16 || be32(payload, 4) == 0 {
                    return Err(corrupt("'stsd' box without a sample entry"));
                }
                let entry_size = be32(payload, 8) as usize;
                if entry_size < 8 || 8 + entry_size > payload.len() {
                    return Err(corrupt("'stsd' sample entry overflows its box"));
                }
                let codec = String::from_utf8_lossy(&payload[12..16]).into_owned();
                if let Some(track) = self.current.as_mut() {
                    if payload.len() >= 44 && track.handler == Some(*b"vide") {
                        if track.width == 0 {
                            track.width = u32::from(be16(payload, 40));
                        }
                        if track.height == 0 {
                            track.height = u32::from(be16(payload, 42));
                        }
                        // A frame size over the limits is refused as soon as it is declared.
                        check_pixels(track.width.max(1), track.height.max(1), &self.limits)?;
                    }
                    track.codec = Some(codec);
                }
            }
            b"ispe" => {
                if payload.len() < 12 {
                    return Err(corrupt("'ispe' box"));
                }
                let (width, height) = (be32(payload, 4), be32(payload, 8));
                check_pixels(width, height, &self.limits)?;
                let larger = self
                    .image_size
                    .is_none_or(|(w, h)| u64::from(width) * u64::from(height) > u64::from(w) * u64::from(h));
                if larger {
                    self.image_size = Some((width, height));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn conclude(&mut self) -> Result<Facts, MediaError> {
        let mut facts = std::mem::take(&mut self.facts);
        if self.format == Format::Heic {
            if !self.brands.iter().any(|brand| HEIF_BRANDS.contains(&brand)) {
                return Err(MediaError::NotThisFormat(Format::Heic));
            }
            if !self.meta {
                return Err(corrupt("HEIF without a 'meta' box"));
            }
            if !self.mdat {
                return Err(corrupt("HEIF without its image data ('mdat')"));
            }
            let (width, height) = self
                .image_size
                .ok_or_else(|| corrupt("HEIF without an image size ('ispe')"))?;
            facts.width = width;
            facts.height = height;
            return Ok(facts);
        }
        if self.moov != 1 {
            return Err(corrupt(format!("{} 'moov' boxes (one expected)", self.moov)));
        }
        if !self.mdat {
            return Err(corrupt("no media data ('mdat')"));
        }
        let handler_is = |track: &&Track, handler: &[u8; 4]| track.handler.as_ref() == Some(handler);
        let video: Vec<&Track> = self.tracks.iter().filter(|t| handler_is(t, b"vide")).collect();
        let audio: Vec<&Track> = self.tracks.iter().filter(|t| handler_is(t, b"soun")).collect();
        for track in &video {
            let codec = track.codec.as_deref().unwrap_or("none");
            if !VIDEO_CODECS.contains(&codec) {
                return Err(MediaError::Unsupported(format!(
                    "video codec '{codec}' (H.264 or H.265 expected)"
                )));
            }
            check_pixels(track.width.max(1), track.height.max(1), &self.limits)?;
        }
        if let Some(track) = video
            .iter()
            .max_by_key(|t| u64::from(t.width) * u64::from(t.height))
        {
            facts.width = track.width;
            facts.height = track.height;
            facts.video_codec = track.codec.clone();
        }
        facts.audio_codec = audio.first().and_then(|track| track.codec.clone());
        match self.format {
            Format::M4a => {
                if !video.is_empty() {
                    return Err(MediaError::Unsupported(
                        "audio/mp4 with a video track (upload it as video/mp4)".into(),
                    ));
                }
                match facts.audio_codec.as_deref() {
                    Some("mp4a") => {}
                    Some(other) => {
                        return Err(MediaError::Unsupported(format!(
                            "audio codec '{other}' (AAC expected)"
                        )))
                    }
                    None => return Err(corrupt("audio/mp4 without an audio track")),
                }
            }
            _ => {
                if video.is_empty() {
                    return Err(corrupt("video without a video track"));
                }
            }
        }
        Ok(facts)
    }
}

impl Machine for Bmff {
    fn read(&mut self, bytes: &[u8], at: u64) -> Result<Step, MediaError> {
        match self.state {
            State::Header => {
                let size = be32(bytes, 0);
                let kind = [bytes[4], bytes[5], bytes[6], bytes[7]];
                match size {
                    1 => {
                        self.state = State::LargeSize(kind, at);
                        Ok(Step::Read(8))
                    }
                    // To the end of the enclosing box (or file).
                    0 => {
                        let end = self.parent_end();
                        self.open(kind, end, at + 8)
                    }
                    size if size < 8 => Err(corrupt("a box smaller than its header")),
                    size => self.open(kind, at + u64::from(size), at + 8),
                }
            }
            State::LargeSize(kind, start) => {
                let size = be64(bytes, 0);
                if size < 16 {
                    return Err(corrupt("a box smaller than its header"));
                }
                let end = start.checked_add(size).ok_or_else(|| corrupt("box size"))?;
                self.open(kind, end, start + 16)
            }
            State::FullBoxPrefix => {
                let end = at + 4;
                self.close_ended(end);
                self.next_header()
            }
            State::Payload(kind) => {
                self.leaf(kind, bytes)?;
                self.close_ended(at + bytes.len() as u64);
                self.next_header()
            }
            State::Skipping => Err(corrupt("ISO-BMFF state")),
        }
    }

    fn skipped(&mut self, at: u64) -> Result<Step, MediaError> {
        self.close_ended(at);
        self.next_header()
    }

    fn finish(&mut self, step: Step, at: u64, _trailing: bool) -> Result<Facts, MediaError> {
        if step != Step::Read(8) || self.state != State::Header || !self.stack.is_empty() || at != self.total
        {
            return Err(corrupt("the file ends inside a box"));
        }
        if self.boxes == 0 {
            return Err(MediaError::NotThisFormat(self.format));
        }
        self.conclude()
    }
}

fn name(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}
