//! include/fieldlink.h is what cbindgen generates from the sources now: an
//! app built against the committed header calls the functions this library
//! exports. `FIELDLINK_BLESS=1 cargo test -p fieldlink-client-ffi --test
//! header` rewrites it after a change.

use std::path::Path;

#[test]
fn the_committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    // From lib.rs, following its `mod` declarations.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = dir.join("include/fieldlink.h");
    if std::env::var_os("FIELDLINK_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/fieldlink.h is stale: run FIELDLINK_BLESS=1 cargo test -p fieldlink-client-ffi --test header"
    );
}
