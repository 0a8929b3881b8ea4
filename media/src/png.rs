//! PNG (ISO/IEC 15948 §5): the signature, then chunks — length, type, data,
//! CRC over type and data — with IHDR first (its dimensions checked against
//! the limits when it arrives), IDAT present, IEND last.

use crate::driver::{be32, Machine, Step, READ_MAX};
use crate::facts::{check_pixels, corrupt, count_part, Facts, Limits, MediaError};
use crate::format::Format;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Signature,
    ChunkHeader,
    /// A small chunk's data and CRC, read whole.
    Whole([u8; 4]),
    /// A large chunk's data, hashed as it passes.
    Data([u8; 4], u64),
    /// A large chunk's CRC.
    Crc([u8; 4]),
}

pub(crate) struct Png {
    limits: Limits,
    state: State,
    facts: Facts,
    chunks: u64,
    crc: crc32fast::Hasher,
    data_seen: bool,
}

impl Png {
    pub(crate) fn start(limits: Limits) -> (Self, Step) {
        let machine = Self {
            limits,
            state: State::Signature,
            facts: Facts::default(),
            chunks: 0,
            crc: crc32fast::Hasher::new(),
            data_seen: false,
        };
        (machine, Step::Read(SIGNATURE.len()))
    }

    /// A chunk is over (its CRC checked): what next.
    fn chunk_done(&mut self, kind: [u8; 4], data: Option<&[u8]>) -> Result<Step, MediaError> {
        match &kind {
            b"IHDR" => {
                let data = data.unwrap_or_default();
                if data.len() != 13 {
                    return Err(corrupt("PNG IHDR is not 13 bytes"));
                }
                check_pixels(be32(data, 0), be32(data, 4), &self.limits)?;
                self.facts.width = be32(data, 0);
                self.facts.height = be32(data, 4);
            }
            b"eXIf" if self.facts.exif.is_none() => self.facts.exif = data.map(<[u8]>::to_vec),
            b"IDAT" => self.data_seen = true,
            b"IEND" => {
                if !self.data_seen {
                    return Err(corrupt("PNG has no image data (IDAT)"));
                }
                return Ok(Step::Done);
            }
            _ => {}
        }
        self.state = State::ChunkHeader;
        Ok(Step::Read(8))
    }
}

impl Machine for Png {
    fn read(&mut self, bytes: &[u8], _at: u64) -> Result<Step, MediaError> {
        match self.state {
            State::Signature => {
                if bytes != SIGNATURE {
                    return Err(MediaError::NotThisFormat(Format::Png));
                }
                self.state = State::ChunkHeader;
                Ok(Step::Read(8))
            }
            State::ChunkHeader => {
                let length = be32(bytes, 0);
                let kind: [u8; 4] = [bytes[4], bytes[5], bytes[6], bytes[7]];
                count_part(&mut self.chunks, &self.limits, "PNG chunks")?;
                if length > 0x7FFF_FFFF {
                    return Err(corrupt("PNG chunk length over 2^31 - 1"));
                }
                if !kind.iter().all(u8::is_ascii_alphabetic) {
                    return Err(corrupt("PNG chunk type is not four letters"));
                }
                if self.chunks == 1 && &kind != b"IHDR" {
                    return Err(corrupt("PNG does not start with IHDR"));
                }
                if &kind == b"IHDR" && self.chunks != 1 {
                    return Err(corrupt("PNG has a second IHDR"));
                }
                let length = u64::from(length);
                let keep = matches!(&kind, b"IHDR" | b"eXIf" | b"IEND");
                if keep && length + 4 <= READ_MAX as u64 {
                    self.state = State::Whole(kind);
                    return Ok(Step::Read(length as usize + 4));
                }
                self.crc = crc32fast::Hasher::new();
                self.crc.update(&kind);
                if length == 0 {
                    self.state = State::Crc(kind);
                    return Ok(Step::Read(4));
                }
                self.state = State::Data(kind, length);
                Ok(Step::Scan)
            }
            State::Whole(kind) => {
                let (data, crc) = bytes.split_at(bytes.len() - 4);
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(&kind);
                hasher.update(data);
                if hasher.finalize() != be32(crc, 0) {
                    return Err(corrupt(format!(
                        "PNG {} chunk CRC",
                        String::from_utf8_lossy(&kind)
                    )));
                }
                self.chunk_done(kind, Some(data))
            }
            State::Crc(kind) => {
                let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new());
                if crc.finalize() != be32(bytes, 0) {
                    return Err(corrupt(format!(
                        "PNG {} chunk CRC",
                        String::from_utf8_lossy(&kind)
                    )));
                }
                self.chunk_done(kind, None)
            }
            State::Data(..) => Err(corrupt("PNG state")),
        }
    }

    fn skipped(&mut self, _at: u64) -> Result<Step, MediaError> {
        Err(corrupt("PNG state"))
    }

    fn scan(&mut self, bytes: &[u8], _at: u64) -> Result<(usize, Option<Step>), MediaError> {
        let State::Data(kind, left) = self.state else {
            return Err(corrupt("PNG state"));
        };
        let take = left.min(bytes.len() as u64) as usize;
        self.crc.update(&bytes[..take]);
        if left == take as u64 {
            self.state = State::Crc(kind);
            Ok((take, Some(Step::Read(4))))
        } else {
            self.state = State::Data(kind, left - take as u64);
            Ok((take, None))
        }
    }

    fn finish(&mut self, step: Step, _at: u64, trailing: bool) -> Result<Facts, MediaError> {
        if step != Step::Done {
            return Err(corrupt("PNG ends before IEND"));
        }
        let mut facts = std::mem::take(&mut self.facts);
        facts.trailing_bytes = trailing;
        Ok(facts)
    }
}
