//! One validator per upload, whatever its format.

use crate::bmff::Bmff;
use crate::driver::Driver;
use crate::facts::{Facts, Limits, MediaError};
use crate::format::Format;
use crate::jpeg::Jpeg;
use crate::mp3::Mp3;
use crate::pdf::Pdf;
use crate::png::Png;
use crate::wav::Wav;

enum Inner {
    Jpeg(Driver<Jpeg>),
    Png(Driver<Png>),
    Bmff(Driver<Bmff>),
    Wav(Driver<Wav>),
    Mp3(Driver<Mp3>),
    Pdf(Driver<Pdf>),
}

/// Checks a file of a declared format as its bytes arrive: feed every
/// chunk in order with [`Validator::feed`] (which refuses as early as the
/// bytes allow), then [`Validator::finish`]. Memory stays bounded whatever
/// the file's size (a few header parts, a PDF's object offsets).
pub struct Validator {
    inner: Inner,
    /// The first refusal; everything after it is ignored.
    failed: Option<MediaError>,
}

impl Validator {
    /// A validator for a file of `format` that is `total_bytes` long.
    pub fn new(format: Format, total_bytes: u64, limits: Limits) -> Self {
        let inner = match format {
            Format::Jpeg => {
                let (machine, first) = Jpeg::start(limits);
                Inner::Jpeg(Driver::new(machine, first))
            }
            Format::Png => {
                let (machine, first) = Png::start(limits);
                Inner::Png(Driver::new(machine, first))
            }
            Format::Heic | Format::Mp4 | Format::QuickTime | Format::M4a => {
                let (machine, first) = Bmff::start(format, total_bytes, limits);
                Inner::Bmff(Driver::new(machine, first))
            }
            Format::Wav => {
                let (machine, first) = Wav::start(limits);
                Inner::Wav(Driver::new(machine, first))
            }
            Format::Mp3 => {
                let (machine, first) = Mp3::start(limits);
                Inner::Mp3(Driver::new(machine, first))
            }
            Format::Pdf => {
                let (machine, first) = Pdf::start(limits);
                Inner::Pdf(Driver::new(machine, first))
            }
        };
        Self { inner, failed: None }
    }

    /// The next chunk of the file. An error is final: the file is refused.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = match &mut self.inner {
            Inner::Jpeg(driver) => driver.feed(chunk),
            Inner::Png(driver) => driver.feed(chunk),
            Inner::Bmff(driver) => driver.feed(chunk),
            Inner::Wav(driver) => driver.feed(chunk),
            Inner::Mp3(driver) => driver.feed(chunk),
            Inner::Pdf(driver) => driver.feed(chunk),
        };
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    /// The file ended: what it is, or why it is refused.
    pub fn finish(self) -> Result<Facts, MediaError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        match self.inner {
            Inner::Jpeg(driver) => driver.finish(),
            Inner::Png(driver) => driver.finish(),
            Inner::Bmff(driver) => driver.finish(),
            Inner::Wav(driver) => driver.finish(),
            Inner::Mp3(driver) => driver.finish(),
            Inner::Pdf(driver) => driver.finish(),
        }
    }
}

/// Checks a whole file held in memory (tests, tools): the same validator
/// fed in one chunk.
pub fn validate(format: Format, bytes: &[u8], limits: Limits) -> Result<Facts, MediaError> {
    let mut validator = Validator::new(format, bytes.len() as u64, limits);
    validator.feed(bytes)?;
    validator.finish()
}
