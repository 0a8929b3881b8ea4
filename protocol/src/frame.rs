//! Length-delimited frames: a varint length, then that many bytes of one
//! protobuf message.
//!
//! The length is checked against the frame limit before any buffer is
//! allocated (mini-redis checks "is a whole frame here?" first; we also refuse
//! a frame that could never fit). A stream that ends inside a frame is a
//! distinct error from one that announces too much.

use thiserror::Error;

/// The longest valid varint: 10 bytes encode any u64. An 11th continuation byte
/// is an error ("varint longer than 10 bytes", protobuf encoding spec).
pub const VARINT_BYTES_MAX: usize = 10;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The announced length exceeds the limit; nothing was buffered.
    #[error("frame of {announced_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge {
        /// What the length prefix announced.
        announced_bytes: u64,
        /// The limit in force.
        limit_bytes: u32,
    },
    /// The stream ended before the frame was complete.
    #[error("stream ended inside a frame ({received_bytes} of {expected_bytes} bytes received)")]
    Truncated {
        /// Bytes of the frame body (or header) received.
        received_bytes: u64,
        /// Bytes the frame needed; for a cut-off length prefix, the bytes seen so far + 1.
        expected_bytes: u64,
    },
    /// The length prefix is not a valid varint (more than 10 bytes, or over 64 bits).
    #[error("malformed frame length prefix")]
    MalformedLength,
    /// Bytes followed the one frame a stream may carry.
    #[error("{extra_bytes} unexpected bytes after the frame")]
    TrailingBytes {
        /// How many bytes followed.
        extra_bytes: u64,
    },
    /// The stream ended before any byte of a frame.
    #[error("stream ended before a frame")]
    Empty,
}

/// A complete, checked frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes the varint prefix occupies.
    pub prefix_bytes: usize,
    /// Bytes of the message body that follow.
    pub body_bytes: u32,
}

/// Encodes `message` as one frame: varint length + body.
///
/// The caller is responsible for the body fitting the peer's limit; see
/// [`encode_checked`] for the version that refuses.
pub fn encode(message: &impl prost::Message) -> Vec<u8> {
    let body_len = message.encoded_len();
    let mut out = Vec::with_capacity(body_len + VARINT_BYTES_MAX);
    // Writing into a Vec cannot run out of capacity.
    #[allow(clippy::expect_used)]
    message
        .encode_length_delimited(&mut out)
        .expect("Vec<u8> grows as needed");
    out
}

/// Encodes `message` as one frame, refusing a body larger than `limit_bytes`.
pub fn encode_checked(message: &impl prost::Message, limit_bytes: u32) -> Result<Vec<u8>, FrameError> {
    let body_len = message.encoded_len() as u64;
    if body_len > u64::from(limit_bytes) {
        return Err(FrameError::TooLarge {
            announced_bytes: body_len,
            limit_bytes,
        });
    }
    Ok(encode(message))
}

/// Frames bytes that are already an encoded message: varint length + `body`.
pub fn encode_raw(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + VARINT_BYTES_MAX);
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// Looks at the start of `buf` for a frame header.
///
/// Returns `Ok(None)` while more bytes are needed to know the length, and
/// `Ok(Some(header))` once the prefix is complete and within `limit_bytes`.
/// Allocates nothing.
pub fn decode_header(buf: &[u8], limit_bytes: u32) -> Result<Option<FrameHeader>, FrameError> {
    let mut value: u64 = 0;
    for (index, byte) in buf.iter().enumerate() {
        if index >= VARINT_BYTES_MAX {
            return Err(FrameError::MalformedLength);
        }
        let bits = u64::from(byte & 0x7f);
        // The 10th byte may only carry the top bit of a u64.
        if index == VARINT_BYTES_MAX - 1 && bits > 1 {
            return Err(FrameError::MalformedLength);
        }
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            if value > u64::from(limit_bytes) {
                return Err(FrameError::TooLarge {
                    announced_bytes: value,
                    limit_bytes,
                });
            }
            return Ok(Some(FrameHeader {
                prefix_bytes: index + 1,
                // Checked against a u32 limit just above.
                body_bytes: value as u32,
            }));
        }
    }
    if buf.len() >= VARINT_BYTES_MAX {
        return Err(FrameError::MalformedLength);
    }
    Ok(None)
}

