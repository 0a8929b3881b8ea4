//! Compiles `proto/fieldlink/v1/*.proto` with protox (a pure-Rust protobuf
//! compiler), so building needs no system `protoc`, then generates the prost
//! types and their proto3 JSON mapping (pbjson).

use std::path::PathBuf;

use prost::Message;

const PROTO_FILES: &[&str] = &[
    "fieldlink/v1/status.proto",
    "fieldlink/v1/session.proto",
    "fieldlink/v1/inspection.proto",
    "fieldlink/v1/receipt.proto",
    "fieldlink/v1/photo.proto",
    "fieldlink/v1/service.proto",
    "fieldlink/v1/interview.proto",
    "fieldlink/v1/case.proto",
    "fieldlink/v1/assignment.proto",
    "fieldlink/v1/log.proto",
    "fieldlink/v1/incident.proto",
    "fieldlink/v1/reference.proto",
    "fieldlink/v1/position.proto",
    "fieldlink/v1/request.proto",
];

/// Messages with a password or a bearer token in them.
const SECRET_BEARING: [&str; 3] = [
    ".fieldlink.v1.Welcome",
    ".fieldlink.v1.PasswordSignIn",
    ".fieldlink.v1.TokenSignIn",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTO_FILES, ["proto"])?;
    let descriptor_bytes = descriptors.encode_to_vec();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("fieldlink_descriptor.bin"), &descriptor_bytes)?;

    prost_build::Config::new()
        .btree_map(["."])
        // Messages that carry secrets get a hand-written Debug that hides
        // them (src/redact.rs): `{welcome:?}` in a log must not leak a token.
        .skip_debug(SECRET_BEARING)
        .compile_fds(descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".fieldlink"])?;
    Ok(())
}
