//! Image validation as uploads get it: magic bytes, a decode under limits,
//! the end marker — typed errors, no panic, no unbounded allocation.
#![no_main]

use fieldlink_protocol::photo::ContentType;
use fieldlink_server::evidence::image_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = image_check::check(data, ContentType::Jpeg);
    let _ = image_check::check(data, ContentType::Png);
    let _ = image_check::jpeg_end(data);
    let _ = image_check::png_end(data);
});
