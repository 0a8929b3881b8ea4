//! Framing (HJ 212-2017 §6.3): `##`, the data segment's length as four
//! decimal digits, the data segment, its CRC as four hexadecimal digits,
//! and CR LF. A reader calls [`split_frame`] on what it has buffered; an
//! error means the stream can no longer be trusted to be in step.

use crate::crc::crc16;

/// The standard's maximum data segment length (§6.3.1: 0–1024 bytes).
pub const SEGMENT_LEN_MAX: usize = 1024;

/// Bytes around the data segment: `##`, four length digits, four CRC digits, CR LF.
pub const FRAME_OVERHEAD: usize = 2 + 4 + 4 + 2;

/// Why bytes are not a packet. Each closes the connection: after one of
/// these the reader cannot tell where the next packet starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The packet does not start with `##`.
    #[error("packet does not start with ##")]
    MissingHeader,
    /// The four length characters are not decimal digits.
    #[error("length field is not four decimal digits")]
    BadLength,
    /// The declared data segment is longer than allowed.
    #[error("data segment of {declared} bytes, more than {max}")]
    TooLong {
        /// What the packet declared.
        declared: usize,
        /// The limit.
        max: usize,
    },
    /// The four CRC characters are not hexadecimal digits.
    #[error("CRC field is not four hexadecimal digits")]
    BadCrcField,
    /// The packet does not end with CR LF where its length says it ends.
    #[error("packet does not end with CR LF where its length says")]
    MissingTerminator,
}

/// One framed packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// The whole packet as received, `##` to CR LF.
    pub bytes: &'a [u8],
    /// The data segment.
    pub segment: &'a [u8],
    /// The CRC the packet declared.
    pub declared_crc: u16,
}

impl RawPacket<'_> {
    /// Whether the declared CRC is the data segment's.
    pub fn crc_matches(&self) -> bool {
        crc16(self.segment) == self.declared_crc
    }
}

/// What [`split_frame`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed<'a> {
    /// Not enough bytes yet (nothing wrong so far).
    Incomplete,
    /// A whole packet; it is `packet.bytes.len()` bytes long.
    Packet(RawPacket<'a>),
}

/// Finds the packet at the start of `buffer`, checking the frame as far as
/// the bytes go, so that garbage is refused as soon as it shows, not after
/// a declared length's worth of it has been read.
pub fn split_frame(buffer: &[u8], segment_len_max: usize) -> Result<Framed<'_>, FrameError> {
    if buffer.iter().take(2).any(|&byte| byte != b'#') {
        return Err(FrameError::MissingHeader);
    }
    let length_field = &buffer[buffer.len().min(2)..buffer.len().min(6)];
    if !length_field.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::BadLength);
    }
    if length_field.len() < 4 {
        return Ok(Framed::Incomplete);
    }
    let declared = length_field
        .iter()
        .fold(0usize, |sum, digit| sum * 10 + usize::from(digit - b'0'));
    if declared > segment_len_max {
        return Err(FrameError::TooLong {
            declared,
            max: segment_len_max,
        });
    }
    let crc_start = 6 + declared;
    let crc_field = &buffer[buffer.len().min(crc_start)..buffer.len().min(crc_start + 4)];
    if !crc_field.iter().all(u8::is_ascii_hexdigit) {
        return Err(FrameError::BadCrcField);
    }
    let tail = &buffer[buffer.len().min(crc_start + 4)..buffer.len().min(crc_start + 6)];
    if !b"\r\n".starts_with(tail) {
        return Err(FrameError::MissingTerminator);
    }
    if tail.len() < 2 {
        return Ok(Framed::Incomplete);
    }
    let declared_crc = crc_field
        .iter()
        .fold(0u16, |crc, digit| (crc << 4) | u16::from(hex_value(*digit)));
    Ok(Framed::Packet(RawPacket {
        bytes: &buffer[..crc_start + 6],
        segment: &buffer[6..crc_start],
        declared_crc,
    }))
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Frames a data segment: `##`, its length, the segment, its CRC, CR LF.
/// A segment over 9999 bytes has no length field and is refused.
pub fn encode_frame(segment: &str) -> Result<Vec<u8>, FrameError> {
    if segment.len() > 9999 {
        return Err(FrameError::TooLong {
            declared: segment.len(),
            max: 9999,
        });
    }
    let mut packet = Vec::with_capacity(segment.len() + FRAME_OVERHEAD);
    packet.extend_from_slice(format!("##{:04}", segment.len()).as_bytes());
    packet.extend_from_slice(segment.as_bytes());
    packet.extend_from_slice(format!("{:04X}\r\n", crc16(segment.as_bytes())).as_bytes());
    Ok(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

    #[test]
    fn the_standards_example_frames_and_checks() {
        let Framed::Packet(packet) = split_frame(EXAMPLE, SEGMENT_LEN_MAX).unwrap() else {
            panic!("not a packet");
        };
        assert_eq!(packet.bytes, EXAMPLE);
        assert_eq!(packet.segment.len(), 101);
        assert_eq!(packet.declared_crc, 0x1C80);
        assert!(packet.crc_matches());
        let again = encode_frame(std::str::from_utf8(packet.segment).unwrap()).unwrap();
        assert_eq!(again, EXAMPLE);
    }

    #[test]
    fn every_prefix_is_incomplete_and_what_follows_is_left() {
        for end in 0..EXAMPLE.len() {
            assert_eq!(
                split_frame(&EXAMPLE[..end], SEGMENT_LEN_MAX),
                Ok(Framed::Incomplete),
                "prefix {end}"
            );
        }
        let mut two = EXAMPLE.to_vec();
        two.extend_from_slice(EXAMPLE);
        let Framed::Packet(packet) = split_frame(&two, SEGMENT_LEN_MAX).unwrap() else {
            panic!("not a packet");
        };
        assert_eq!(packet.bytes.len(), EXAMPLE.len());
    }

    #[test]
    fn a_lower_case_crc_is_read_and_a_wrong_one_is_seen() {
        let lower = String::from_utf8(EXAMPLE.to_vec())
            .unwrap()
            .replace("1C80", "1c80");
        let Framed::Packet(packet) = split_frame(lower.as_bytes(), SEGMENT_LEN_MAX).unwrap() else {
            panic!("not a packet");
        };
        assert!(packet.crc_matches());
        let wrong = String::from_utf8(EXAMPLE.to_vec())
            .unwrap()
            .replace("1C80", "1C81");
        let Framed::Packet(packet) = split_frame(wrong.as_bytes(), SEGMENT_LEN_MAX).unwrap() else {
            panic!("not a packet");
        };
        assert!(!packet.crc_matches());
    }
}
