//! Storage faults at each step of the write path: a typed UNAVAILABLE, no
//! receipt, the server keeps serving, and a retry succeeds once the fault
//! clears.

use std::io::ErrorKind;
use std::time::Duration;

use fieldlink_client::{Client, Error, PhotoUpload, RetryPolicy};
use fieldlink_protocol::pb::Code;
use fieldlink_server::evidence::faults::FaultPoint;
use fieldlink_tests::{client_config, connect, photos, record, TestServer};
use sha2::{Digest, Sha256};

/// A client that gives up after one attempt, so a fault shows.
async fn one_shot(server: &TestServer) -> Client {
    let mut config = client_config(server.addr(), "device-001", "officer-01");
    config.retry = RetryPolicy {
        attempts_max: 1,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(10),
    };
    Client::connect(config).await.unwrap()
}

fn unavailable(error: Error) {
    match error {
        Error::Rejected(status) => {
            assert_eq!(status.code_or_unknown(), Code::Unavailable, "{status}");
            assert!(status.retryable);
        }
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_any_step_of_a_photo_upload_gives_no_receipt_and_a_retry_succeeds() {
    let server = TestServer::start_with(|config| config.upload_checkpoint_bytes = 64 * 1024).await;
    let faults = server.server.state().evidence.faults.clone();
    let client = one_shot(&server).await;
    let patient = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let bystander = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    for (round, (point, kind)) in [
        (FaultPoint::Write, ErrorKind::StorageFull),
        (FaultPoint::Fsync, ErrorKind::Other),
        (FaultPoint::Rename, ErrorKind::PermissionDenied),
        (FaultPoint::DirectoryFsync, ErrorKind::Other),
        (FaultPoint::Commit, ErrorKind::Other),
    ]
    .into_iter()
    .enumerate()
    {
        let jpeg = photos::pad_jpeg(photos::jpeg(64, 48, round as u64), 300 * 1024);
        let photo = PhotoUpload::new(
            &uuid::Uuid::now_v7().to_string(),
            "image/jpeg",
            fieldlink_client::now_ms() - 1000,
            jpeg.clone(),
        );
        let before = server.item_count().await;
        faults.arm(point, kind);
        unavailable(client.upload_photo(&photo, |_| {}).await.unwrap_err());
        assert_eq!(server.item_count().await, before, "{point:?}: nothing stored");
        // Others are served meanwhile (unless the database itself is down).
        if point != FaultPoint::Commit {
            assert!(
                bystander.submit_inspection(&record("officer-02")).await.is_ok(),
                "{point:?}"
            );
        }
        faults.clear();
        let receipt = patient
            .upload_photo(&photo, |_| {})
            .await
            .expect("the retry succeeds");
        assert_eq!(receipt.sha256, Sha256::digest(&jpeg).to_vec());
        assert_eq!(server.blob(&receipt.sha256).unwrap(), jpeg, "{point:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_of_a_record_gives_no_receipt_and_a_retry_succeeds() {
    let server = TestServer::start().await;
    let faults = server.server.state().evidence.faults.clone();
    let client = one_shot(&server).await;
    let record = record("officer-01");
    faults.arm(FaultPoint::Commit, ErrorKind::Other);
    unavailable(client.submit_inspection(&record).await.unwrap_err());
    assert_eq!(server.item_count().await, 0);
    faults.clear();
    let receipt = client.submit_inspection(&record).await.unwrap();
    assert!(!receipt.replayed);
    assert_eq!(server.item_count().await, 1);
}
