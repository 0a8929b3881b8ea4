//! Writes seed corpora for the fuzz targets into fuzz/corpus/<target>/.
//! `cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds`

use std::path::Path;

use fieldlink_protocol::frame;
use fieldlink_protocol::pb::{self, request::Body};
use prost::Message;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() {
    let now = 1_800_000_000_000 - 60_000;
    let record = fieldlink_protocol::inspection::example_record("officer-01", now);
    let request = pb::Request {
        body: Some(Body::SubmitInspection(record.clone())), capture: None,
    };
    write("frame_decode", "inspection", &frame::encode(&request));
    write("frame_decode", "oversize", &[0x80, 0x80, 0x80, 0x80, 0x08]);
    write("request_validate", "inspection", &request.encode_to_vec());
    let service = fieldlink_protocol::service::example_service("officer-01", "CASE", now);
    write(
        "request_validate",
        "service",
        &pb::Request {
            body: Some(Body::SubmitService(service)), capture: None,
        }
        .encode_to_vec(),
    );
    let interview =
        fieldlink_protocol::interview::example_interview(["officer-01", "officer-02"], "CASE", now);
    write(
        "request_validate",
        "interview",
        &pb::Request {
            body: Some(Body::SubmitInterview(interview)), capture: None,
        }
        .encode_to_vec(),
    );
    // A minimal valid PNG and a JPEG-looking start, for the image targets.
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0,
        0, 0, 1, 8, 0, 0, 0, 0, 0x3A, 0x7E, 0x9B, 0x55, 0, 0, 0, 10, b'I', b'D', b'A', b'T', 0x78, 0x9C,
        0x63, 0x60, 0, 0, 0, 2, 0, 1, 0xE5, 0x27, 0xDE, 0xFC, 0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42,
        0x60, 0x82,
    ];
    write("media_validate", "pixel.png", &[&[1u8, 64][..], png].concat());
    write("exif_read", "pixel.png", png);
    let jpeg_exif: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x16, b'E', b'x', b'i', b'f', 0, 0, b'I', b'I', 0x2A, 0, 8, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0xFF, 0xD9,
    ];
    write("media_validate", "exif.jpg", &[&[0u8, 64][..], jpeg_exif].concat());
    // The media crate's real files, each behind its format's index and a chunk size.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../media/tests/fixtures");
    for (index, format) in fieldlink_media::Format::ALL.into_iter().enumerate() {
        for entry in std::fs::read_dir(fixtures).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if fieldlink_media::Format::sniff(&bytes) == Some(format) {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                write("media_validate", &name, &[&[index as u8, 61][..], &bytes[..]].concat());
            }
        }
    }
    write("exif_read", "exif.jpg", jpeg_exif);
    println!("seeds written under fuzz/corpus/");
}
