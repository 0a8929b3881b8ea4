//! Frame headers and whole frames: any bytes give a header, "need more",
//! or a typed error — never a panic, never an allocation beyond the limit.
#![no_main]

use fieldlink_protocol::frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for limit in [0u32, 1, 1024, 1 << 20, u32::MAX] {
        if let Ok(Some(header)) = frame::decode_header(data, limit) {
            assert!(header.body_bytes <= limit);
            assert!(header.prefix_bytes <= frame::VARINT_BYTES_MAX);
        }
        if let Ok(body) = frame::decode_whole(data, limit) {
            assert!(body.len() <= limit as usize);
        }
    }
});