/// Decodes exactly one frame occupying all of `buf`, for tests and tools.
///
/// Returns the body. Missing bytes are [`FrameError::Truncated`]; bytes after
/// the frame are [`FrameError::TrailingBytes`].
pub fn decode_whole(buf: &[u8], limit_bytes: u32) -> Result<&[u8], FrameError> {
    if buf.is_empty() {
        return Err(FrameError::Empty);
    }
    let header = match decode_header(buf, limit_bytes)? {
        Some(header) => header,
        None => {
            return Err(FrameError::Truncated {
                received_bytes: buf.len() as u64,
                expected_bytes: buf.len() as u64 + 1,
            })
        }
    };
    let end = header.prefix_bytes + header.body_bytes as usize;
    if buf.len() < end {
        return Err(FrameError::Truncated {
            received_bytes: (buf.len() - header.prefix_bytes) as u64,
            expected_bytes: u64::from(header.body_bytes),
        });
    }
    if buf.len() > end {
        return Err(FrameError::TrailingBytes {
            extra_bytes: (buf.len() - end) as u64,
        });
    }
    Ok(&buf[header.prefix_bytes..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    #[test]
    fn a_frame_round_trips() {
        let status = pb::Status {
            message: "hello".into(),
            ..Default::default()
        };
        let frame = encode(&status);
        let body = decode_whole(&frame, 1024).unwrap();
        let decoded: pb::Status = prost::Message::decode(body).unwrap();
        assert_eq!(decoded, status);
    }

    #[test]
    fn header_needs_more_bytes_until_the_varint_ends() {
        assert_eq!(decode_header(&[], 100), Ok(None));
        assert_eq!(decode_header(&[0x80], 1 << 20), Ok(None));
        assert_eq!(
            decode_header(&[0x80, 0x01], 1 << 20),
            Ok(Some(FrameHeader {
                prefix_bytes: 2,
                body_bytes: 128
            }))
        );
    }

    #[test]
    fn oversize_length_is_refused_from_the_prefix_alone() {
        // 2^32 announced; only the 5-byte prefix is present.
        let prefix = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert_eq!(
            decode_header(&prefix, 1024),
            Err(FrameError::TooLarge {
                announced_bytes: 1 << 32,
                limit_bytes: 1024
            })
        );
    }

    #[test]
    fn an_eleven_byte_varint_is_malformed() {
        let prefix = [0xff; 11];
        assert_eq!(decode_header(&prefix, u32::MAX), Err(FrameError::MalformedLength));
        // Ten continuation bytes already prove it.
        assert_eq!(
            decode_header(&prefix[..10], u32::MAX),
            Err(FrameError::MalformedLength)
        );
    }

    #[test]
    fn a_tenth_byte_over_one_bit_is_malformed() {
        let mut prefix = [0xff; 10];
        prefix[9] = 0x02;
        assert_eq!(decode_header(&prefix, u32::MAX), Err(FrameError::MalformedLength));
    }

    #[test]
    fn truncated_and_empty_are_distinct() {
        let frame = encode_raw(b"abcdef");
        assert_eq!(
            decode_whole(&frame[..4], 100),
            Err(FrameError::Truncated {
                received_bytes: 3,
                expected_bytes: 6
            })
        );
        assert_eq!(decode_whole(&[], 100), Err(FrameError::Empty));
    }

    #[test]
    fn a_length_exactly_at_the_limit_is_accepted_and_one_more_refused() {
        // Limits of every prefix width, including the widest u32 limit.
        for limit in [0u32, 1, 127, 128, 16_383, 16_384, 1 << 20, u32::MAX - 1] {
            let mut at = Vec::new();
            prost::encoding::encode_varint(u64::from(limit), &mut at);
            assert_eq!(
                decode_header(&at, limit),
                Ok(Some(FrameHeader {
                    prefix_bytes: at.len(),
                    body_bytes: limit
                })),
                "limit {limit}"
            );
            let mut over = Vec::new();
            prost::encoding::encode_varint(u64::from(limit) + 1, &mut over);
            assert_eq!(
                decode_header(&over, limit),
                Err(FrameError::TooLarge {
                    announced_bytes: u64::from(limit) + 1,
                    limit_bytes: limit
                }),
                "limit {limit}"
            );
        }
        // u32::MAX itself: accepted at the widest limit, refused one below.
        let mut max = Vec::new();
        prost::encoding::encode_varint(u64::from(u32::MAX), &mut max);
        assert_eq!(
            decode_header(&max, u32::MAX),
            Ok(Some(FrameHeader {
                prefix_bytes: 5,
                body_bytes: u32::MAX
            }))
        );
    }

    #[test]
    fn a_whole_frame_at_the_limit_decodes_and_one_byte_over_is_refused() {
        let body = vec![7u8; 300];
        assert_eq!(decode_whole(&encode_raw(&body), 300), Ok(body.as_slice()));
        let longer = vec![7u8; 301];
        assert_eq!(
            decode_whole(&encode_raw(&longer), 300),
            Err(FrameError::TooLarge {
                announced_bytes: 301,
                limit_bytes: 300
            })
        );
        assert_eq!(
            decode_whole(&[encode_raw(&body), vec![0]].concat(), 300),
            Err(FrameError::TrailingBytes { extra_bytes: 1 })
        );
    }

    #[test]
    fn varint_edges_decode_as_protobuf_defines_them() {
        // Zero-length frame: one byte of prefix.
        assert_eq!(
            decode_header(&[0x00], 10),
            Ok(Some(FrameHeader {
                prefix_bytes: 1,
                body_bytes: 0
            }))
        );
        // 127 fits one byte, 128 needs two.
        assert_eq!(
            decode_header(&[0x7f], 1000).map(|h| h.map(|h| h.prefix_bytes)),
            Ok(Some(1))
        );
        // Non-minimal encodings are valid varints (protobuf accepts them):
        // zero padded to ten bytes is still zero.
        let mut padded = [0x80u8; 10];
        padded[9] = 0x00;
        assert_eq!(
            decode_header(&padded, 10),
            Ok(Some(FrameHeader {
                prefix_bytes: 10,
                body_bytes: 0
            }))
        );
        // The largest ten-byte varint (u64::MAX) is well formed but too large.
        let mut largest = [0xffu8; 10];
        largest[9] = 0x01;
        assert_eq!(
            decode_header(&largest, u32::MAX),
            Err(FrameError::TooLarge {
                announced_bytes: u64::MAX,
                limit_bytes: u32::MAX
            })
        );
        // Bytes after the prefix do not change the header.
        assert_eq!(
            decode_header(&[0x05, 0xff, 0xff], 10),
            Ok(Some(FrameHeader {
                prefix_bytes: 1,
                body_bytes: 5
            }))
        );
        // Nine continuation bytes: still waiting for the tenth.
        assert_eq!(decode_header(&[0x80; 9], u32::MAX), Ok(None));
    }

    #[test]
    fn encode_checked_accepts_a_body_of_exactly_the_limit() {
        let status = pb::Status {
            message: "x".repeat(100),
            ..Default::default()
        };
        let exact = prost::Message::encoded_len(&status) as u32;
        assert_eq!(encode_checked(&status, exact), Ok(encode(&status)));
        assert!(matches!(
            encode_checked(&status, exact - 1),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_cut_off_prefix_and_trailing_bytes_report_their_counts() {
        // Two bytes of a prefix that needs three.
        assert_eq!(
            decode_whole(&[0x80, 0x80], 1 << 30),
            Err(FrameError::Truncated {
                received_bytes: 2,
                expected_bytes: 3
            })
        );
        // A body of 300 bytes (two-byte prefix) and three extra bytes.
        let frame = [encode_raw(&[1u8; 300]), vec![9, 9, 9]].concat();
        assert_eq!(
            decode_whole(&frame, 1000),
            Err(FrameError::TrailingBytes { extra_bytes: 3 })
        );
        // A body cut short after a two-byte prefix.
        let cut = &encode_raw(&[1u8; 300])[..102];
        assert_eq!(
            decode_whole(cut, 1000),
            Err(FrameError::Truncated {
                received_bytes: 100,
                expected_bytes: 300
            })
        );
    }

    #[test]
    fn encode_checked_refuses_a_body_over_the_limit() {
        let status = pb::Status {
            message: "x".repeat(100),
            ..Default::default()
        };
        assert!(matches!(
            encode_checked(&status, 10),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(encode_checked(&status, 1000).is_ok());
    }
}
