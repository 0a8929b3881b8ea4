//! PDF (ISO 32000): the header (`%PDF-1.0` to `%PDF-2.0`) at the start; the
//! last `startxref` pointing at the start of an `xref` table or of an
//! object (a cross-reference stream) seen at a line start; `%%EOF` at the
//! end. The body is looked at line by line as it passes: only where lines
//! start with `xref` or `N G obj` is remembered, and the last KiB.

use crate::driver::{Machine, Step};
use crate::facts::{corrupt, Facts, Limits, MediaError};
use crate::format::Format;

/// How much of a line start is kept to recognise it.
const LINE_PREFIX: usize = 24;
/// How much of the end is kept for the trailer.
const TAIL: usize = 1024;

pub(crate) struct Pdf {
    limits: Limits,
    /// Offsets of lines starting `xref` or `N G obj`, ascending.
    anchors: Vec<u64>,
    line_start: u64,
    line: Vec<u8>,
    tail: Vec<u8>,
}

impl Pdf {
    pub(crate) fn start(limits: Limits) -> (Self, Step) {
        let machine = Self {
            limits,
            anchors: Vec::new(),
            line_start: 0,
            line: Vec::with_capacity(LINE_PREFIX),
            tail: Vec::with_capacity(2 * TAIL),
        };
        (machine, Step::Read(8))
    }

    fn line_ended(&mut self) -> Result<(), MediaError> {
        if self.line.starts_with(b"xref") || is_object_header(&self.line) {
            if self.anchors.len() >= self.limits.pdf_objects_max {
                return Err(MediaError::TooLarge(format!(
                    "more than {} PDF objects",
                    self.limits.pdf_objects_max
                )));
            }
            self.anchors.push(self.line_start);
        }
        self.line.clear();
        Ok(())
    }
}

/// `N G obj`: digits, whitespace, digits, whitespace, `obj`.
fn is_object_header(line: &[u8]) -> bool {
    let mut rest = line;
    for _ in 0..2 {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let spaces = rest[digits..]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        if digits == 0 || spaces == 0 {
            return false;
        }
        rest = &rest[digits + spaces..];
    }
    rest.starts_with(b"obj")
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'\x0C' | b'\0')
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

impl Machine for Pdf {
    fn read(&mut self, bytes: &[u8], _at: u64) -> Result<Step, MediaError> {
        let Some(version) = bytes.strip_prefix(b"%PDF-") else {
            return Err(MediaError::NotThisFormat(Format::Pdf));
        };
        match version {
            [b'1', b'.', b'0'..=b'7'] | b"2.0" => {}
            _ => {
                return Err(MediaError::Unsupported(format!(
                    "PDF version {}",
                    String::from_utf8_lossy(version)
                )))
            }
        }
        self.line.extend_from_slice(bytes);
        self.tail.extend_from_slice(bytes);
        Ok(Step::Scan)
    }

    fn skipped(&mut self, _at: u64) -> Result<Step, MediaError> {
        Err(corrupt("PDF state"))
    }

    fn scan(&mut self, bytes: &[u8], at: u64) -> Result<(usize, Option<Step>), MediaError> {
        let mut position = 0;
        while position < bytes.len() {
            let rest = &bytes[position..];
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    let room = LINE_PREFIX.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&rest[..end.min(room)]);
                    self.line_ended()?;
                    position += end + 1;
                    self.line_start = at + position as u64;
                }
                None => {
                    let room = LINE_PREFIX.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&rest[..rest.len().min(room)]);
                    position = bytes.len();
                }
            }
        }
        let keep = bytes.len().min(TAIL);
        self.tail.extend_from_slice(&bytes[bytes.len() - keep..]);
        if self.tail.len() > TAIL {
            self.tail.drain(..self.tail.len() - TAIL);
        }
        Ok((bytes.len(), None))
    }

    fn finish(&mut self, step: Step, at: u64, _trailing: bool) -> Result<Facts, MediaError> {
        if step != Step::Scan {
            return Err(corrupt("PDF shorter than its header"));
        }
        self.line_ended()?;
        let tail = self.tail.as_slice();
        let eof = find_last(tail, b"%%EOF").ok_or_else(|| corrupt("PDF does not end with %%EOF"))?;
        let trailing = !tail[eof + 5..].iter().all(|&b| is_space(b));
        let startxref =
            find_last(&tail[..eof], b"startxref").ok_or_else(|| corrupt("PDF without startxref"))?;
        let number = tail[startxref + 9..eof]
            .iter()
            .filter(|&&b| !is_space(b))
            .map(|&b| b as char)
            .collect::<String>();
        let offset: u64 = number
            .parse()
            .map_err(|_| corrupt(format!("PDF startxref '{number}' is not an offset")))?;
        if offset >= at || self.anchors.binary_search(&offset).is_err() {
            return Err(corrupt(format!(
                "PDF startxref {offset} points at no cross-reference table or stream"
            )));
        }
        Ok(Facts {
            trailing_bytes: trailing,
            ..Facts::default()
        })
    }
}
