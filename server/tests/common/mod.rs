//! Helpers shared by the tests that run the server binary as a child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fieldlink_client::{ClientConfig, Credentials, RetryPolicy};
use sha2::{Digest, Sha256};

/// A free loopback UDP address.
pub fn free_addr() -> SocketAddr {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

pub fn certs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev")
}

/// Starts `fieldlink-server serve --dev` on `addr` storing in `data`, plus `extra` flags; returns once it listens.
pub fn spawn(data: &Path, addr: SocketAddr, extra: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .args([
            "serve",
            "--dev",
            "--http",
            "127.0.0.1:0",
            // Several nodes at once: no fixed HJ 212 port.
            "--hj212",
            "127.0.0.1:0",
            "--listen",
            &addr.to_string(),
            "--data-dir",
        ])
        .arg(data)
        .args(["--upload-checkpoint-bytes", "65536"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout).lines().next();
    assert!(
        matches!(&line, Some(Ok(text)) if text.contains("listening on")),
        "the server did not start: {line:?}"
    );
    child
}

pub fn terminal(addr: SocketAddr, device: &str, officer: &str) -> ClientConfig {
    let certs = certs_dir();
    let mut config = ClientConfig::from_files(
        addr,
        "localhost",
        &certs.join("ca.pem"),
        &certs.join(format!("{device}.pem")),
        &certs.join(format!("{device}.key")),
        Credentials::Password {
            officer_id: officer.into(),
            password: "demo-password".into(),
        },
    )
    .unwrap();
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(10);
    config.idle_timeout = Duration::from_secs(3);
    config.keep_alive = Duration::from_millis(500);
    config.retry = RetryPolicy {
        attempts_max: 200,
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
    };
    config
}

/// A small real JPEG, different per seed.
pub fn jpeg(seed: u64) -> Vec<u8> {
    let image = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8, y as u8, seed as u8]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .unwrap();
    // Pad to ~200 KB with comment segments so uploads span checkpoints.
    let mut padded = out[..2].to_vec();
    for _ in 0..3 {
        padded.extend_from_slice(&[0xFF, 0xFE, 0xFF, 0xFF]);
        padded.extend(std::iter::repeat_n((seed % 251) as u8, 0xFFFD));
    }
    padded.extend_from_slice(&out[2..]);
    padded
}

/// Checks that every blob in the evidence store under `data` is named by its
/// content's SHA-256; returns how many there are.
pub fn blobs_named_by_content(data: &Path) -> usize {
    let blobs = data.join("evidence/blobs");
    let mut count = 0;
    for shard in std::fs::read_dir(&blobs).unwrap() {
        let shard = shard.unwrap();
        if shard.file_name() == "tmp" {
            continue;
        }
        for blob in std::fs::read_dir(shard.path()).unwrap() {
            let blob = blob.unwrap();
            let bytes = std::fs::read(blob.path()).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                blob.file_name().to_string_lossy()
            );
            count += 1;
        }
    }
    count
}
