//! Crash and restart under load: the server is killed with SIGKILL at
//! varied moments while terminals submit records and photos; after it
//! comes back each time, everything any terminal holds a receipt for is
//! stored, byte-exact, once.
//!
//! CI runs 20 kills. The long run is
//! `FIELDLINK_CRASH_KILLS=300 cargo test -p fieldlink-server --test crash -- --nocapture`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldlink_client::{Client, ClientConfig, Credentials, PhotoUpload, RetryPolicy};
use sha2::{Digest, Sha256};

fn certs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev")
}

fn spawn(data: &Path, addr: SocketAddr) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldlink-server"))
        .args(["serve", "--dev", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data)
        .args(["--upload-checkpoint-bytes", "65536"])
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

fn terminal(addr: SocketAddr, device: &str, officer: &str) -> ClientConfig {
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
fn jpeg(seed: u64) -> Vec<u8> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_repeated_sigkills() {
    let kills: u64 = std::env::var("FIELDLINK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut server = spawn(data.path(), addr);

    // Receipts the terminals hold: item id → (server seq, sha256 hex).
    let receipts: Arc<Mutex<HashMap<String, (u64, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut terminals = Vec::new();
    for (index, (device, officer)) in [
        ("device-001", "officer-01"),
        ("device-002", "officer-02"),
        ("device-003", "officer-03"),
    ]
    .into_iter()
    .enumerate()
    {
        let client = Client::new(terminal(addr, device, officer)).unwrap();
        let (receipts, stop) = (receipts.clone(), stop.clone());
        terminals.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let record =
                    fieldlink_protocol::inspection::example_record(officer, fieldlink_client::now_ms());
                if let Ok(receipt) = client.submit_inspection(&record).await {
                    receipts.lock().unwrap().insert(
                        receipt.item_id.clone(),
                        (receipt.server_seq, hex::encode(&receipt.sha256)),
                    );
                }
                sent += 1;
                if sent % 3 == 0 {
                    let bytes = jpeg(sent * 10 + index as u64);
                    let photo =
                        PhotoUpload::new(&record.id, "image/jpeg", fieldlink_client::now_ms() - 1000, bytes);
                    if let Ok(receipt) = client.upload_photo(&photo, |_| {}).await {
                        receipts.lock().unwrap().insert(
                            receipt.item_id.clone(),
                            (receipt.server_seq, hex::encode(&receipt.sha256)),
                        );
                    }
                }
            }
            client.close().await;
        }));
    }

    for kill in 0..kills {
        tokio::time::sleep(Duration::from_millis(150 + (kill * 97) % 600)).await;
        server.kill().unwrap();
        server.wait().unwrap();
        server = spawn(data.path(), addr);
    }
    // Let the terminals finish what they were doing against a live server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for terminal in terminals {
        tokio::time::timeout(Duration::from_secs(120), terminal)
            .await
            .expect("terminals finish")
            .unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // Check the data directory as the server left it.
    let receipts = receipts.lock().unwrap().clone();
    assert!(
        receipts.len() >= 10,
        "only {} receipts: the test did little",
        receipts.len()
    );
    let url = format!("sqlite:{}", data.path().join("fieldlink.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as("SELECT item_id, seq, sha256 FROM items")
        .fetch_all(&pool)
        .await
        .unwrap();
    let stored: HashMap<String, (u64, String)> = rows
        .into_iter()
        .map(|(id, seq, sha)| (id, (seq as u64, hex::encode(sha))))
        .collect();
    for (id, receipt) in &receipts {
        assert_eq!(
            stored.get(id),
            Some(receipt),
            "acknowledged item {id} is missing or altered"
        );
    }
    // Every blob is named by its content's SHA-256.
    let blobs = data.path().join("evidence/blobs");
    let mut blob_count = 0;
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
            blob_count += 1;
        }
    }
    println!(
        "crash test: {kills} kills, {} receipts, {} rows, {blob_count} blobs",
        receipts.len(),
        stored.len()
    );
    pool.close().await;
}
