//! EXIF reading of anything a terminal might send: facts or "unreadable".
#![no_main]

use fieldlink_server::evidence::exif_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let facts = exif_check::read(data, 480);
    if let Some((lat, lon)) = facts.position {
        assert!(lat.abs() <= 90.0 && lon.abs() <= 180.0);
    }
});
