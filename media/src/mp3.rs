//! MP3 (MPEG-1/2/2.5 audio, ISO/IEC 11172-3 and 13818-3): an optional ID3v2
//! tag, then frames back to back — each header valid (sync, version,
//! layer, bitrate, sample rate), each frame's length from its header, all
//! with the first frame's version, layer and sample rate — and an optional
//! ID3v1 tag. Anything else after the frames is reported as trailing.

use crate::driver::{Machine, Step};
use crate::facts::{corrupt, count_part, Facts, Limits, MediaError};
use crate::format::Format;

const BITRATES_KBPS: [[u16; 15]; 5] = [
    // MPEG-1 layer I, II, III
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    // MPEG-2 and 2.5 layer I; layers II and III
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// What a frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    /// 1 (MPEG-1), 2 (MPEG-2), 25 (MPEG-2.5).
    version: u8,
    layer: u8,
    sample_rate: u32,
    length: u64,
    samples: u64,
}

fn frame(header: &[u8]) -> Option<Frame> {
    let [0xFF, b1, b2, _] = *header else {
        return None;
    };
    if b1 & 0xE0 != 0xE0 {
        return None;
    }
    let version = match (b1 >> 3) & 0b11 {
        0b00 => 25,
        0b10 => 2,
        0b11 => 1,
        _ => return None,
    };
    let layer = match (b1 >> 1) & 0b11 {
        0b11 => 1,
        0b10 => 2,
        0b01 => 3,
        _ => return None,
    };
    let bitrate_index = usize::from(b2 >> 4);
    let rate_index = usize::from((b2 >> 2) & 0b11);
    let padding = u64::from((b2 >> 1) & 1);
    // Free-format (0) and the reserved index (15) are not accepted.
    if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    let table = match (version, layer) {
        (1, layer) => usize::from(layer - 1),
        (_, 1) => 3,
        _ => 4,
    };
    let bitrate = u64::from(BITRATES_KBPS[table][bitrate_index]) * 1000;
    let base = [44_100u32, 48_000, 32_000][rate_index];
    let sample_rate = match version {
        1 => base,
        2 => base / 2,
        _ => base / 4,
    };
    let rate = u64::from(sample_rate);
    let (length, samples) = match (layer, version) {
        (1, _) => ((12 * bitrate / rate + padding) * 4, 384),
        (2, _) | (3, 1) => (144 * bitrate / rate + padding, 1152),
        _ => (72 * bitrate / rate + padding, 576),
    };
    Some(Frame {
        version,
        layer,
        sample_rate,
        length,
        samples,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Id3Rest,
    Id3Skip,
    FrameHeader,
    FrameBody,
    Id3v1,
}

pub(crate) struct Mp3 {
    limits: Limits,
    state: State,
    first: Option<Frame>,
    frames: u64,
    samples: u64,
    trailing: bool,
}

impl Mp3 {
    pub(crate) fn start(limits: Limits) -> (Self, Step) {
        let machine = Self {
            limits,
            state: State::Start,
            first: None,
            frames: 0,
            samples: 0,
            trailing: false,
        };
        (machine, Step::Read(4))
    }

    fn frame_header(&mut self, bytes: &[u8]) -> Result<Step, MediaError> {
        let Some(frame) = frame(bytes) else {
            if self.frames == 0 {
                return Err(if self.state == State::Start {
                    MediaError::NotThisFormat(Format::Mp3)
                } else {
                    corrupt("no MPEG audio frame after the ID3 tag")
                });
            }
            if bytes.starts_with(b"TAG") {
                self.state = State::Id3v1;
                return Ok(Step::Read(124));
            }
            self.trailing = true;
            return Ok(Step::Done);
        };
        if let Some(first) = self.first {
            if (first.version, first.layer, first.sample_rate)
                != (frame.version, frame.layer, frame.sample_rate)
            {
                return Err(corrupt("an MPEG audio frame unlike the first"));
            }
        }
        count_part(&mut self.frames, &self.limits, "MPEG audio frames")?;
        self.first.get_or_insert(frame);
        self.samples += frame.samples;
        self.state = State::FrameBody;
        Ok(Step::Skip(frame.length.saturating_sub(4)))
    }
}

impl Machine for Mp3 {
    fn read(&mut self, bytes: &[u8], _at: u64) -> Result<Step, MediaError> {
        match self.state {
            State::Start if bytes.starts_with(b"ID3") => {
                if bytes[3] == 0xFF {
                    return Err(corrupt("ID3v2 version"));
                }
                self.state = State::Id3Rest;
                Ok(Step::Read(6))
            }
            State::Start | State::FrameHeader => self.frame_header(bytes),
            State::Id3Rest => {
                let flags = bytes[1];
                let size = &bytes[2..6];
                if size.iter().any(|&b| b & 0x80 != 0) {
                    return Err(corrupt("ID3v2 size is not synchsafe"));
                }
                let size = size.iter().fold(0u64, |total, &b| (total << 7) | u64::from(b));
                let footer = if flags & 0x10 != 0 { 10 } else { 0 };
                self.state = State::Id3Skip;
                Ok(Step::Skip(size + footer))
            }
            State::Id3v1 => Ok(Step::Done),
            State::Id3Skip | State::FrameBody => Err(corrupt("MP3 state")),
        }
    }

    fn skipped(&mut self, _at: u64) -> Result<Step, MediaError> {
        self.state = State::FrameHeader;
        Ok(Step::Read(4))
    }

    fn finish(&mut self, step: Step, _at: u64, trailing: bool) -> Result<Facts, MediaError> {
        let clean = step == Step::Done || (step == Step::Read(4) && self.state == State::FrameHeader);
        if !clean {
            return Err(corrupt("MP3 ends inside a frame or tag"));
        }
        let Some(first) = self.first else {
            return Err(corrupt("MP3 without audio frames"));
        };
        Ok(Facts {
            duration_ms: Some(self.samples * 1000 / u64::from(first.sample_rate)),
            audio_codec: Some("mp3".into()),
            trailing_bytes: trailing || self.trailing,
            ..Facts::default()
        })
    }
}
