//! WAV (RIFF WAVE): the RIFF header, whose size must cover the file, then
//! chunks — id, little-endian size, data, a pad byte when the size is odd —
//! with `fmt ` before `data`.

use crate::driver::{le16, le32, Machine, Step};
use crate::facts::{corrupt, count_part, Facts, Limits, MediaError};
use crate::format::Format;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Riff,
    ChunkHeader,
    Format,
    Skipping,
}

pub(crate) struct Wav {
    limits: Limits,
    state: State,
    /// Where the RIFF chunk ends.
    end: u64,
    chunks: u64,
    byte_rate: Option<u32>,
    data_bytes: Option<u64>,
    facts: Facts,
}

impl Wav {
    pub(crate) fn start(limits: Limits) -> (Self, Step) {
        let machine = Self {
            limits,
            state: State::Riff,
            end: 0,
            chunks: 0,
            byte_rate: None,
            data_bytes: None,
            facts: Facts::default(),
        };
        (machine, Step::Read(12))
    }

    fn next_chunk(&mut self, at: u64) -> Step {
        self.state = State::ChunkHeader;
        if at >= self.end {
            Step::Done
        } else {
            Step::Read(8)
        }
    }
}

impl Machine for Wav {
    fn read(&mut self, bytes: &[u8], at: u64) -> Result<Step, MediaError> {
        match self.state {
            State::Riff => {
                if !bytes.starts_with(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
                    return Err(MediaError::NotThisFormat(Format::Wav));
                }
                self.end = 8 + u64::from(le32(bytes, 4));
                if self.end < 12 {
                    return Err(corrupt("RIFF size under 4"));
                }
                Ok(self.next_chunk(12))
            }
            State::ChunkHeader => {
                count_part(&mut self.chunks, &self.limits, "RIFF chunks")?;
                let id = [bytes[0], bytes[1], bytes[2], bytes[3]];
                let size = u64::from(le32(bytes, 4));
                let padded = size + (size & 1);
                let end = at + 8 + padded;
                // The last chunk's pad byte is often left out.
                if end > self.end && at + 8 + size != self.end {
                    return Err(corrupt(format!(
                        "RIFF chunk '{}' overflows the file",
                        String::from_utf8_lossy(&id)
                    )));
                }
                let padded = padded.min(self.end - at - 8);
                match &id {
                    b"fmt " => {
                        if !(16..=1024).contains(&size) || self.byte_rate.is_some() {
                            return Err(corrupt("WAV 'fmt ' chunk"));
                        }
                        self.state = State::Format;
                        Ok(Step::Read(padded as usize))
                    }
                    b"data" => {
                        if self.byte_rate.is_none() {
                            return Err(corrupt("WAV 'data' before 'fmt '"));
                        }
                        if self.data_bytes.is_some() {
                            return Err(corrupt("a second WAV 'data' chunk"));
                        }
                        self.data_bytes = Some(size);
                        self.state = State::Skipping;
                        Ok(Step::Skip(padded))
                    }
                    _ => {
                        self.state = State::Skipping;
                        Ok(Step::Skip(padded))
                    }
                }
            }
            State::Format => {
                let format_tag = le16(bytes, 0);
                let channels = le16(bytes, 2);
                let sample_rate = le32(bytes, 4);
                let byte_rate = le32(bytes, 8);
                // PCM, IEEE float, A-law, µ-law, extensible.
                if ![1, 3, 6, 7, 0xFFFE].contains(&format_tag) {
                    return Err(MediaError::Unsupported(format!("WAV format tag {format_tag:#x}")));
                }
                if channels == 0 || sample_rate == 0 || byte_rate == 0 {
                    return Err(corrupt("WAV format with no channels or rate"));
                }
                self.byte_rate = Some(byte_rate);
                self.facts.audio_codec = Some(if format_tag == 3 { "float" } else { "pcm" }.into());
                Ok(self.next_chunk(at + bytes.len() as u64))
            }
            State::Skipping => Err(corrupt("WAV state")),
        }
    }

    fn skipped(&mut self, at: u64) -> Result<Step, MediaError> {
        Ok(self.next_chunk(at))
    }

    fn finish(&mut self, step: Step, _at: u64, trailing: bool) -> Result<Facts, MediaError> {
        if step != Step::Done {
            return Err(corrupt("WAV ends before its RIFF size"));
        }
        let (Some(rate), Some(data)) = (self.byte_rate, self.data_bytes) else {
            return Err(corrupt("WAV without 'fmt ' and 'data'"));
        };
        let mut facts = std::mem::take(&mut self.facts);
        facts.duration_ms = Some(data.saturating_mul(1000) / u64::from(rate));
        facts.trailing_bytes = trailing;
        Ok(facts)
    }
}
