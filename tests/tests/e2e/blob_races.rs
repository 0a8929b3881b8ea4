//! The two ways a stored blob could stop matching its receipt, reproduced
//! step by step (docs/operations.md, "Thumbnails and the media queue" and
//! the janitor):
//! - the janitor removing an old orphan blob that an upload has just found
//!   in the store and relies on (a retry of the same bytes): the upload
//!   leases the blob first, and the janitor keeps leased blobs;
//! - the upload's file changing on disk after it was hashed (another writer,
//!   such as a resume on another node): the bytes read back for the checks
//!   must hash to the running digest, or nothing is filed.

use std::time::{Duration, SystemTime};

use fieldlink_client::{Error, PhotoUpload};
use fieldlink_protocol::pb::Code;
use fieldlink_server::evidence::faults::FaultPoint;
use fieldlink_server::evidence::janitor;
use fieldlink_tests::{connect, photos, TestServer};
use sha2::{Digest, Sha256};

/// Makes the blob look two hours old (past the janitor's minimum age).
fn age(path: &std::path::Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_keeps_an_orphan_blob_that_an_upload_has_just_adopted() {
    let server = TestServer::start().await;
    let state = server.server.state();
    let blobs = state.evidence.blobs.clone();

    // An old orphan: stored by an upload whose commit never happened.
    let bytes = photos::jpeg(320, 240, 41);
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    blobs.put(&bytes, &sha256).unwrap();
    age(&blobs.path_of(&sha256));

    // A retry of the same bytes reaches the point where it adopts its file:
    // it leases the blob, finds it in the store and keeps it, and is about
    // to commit its row when the janitor sweeps.
    let holder = uuid::Uuid::now_v7().to_string();
    let until = fieldlink_client::now_ms() + 3_600_000;
    state
        .storage
        .take_blob_lease(&sha256, &holder, until)
        .await
        .unwrap();
    let retry = server.data_dir.path().join("retry-copy");
    std::fs::write(&retry, &bytes).unwrap();
    blobs.adopt(&retry, &sha256).unwrap();
    assert!(
        !retry.exists(),
        "the retry kept the stored blob, not its own copy"
    );
    let swept = janitor::sweep(state).await;
    assert_eq!(swept.orphan_blobs, 0);
    assert_eq!(
        blobs.read(&sha256).unwrap(),
        bytes,
        "the blob the retry relies on is there"
    );

    // Without a lease or a reference, an old orphan is still collected, and
    // nothing is left set aside.
    state.storage.release_blob_lease(&sha256, &holder).await.unwrap();
    let swept = janitor::sweep(state).await;
    assert_eq!(swept.orphan_blobs, 1);
    assert!(blobs.read(&sha256).is_err());
    assert!(blobs.set_aside_blobs().unwrap().is_empty());

    // A blob a crash left set aside is put back if it is wanted by then.
    let other = photos::jpeg(320, 240, 42);
    let other_sha: [u8; 32] = Sha256::digest(&other).into();
    blobs.put(&other, &other_sha).unwrap();
    let aside = blobs
        .set_aside(&other_sha)
        .unwrap()
        .expect("a local store sets aside");
    state
        .storage
        .take_blob_lease(&other_sha, "someone", until)
        .await
        .unwrap();
    janitor::sweep(state).await;
    assert!(!aside.exists());
    assert_eq!(blobs.read(&other_sha).unwrap(), other);
    // An expired lease keeps nothing.
    state
        .storage
        .take_blob_lease(&other_sha, "someone", fieldlink_client::now_ms() - 1)
        .await
        .unwrap();
    assert!(!state
        .storage
        .blob_is_wanted(&other_sha, fieldlink_client::now_ms())
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_after_hashing_is_not_filed() {
    let server = TestServer::start().await;
    let faults = server.server.state().evidence.faults.clone();
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let bytes = photos::jpeg(640, 480, 43);
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    let photo = PhotoUpload::new(
        &uuid::Uuid::now_v7().to_string(),
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        bytes.clone(),
    );
    let items = server.item_count().await;
    faults.arm(FaultPoint::PartialChanged, std::io::ErrorKind::Other);
    match client.upload_photo(&photo, |_| {}).await {
        Err(Error::Rejected(status)) => {
            assert_eq!(status.code_or_unknown(), Code::Unavailable);
            assert!(status.retryable);
        }
        other => panic!("expected a retryable refusal, got {other:?}"),
    }
    assert_eq!(server.item_count().await, items, "nothing stored");
    assert!(
        server.server.state().evidence.blobs.read(&sha256).is_err(),
        "nothing filed under the digest"
    );
    // The same upload, undisturbed, is stored as sent.
    faults.clear();
    let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
    assert_eq!(receipt.sha256, sha256.to_vec());
    assert_eq!(server.server.state().evidence.blobs.read(&sha256).unwrap(), bytes);
}

/// A partial file that no unfinished upload names (a crash between a
/// discarded upload's row and its file, or between a fresh upload's file
/// and its row) is removed once it is older than the unfinished-upload TTL;
/// an old file that a row names, and a young orphan, are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_removes_old_partial_files_that_no_upload_names() {
    let server = TestServer::start().await;
    let state = server.server.state();
    let partials = &state.evidence.partials;
    let (orphan, young, named) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for id in [orphan, young, named] {
        std::fs::write(partials.path_of("device-001", id), b"partial bytes").unwrap();
    }
    let now = fieldlink_client::now_ms();
    state
        .storage
        .put_partial_upload(&fieldlink_server::storage::PartialUpload {
            evidence_id: named,
            device_id: "device-001".into(),
            officer_id: "officer-01".into(),
            header_sha256: [1; 32],
            size_bytes: 100,
            durable_offset: 13,
            created_at_ms: now,
            updated_at_ms: now,
        })
        .await
        .unwrap();
    let ttl = Duration::from_millis(state.config.partial_upload_ttl_ms as u64);
    for id in [orphan, named] {
        let file = std::fs::File::options()
            .write(true)
            .open(partials.path_of("device-001", id))
            .unwrap();
        file.set_modified(SystemTime::now() - ttl - Duration::from_secs(60))
            .unwrap();
    }

    let swept = janitor::sweep(state).await;
    assert_eq!(swept.orphan_partial_files, 1);
    assert!(!partials.path_of("device-001", orphan).exists());
    assert!(partials.path_of("device-001", young).exists());
    assert!(partials.path_of("device-001", named).exists());
    // The named upload is still there to resume.
    assert!(state
        .storage
        .partial_upload("device-001", named)
        .await
        .unwrap()
        .is_some());
}
