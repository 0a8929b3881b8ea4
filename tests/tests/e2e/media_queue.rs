//! Post-processing after the receipt (docs/protocol.md §6): nothing is
//! decoded before a photo's receipt; its thumbnail is made from a durable
//! queue, which survives a restart; an image whose structure is sound but
//! whose pixels do not decode is stored as sent and gets an `undecodable`
//! finding; a job that fails is retried and then done.

use std::time::Duration;

use fieldlink_client::PhotoUpload;
use fieldlink_server::evidence::faults::FaultPoint;
use fieldlink_tests::{connect, dev_config, photos, TestServer};
use uuid::Uuid;

/// A PNG whose chunks and CRCs are all valid but whose image data does not
/// inflate: only a decode can tell.
fn png_that_does_not_decode() -> Vec<u8> {
    let mut png = photos::png(64, 64);
    let at = png.windows(4).position(|w| w == b"IDAT").unwrap();
    let length = u32::from_be_bytes(png[at - 4..at].try_into().unwrap()) as usize;
    for byte in &mut png[at + 4..at + 4 + length] {
        *byte = 0xFF;
    }
    let crc = crc32fast::hash(&png[at..at + 4 + length]);
    png[at + 4 + length..at + 8 + length].copy_from_slice(&crc.to_be_bytes());
    png
}

fn upload(bytes: Vec<u8>, content_type: &str) -> PhotoUpload {
    PhotoUpload::new(
        &Uuid::now_v7().to_string(),
        content_type,
        fieldlink_client::now_ms() - 60_000,
        bytes,
    )
}

/// Waits for `check` to hold, polling, within a generous deadline.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_wait_in_the_queue_across_a_restart_and_bad_pixels_are_a_finding() {
    // Post-processing paused: receipts come, thumbnails wait.
    let TestServer {
        server,
        data_dir,
        database,
    } = TestServer::start_with(|config| config.image_decodes_max = 0).await;
    let client = connect(server.local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let mut ids = Vec::new();
    for seed in 0..3 {
        let photo = upload(photos::jpeg(640, 480, seed), "image/jpeg");
        let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
        assert!(!receipt.replayed);
        ids.push(Uuid::parse_str(photo.evidence_id()).unwrap());
    }
    // Structure sound, pixels not: stored as sent, with its receipt.
    let bad = upload(png_that_does_not_decode(), "image/png");
    client.upload_photo(&bad, |_| {}).await.unwrap();
    let bad_id = Uuid::parse_str(bad.evidence_id()).unwrap();
    let storage = server.state().storage.clone();
    assert_eq!(storage.media_jobs_pending().await.unwrap(), 4);
    for id in &ids {
        assert!(storage.thumbnail(*id).await.unwrap().is_none());
    }
    client.close().await;
    server.shutdown().await;

    // Restarted with workers: the queue is worked off.
    let mut config = dev_config(data_dir.path());
    config.database = database.as_ref().map(|d| d.url.clone());
    config.http = Some("127.0.0.1:0".parse().unwrap());
    let server = fieldlink_tests::start_server(config).await.expect("restarts");
    let storage = server.state().storage.clone();
    eventually("the queue is empty", || {
        let storage = storage.clone();
        async move { storage.media_jobs_pending().await.unwrap() == 0 }
    })
    .await;
    for id in &ids {
        assert!(storage.thumbnail(*id).await.unwrap().is_some(), "{id}");
    }
    assert!(storage.thumbnail(bad_id).await.unwrap().is_none());
    let findings = storage.media_findings(bad_id).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].finding, "undecodable");
    assert!(storage.media_findings(ids[0]).await.unwrap().is_empty());
    // The photo itself, and its receipt, are as they were.
    let stored = storage.photo(bad_id).await.unwrap().unwrap();
    assert_eq!((stored.index.width, stored.index.height), (64, 64));
    // The console shows the finding with the item.
    let base = format!("http://{}", server.console_addr().unwrap());
    let console = crate::console::sign_in(&base, "supervisor-01").await.unwrap();
    let (status, item) = crate::console::send(console.get(&format!("/api/items/{bad_id}"))).await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["findings"][0]["finding"], "undecodable", "{item}");
    let outcomes = server.state().metrics.media_job_outcomes();
    assert_eq!(outcomes.get("done"), Some(&3), "{outcomes:?}");
    assert_eq!(outcomes.get("undecodable"), Some(&1), "{outcomes:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_and_then_done() {
    let server = TestServer::start().await;
    let faults = server.server.state().evidence.faults.clone();
    faults.arm(FaultPoint::MediaJob, std::io::ErrorKind::Other);
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let photo = upload(photos::jpeg(320, 240, 9), "image/jpeg");
    client.upload_photo(&photo, |_| {}).await.unwrap();
    let id = Uuid::parse_str(photo.evidence_id()).unwrap();
    let metrics = &server.server.state().metrics;
    eventually("a retry", || async {
        metrics.media_job_outcomes().contains_key("retried")
    })
    .await;
    let storage = server.server.state().storage.clone();
    assert!(storage.thumbnail(id).await.unwrap().is_none());
    assert_eq!(storage.media_jobs_pending().await.unwrap(), 1);
    faults.clear();
    eventually("the job is done", || {
        let storage = storage.clone();
        async move { storage.media_jobs_pending().await.unwrap() == 0 }
    })
    .await;
    assert!(storage.thumbnail(id).await.unwrap().is_some());
    assert!(storage.media_findings(id).await.unwrap().is_empty());
}
