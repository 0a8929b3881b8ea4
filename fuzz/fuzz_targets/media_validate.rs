//! The upload validators as uploads get them: any bytes as each format,
//! fed in chunks of a size the input picks — typed errors, no panic, no
//! unbounded allocation, and the same answer as the whole file fed at once.
#![no_main]

use fieldlink_media::{validate, Format, Limits, Validator};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, chunk, rest @ ..] = data else {
        return;
    };
    let format = Format::ALL[usize::from(*pick) % Format::ALL.len()];
    let chunk = usize::from(*chunk).max(1);
    let limits = Limits {
        pixels_max: 4096 * 4096,
        ..Limits::default()
    };
    let whole = validate(format, rest, limits);
    let mut validator = Validator::new(format, rest.len() as u64, limits);
    let mut chunked = Ok(());
    for piece in rest.chunks(chunk) {
        chunked = validator.feed(piece);
        if chunked.is_err() {
            break;
        }
    }
    let chunked = chunked.and_then(|()| validator.finish());
    assert_eq!(whole, chunked, "{format:?} in {chunk}-byte chunks");
});
