//! JPEG (ITU T.81 Annex B): SOI, marker segments, entropy-coded data after
//! each SOS up to the next marker, EOI. The frame header's dimensions are
//! checked against the limits when it arrives.

use crate::driver::{be16, Machine, Step};
use crate::facts::{check_pixels, corrupt, count_part, Facts, Limits, MediaError};
use crate::format::Format;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Soi,
    /// Expecting 0xFF, the start of a marker.
    MarkerStart,
    /// After 0xFF: the marker code (or another fill 0xFF).
    MarkerCode,
    /// A segment's length, after marker `code`.
    Length(u8),
    /// A segment's payload.
    Payload(u8),
    /// Entropy-coded data.
    Entropy,
}

pub(crate) struct Jpeg {
    limits: Limits,
    state: State,
    facts: Facts,
    segments: u64,
    frame_seen: bool,
    scan_seen: bool,
    /// In entropy-coded data, the last byte was 0xFF.
    pending_ff: bool,
}

impl Jpeg {
    pub(crate) fn start(limits: Limits) -> (Self, Step) {
        let machine = Self {
            limits,
            state: State::Soi,
            facts: Facts::default(),
            segments: 0,
            frame_seen: false,
            scan_seen: false,
            pending_ff: false,
        };
        (machine, Step::Read(2))
    }

    /// What follows marker `code`.
    fn marker(&mut self, code: u8) -> Result<Step, MediaError> {
        count_part(&mut self.segments, &self.limits, "JPEG segments")?;
        match code {
            0xD9 => {
                if !self.frame_seen || !self.scan_seen {
                    return Err(corrupt("JPEG ends before its image data"));
                }
                Ok(Step::Done)
            }
            0x01 | 0xD0..=0xD7 => {
                self.state = State::MarkerStart;
                Ok(Step::Read(1))
            }
            0x00 | 0xD8 => Err(corrupt(format!("JPEG marker 0xFF{code:02X} out of place"))),
            _ => {
                self.state = State::Length(code);
                Ok(Step::Read(2))
            }
        }
    }

    fn segment(&mut self, code: u8, payload: &[u8]) -> Result<Step, MediaError> {
        match code {
            // Start of frame, every coding process (not DHT C4, JPG C8, DAC CC).
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                if payload.len() < 6 {
                    return Err(corrupt("JPEG frame header too short"));
                }
                let height = u32::from(be16(payload, 1));
                let width = u32::from(be16(payload, 3));
                check_pixels(width, height, &self.limits)?;
                if !self.frame_seen {
                    self.facts.width = width;
                    self.facts.height = height;
                }
                self.frame_seen = true;
            }
            0xE1 if self.facts.exif.is_none() => {
                if let Some(tiff) = payload.strip_prefix(b"Exif\0\0") {
                    self.facts.exif = Some(tiff.to_vec());
                }
            }
            0xDA => {
                if !self.frame_seen {
                    return Err(corrupt("JPEG scan before its frame header"));
                }
                self.scan_seen = true;
                self.state = State::Entropy;
                self.pending_ff = false;
                return Ok(Step::Scan);
            }
            _ => {}
        }
        self.state = State::MarkerStart;
        Ok(Step::Read(1))
    }
}

impl Machine for Jpeg {
    fn read(&mut self, bytes: &[u8], _at: u64) -> Result<Step, MediaError> {
        match self.state {
            State::Soi => {
                if bytes != [0xFF, 0xD8] {
                    return Err(MediaError::NotThisFormat(Format::Jpeg));
                }
                self.state = State::MarkerStart;
                Ok(Step::Read(1))
            }
            State::MarkerStart => {
                if bytes != [0xFF] {
                    return Err(corrupt("JPEG segment not followed by a marker"));
                }
                self.state = State::MarkerCode;
                Ok(Step::Read(1))
            }
            State::MarkerCode => match bytes {
                // Fill bytes before a marker (T.81 B.1.1.2).
                [0xFF] => Ok(Step::Read(1)),
                [code] => self.marker(*code),
                _ => Err(corrupt("JPEG marker")),
            },
            State::Length(code) => {
                let length = be16(bytes, 0);
                if length < 2 {
                    return Err(corrupt("JPEG segment length under 2"));
                }
                self.state = State::Payload(code);
                Ok(Step::Read(usize::from(length - 2)))
            }
            State::Payload(code) => self.segment(code, bytes),
            State::Entropy => Err(corrupt("JPEG state")),
        }
    }

    fn skipped(&mut self, _at: u64) -> Result<Step, MediaError> {
        Err(corrupt("JPEG state"))
    }

    fn scan(&mut self, bytes: &[u8], _at: u64) -> Result<(usize, Option<Step>), MediaError> {
        let mut position = 0;
        while position < bytes.len() {
            if self.pending_ff {
                let byte = bytes[position];
                position += 1;
                match byte {
                    // A stuffed zero, a restart marker, a fill byte.
                    0x00 | 0xD0..=0xD7 => self.pending_ff = false,
                    0xFF => {}
                    code => {
                        self.pending_ff = false;
                        return Ok((position, Some(self.marker(code)?)));
                    }
                }
            } else {
                match bytes[position..].iter().position(|&byte| byte == 0xFF) {
                    Some(found) => {
                        position += found + 1;
                        self.pending_ff = true;
                    }
                    None => position = bytes.len(),
                }
            }
        }
        Ok((position, None))
    }

    fn finish(&mut self, step: Step, _at: u64, trailing: bool) -> Result<Facts, MediaError> {
        if step != Step::Done {
            return Err(corrupt("JPEG ends before EOI"));
        }
        let mut facts = std::mem::take(&mut self.facts);
        facts.trailing_bytes = trailing;
        Ok(facts)
    }
}
