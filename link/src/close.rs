//! Connection close codes over HTTP/2.
//!
//! QUIC closes carry fieldlink's application codes (`close_code`) in their
//! own space. HTTP/2 GOAWAY codes share one space with the protocol's own
//! errors (0x0–0xd), so fieldlink's codes travel offset into a private
//! range: a terminal tells "device revoked" apart from an HTTP/2 error.

/// Where fieldlink's close codes start among HTTP/2 error codes ("FL").
const OFFSET: u32 = 0x464c_0000;

/// The HTTP/2 GOAWAY code that carries fieldlink close code `code`.
pub fn h2_reason_of(code: u32) -> u32 {
    OFFSET | (code & 0xffff)
}

/// The fieldlink close code an HTTP/2 GOAWAY code carries, if it carries one.
pub fn close_code_of(reason: u32) -> Option<u32> {
    (reason & 0xffff_0000 == OFFSET).then_some(reason & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_http2_codes_are_not_mistaken_for_them() {
        for code in 0..7 {
            assert_eq!(close_code_of(h2_reason_of(code)), Some(code));
        }
        for http2 in 0..=0xd {
            assert_eq!(close_code_of(http2), None);
        }
    }
}
