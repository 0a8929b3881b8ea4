//! Feeds chunks of any size to a format's state machine, which asks for
//! what it needs next: a few bytes whole, bytes to pass over, or a run of
//! bytes to look at as they come. Only what is asked for whole is buffered,
//! and no machine asks for more than [`READ_MAX`] at once.

use crate::facts::{corrupt, Facts, MediaError};

/// Most bytes a machine may ask for whole (a JPEG segment, an ISO-BMFF
/// header box, a WAV `fmt ` chunk).
pub(crate) const READ_MAX: usize = 1024 * 1024;

/// What a machine wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Exactly this many bytes, handed over together.
    Read(usize),
    /// This many bytes passed over unseen (sizes already checked).
    Skip(u64),
    /// Bytes as they arrive, handed to [`Machine::scan`].
    Scan,
    /// The format ended; anything after is trailing.
    Done,
}

/// A format's state machine.
pub(crate) trait Machine {
    /// The bytes of a [`Step::Read`], which started at offset `at`.
    fn read(&mut self, bytes: &[u8], at: u64) -> Result<Step, MediaError>;
    /// A [`Step::Skip`] ended at offset `at`.
    fn skipped(&mut self, at: u64) -> Result<Step, MediaError>;
    /// Bytes in [`Step::Scan`] starting at offset `at`: how many were used,
    /// and the next step when the run is over.
    fn scan(&mut self, _bytes: &[u8], _at: u64) -> Result<(usize, Option<Step>), MediaError> {
        Err(corrupt("unexpected data"))
    }
    /// The input ended at offset `at` while waiting for `step`.
    fn finish(&mut self, step: Step, at: u64, trailing: bool) -> Result<Facts, MediaError>;
}

/// Runs a machine over chunks.
pub(crate) struct Driver<M> {
    machine: M,
    step: Step,
    buffer: Vec<u8>,
    at: u64,
    trailing: bool,
}

impl<M: Machine> Driver<M> {
    pub(crate) fn new(machine: M, first: Step) -> Self {
        Self {
            machine,
            step: first,
            buffer: Vec::new(),
            at: 0,
            trailing: false,
        }
    }

    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), MediaError> {
        self.settle()?;
        while !data.is_empty() {
            match self.step {
                Step::Read(want) => {
                    let take = (want - self.buffer.len()).min(data.len());
                    let (now, rest) = data.split_at(take);
                    self.buffer.extend_from_slice(now);
                    data = rest;
                    self.at += take as u64;
                    if self.buffer.len() == want {
                        let bytes = std::mem::take(&mut self.buffer);
                        let next = self.machine.read(&bytes, self.at - want as u64);
                        self.buffer = bytes;
                        self.buffer.clear();
                        self.step = next?;
                        self.settle()?;
                    }
                }
                Step::Skip(left) => {
                    let take = left.min(data.len() as u64);
                    data = data.get(take as usize..).unwrap_or_default();
                    self.at += take;
                    self.step = Step::Skip(left - take);
                    self.settle()?;
                }
                Step::Scan => {
                    let (used, next) = self.machine.scan(data, self.at)?;
                    let used = used.min(data.len());
                    data = data.get(used..).unwrap_or_default();
                    self.at += used as u64;
                    match next {
                        Some(step) => {
                            self.step = step;
                            self.settle()?;
                        }
                        None if used == 0 => return Err(corrupt("the validator stalled")),
                        None => {}
                    }
                }
                Step::Done => {
                    self.trailing = true;
                    self.at += data.len() as u64;
                    data = &[];
                }
            }
        }
        Ok(())
    }

    /// Runs the steps that need no input (empty reads and skips).
    fn settle(&mut self) -> Result<(), MediaError> {
        loop {
            self.step = match self.step {
                Step::Read(0) => self.machine.read(&[], self.at)?,
                Step::Skip(0) => self.machine.skipped(self.at)?,
                Step::Read(want) if want > READ_MAX => {
                    return Err(MediaError::TooLarge(format!("a {want}-byte header part")))
                }
                _ => return Ok(()),
            };
        }
    }

    pub(crate) fn finish(mut self) -> Result<Facts, MediaError> {
        self.settle()?;
        if !self.buffer.is_empty() {
            return Err(corrupt("the file ends inside a header"));
        }
        self.machine.finish(self.step, self.at, self.trailing)
    }
}

/// Big-endian u16 at `at` of `bytes` (0 past the end: callers check lengths).
pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Big-endian u32 at `at`.
pub(crate) fn be32(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Big-endian u64 at `at`.
pub(crate) fn be64(bytes: &[u8], at: usize) -> u64 {
    (u64::from(be32(bytes, at)) << 32) | u64::from(be32(bytes, at + 4))
}

/// Little-endian u16 at `at`.
pub(crate) fn le16(bytes: &[u8], at: usize) -> u16 {
    be16(bytes, at).swap_bytes()
}

/// Little-endian u32 at `at`.
pub(crate) fn le32(bytes: &[u8], at: usize) -> u32 {
    be32(bytes, at).swap_bytes()
}
