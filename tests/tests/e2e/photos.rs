//! Photo evidence end to end: resumable uploads into the content-addressed,
//! verified store; refusals; flags; linking.

use std::sync::Arc;
use std::time::Duration;

use fieldlink_client::{Client, Error, PhotoUpload};
use fieldlink_protocol::frame;
use fieldlink_protocol::pb::{self, Code, EvidenceFlag};
use fieldlink_tests::photos::{self, Exif};
use fieldlink_tests::{connect, expect_error, raw_session, record, TestServer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const LATITUDE: f64 = 29.8683;
const LONGITUDE: f64 = 121.5440;

/// A JPEG taken a minute ago here, with matching EXIF.
fn honest_jpeg(seed: u64) -> (Vec<u8>, i64) {
    let captured_at_ms = fieldlink_client::now_ms() - 60_000;
    let jpeg = photos::jpeg_with_exif(
        320,
        240,
        seed,
        Exif {
            captured_at_ms,
            position: Some((LATITUDE, LONGITUDE)),
        },
    );
    (jpeg, captured_at_ms)
}

fn upload(record_id: &str, bytes: Vec<u8>, captured_at_ms: i64) -> PhotoUpload {
    PhotoUpload::new(record_id, "image/jpeg", captured_at_ms, bytes).at(LATITUDE, LONGITUDE, 5.0)
}

fn flags(receipt: &pb::Receipt) -> Vec<EvidenceFlag> {
    receipt
        .flags
        .iter()
        .map(|f| EvidenceFlag::try_from(*f).unwrap())
        .collect()
}

/// The stored blob's bytes, by SHA-256.
fn blob(server: &TestServer, sha256: &[u8]) -> Option<Vec<u8>> {
    server.blob(sha256)
}

fn blob_count(server: &TestServer) -> usize {
    let root = server.data_dir.path().join("evidence/blobs");
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|shard| shard.file_name() != "tmp")
        .map(|shard| std::fs::read_dir(shard.path()).unwrap().count())
        .sum()
}

/// Opens an upload stream, sends the header and `bytes`; finishes when asked.
pub(crate) async fn raw_upload(
    connection: &quinn::Connection,
    header: pb::PhotoHeader,
    bytes: &[u8],
    finish: bool,
) -> (quinn::SendStream, quinn::RecvStream) {
    let (mut send, recv) = connection.open_bi().await.unwrap();
    let request = frame::encode(&pb::Request {
        body: Some(pb::request::Body::UploadPhoto(header)),
        capture: None,
    });
    send.write_all(&request).await.unwrap();
    // The server may stop the stream early (a refusal): that is fine here.
    let _ = send.write_all(bytes).await;
    if finish {
        let _ = send.finish();
    }
    (send, recv)
}

pub(crate) async fn response(recv: &mut quinn::RecvStream) -> pb::Response {
    let body = tokio::time::timeout(
        Duration::from_secs(60),
        fieldlink_protocol::io::read_frame(recv, 1 << 20),
    )
    .await
    .expect("an answer in time")
    .expect("a response frame");
    prost::Message::decode(body.as_slice()).unwrap()
}

/// Waits until the server holds at least `at_least` bytes of the upload durably.
pub(crate) async fn durable_offset(client: &Client, evidence_id: &str, at_least: u64) -> u64 {
    for _ in 0..600 {
        let status = client.upload_status(evidence_id).await.unwrap();
        if status.durable_offset >= at_least {
            return status.durable_offset;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server never held {at_least} bytes");
}

/// Waits until the server has finished with an interrupted stream: the
/// durable offset is at least `at_least` and stops moving.
pub(crate) async fn settled_offset(client: &Client, evidence_id: &str, at_least: u64) -> u64 {
    let mut last = durable_offset(client, evidence_id, at_least).await;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = client.upload_status(evidence_id).await.unwrap().durable_offset;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the durable offset never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_is_stored_byte_exact_with_both_digests_and_a_thumbnail_later() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let (jpeg, captured_at_ms) = honest_jpeg(1);
    let photo = upload(&Uuid::now_v7().to_string(), jpeg.clone(), captured_at_ms);
    let mut reports = Vec::new();
    let receipt = client
        .upload_photo(&photo, |p| reports.push(p.sent_bytes))
        .await
        .unwrap();

    assert_eq!(receipt.sha256, Sha256::digest(&jpeg).to_vec());
    assert_eq!(receipt.sm3, <sm3::Sm3 as Digest>::digest(&jpeg).to_vec());
    assert_eq!(receipt.size_bytes, jpeg.len() as u64);
    assert!(
        flags(&receipt).is_empty(),
        "honest EXIF raises no flag: {:?}",
        flags(&receipt)
    );
    assert_eq!(reports.last(), Some(&(jpeg.len() as u64)));
    assert_eq!(
        blob(&server, &receipt.sha256).unwrap(),
        jpeg,
        "the bytes on disk are the bytes sent"
    );

    let id = Uuid::parse_str(photo.evidence_id()).unwrap();
    let storage = &server.server.state().storage;
    let stored = storage.photo(id).await.unwrap().unwrap();
    assert_eq!((stored.index.width, stored.index.height), (320, 240));
    // The thumbnail comes after the receipt, beside the original.
    let mut thumbnail = None;
    for _ in 0..600 {
        thumbnail = storage.thumbnail(id).await.unwrap();
        if thumbnail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let thumbnail = blob(&server, &thumbnail.expect("a thumbnail")).unwrap();
    let decoded = image::load_from_memory_with_format(&thumbnail, image::ImageFormat::Jpeg).unwrap();
    assert!(decoded.width() <= 320 && decoded.height() <= 320);
    assert_eq!(
        blob(&server, &receipt.sha256).unwrap(),
        jpeg,
        "the original is untouched"
    );
    // Evidence rows are append-only in the database.
    assert!(sqlx_update_refused(&server).await);
}

async fn sqlx_update_refused(server: &TestServer) -> bool {
    const UPDATE: &str = "UPDATE photos SET flags = ''";
    const DELETE: &str = "DELETE FROM photos";
    if let Some(database) = &server.database {
        let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
        let refused = sqlx::query(UPDATE).execute(&pool).await.is_err()
            && sqlx::query(DELETE).execute(&pool).await.is_err();
        pool.close().await;
        return refused;
    }
    let url = format!(
        "sqlite:{}",
        server.data_dir.path().join("fieldlink.sqlite").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let refused = sqlx::query(UPDATE).execute(&pool).await.is_err()
        && sqlx::query(DELETE).execute(&pool).await.is_err();
    pool.close().await;
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_interrupted_at_30_and_70_percent_resumes_to_one_verified_photo() {
    let server = TestServer::start_with(|config| config.upload_checkpoint_bytes = 64 * 1024).await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let (endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let captured_at_ms = fieldlink_client::now_ms() - 60_000;
    let jpeg = photos::pad_jpeg(
        photos::jpeg_with_exif(
            640,
            480,
            2,
            Exif {
                captured_at_ms,
                position: Some((LATITUDE, LONGITUDE)),
            },
        ),
        2 * 1024 * 1024,
    );
    let photo = upload(&Uuid::now_v7().to_string(), jpeg.clone(), captured_at_ms);
    let thirty = jpeg.len() * 3 / 10;
    let seventy = jpeg.len() * 7 / 10;

    // 30%, then the stream is reset.
    let (mut send, _recv) = raw_upload(&connection, photo.header(0), &jpeg[..thirty], false).await;
    let first = durable_offset(&client, photo.evidence_id(), 64 * 1024).await;
    send.reset(0u32.into()).unwrap();
    let held = settled_offset(&client, photo.evidence_id(), first).await;
    assert!(held <= thirty as u64);

    // Resume at what the server holds, up to 70%, then the connection drops.
    let (_send, _recv) = raw_upload(
        &connection,
        photo.header(held),
        &jpeg[held as usize..seventy],
        false,
    )
    .await;
    let later = durable_offset(&client, photo.evidence_id(), held + 64 * 1024).await;
    connection.close(0u32.into(), b"network gone");
    endpoint.wait_idle().await;
    let held = settled_offset(&client, photo.evidence_id(), later).await;
    assert!(held > thirty as u64 && held <= seventy as u64, "{held}");

    // The SDK continues from the server's offset.
    let mut first_report = None;
    let receipt = client
        .upload_photo(&photo, |p| {
            first_report.get_or_insert(p.sent_bytes);
        })
        .await
        .unwrap();
    assert!(
        first_report.unwrap() >= held,
        "resumed at {first_report:?}, server held {held}"
    );
    assert_eq!(receipt.sha256, Sha256::digest(&jpeg).to_vec());
    assert_eq!(blob(&server, &receipt.sha256).unwrap(), jpeg);
    assert_eq!(server.item_count().await, 1, "exactly one evidence row");
    let status = client.upload_status(photo.evidence_id()).await.unwrap();
    assert!(status.complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_with_their_own_errors_and_store_nothing() {
    let server = TestServer::start_with(|config| config.photo_bytes_max = 4 * 1024 * 1024).await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let record_id = Uuid::now_v7().to_string();
    let (jpeg, captured_at_ms) = honest_jpeg(3);
    let good = upload(&record_id, jpeg.clone(), captured_at_ms);

    let refuse = |header: pb::PhotoHeader, bytes: Vec<u8>, finish: bool| {
        let connection = connection.clone();
        async move {
            let (_send, mut recv) = raw_upload(&connection, header, &bytes, finish).await;
            expect_error(response(&mut recv).await)
        }
    };

    // Declared digest is not the bytes' digest.
    let mut header = good.header(0);
    header.sha256 = vec![0; 32];
    let status = refuse(header, jpeg.clone(), true).await;
    assert_eq!(
        (status.code_or_unknown(), status.reason.as_str()),
        (Code::InvalidArgument, "DIGEST_MISMATCH")
    );

    // Fewer bytes than declared, then FIN.
    let status = refuse(good.header(0), jpeg[..jpeg.len() - 10].to_vec(), true).await;
    assert_eq!(status.reason, "SIZE_MISMATCH");
    // More bytes than declared.
    let mut longer = jpeg.clone();
    longer.extend_from_slice(&[0; 100]);
    let status = refuse(good.header(0), longer, true).await;
    assert_eq!(status.reason, "SIZE_MISMATCH");

    // A declaration over the photo limit is refused from the header alone:
    // no byte is sent and the stream stays open.
    let mut header = good.header(0);
    header.size_bytes = 4 * 1024 * 1024 + 1;
    let status = refuse(header, Vec::new(), false).await;
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::InvalidArgument, "size_bytes")
    );

    // PNG bytes declared as JPEG.
    let png = photos::png(32, 32);
    let wrong = PhotoUpload::new(&record_id, "image/jpeg", captured_at_ms, png);
    let status = refuse(wrong.header(0), wrong_bytes(&wrong), true).await;
    assert_eq!(status.reason, "CONTENT_TYPE_MISMATCH");

    // A truncated JPEG (declared honestly: the digest matches what is sent).
    let truncated = jpeg[..jpeg.len() / 2].to_vec();
    let cut = PhotoUpload::new(&record_id, "image/jpeg", captured_at_ms, truncated.clone());
    let status = refuse(cut.header(0), truncated, true).await;
    assert_eq!(status.reason, "IMAGE_CORRUPT");

    // A decompression bomb: a small file claiming 60000 x 60000 pixels.
    let mut bomb = photos::jpeg(16, 16, 9);
    let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bomb[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
    bomb[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
    let bomb_upload = PhotoUpload::new(&record_id, "image/jpeg", captured_at_ms, bomb.clone());
    let status = refuse(bomb_upload.header(0), bomb, true).await;
    assert_eq!(status.reason, "IMAGE_TOO_LARGE");

    // Resuming at an offset the server does not hold.
    let status = refuse(good.header(1000), jpeg[1000..].to_vec(), true).await;
    assert_eq!(
        (status.reason.as_str(), status.durable_offset),
        ("OFFSET_MISMATCH", 0)
    );

    // Nothing of any of it was stored.
    assert_eq!(server.item_count().await, 0);
    assert_eq!(blob_count(&server), 0);
    let storage = &server.server.state().storage;
    assert_eq!(storage.partial_bytes_for_device("device-001").await.unwrap(), 0);

    // And the good photo still goes through on the same connection.
    let (_send, mut recv) = raw_upload(&connection, good.header(0), &jpeg, true).await;
    assert!(matches!(
        response(&mut recv).await.result,
        Some(pb::response::Result::Receipt(_))
    ));
}

fn wrong_bytes(upload: &PhotoUpload) -> Vec<u8> {
    photos::png(32, 32)
        .into_iter()
        .take(upload.size_bytes() as usize)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exif_disagreements_and_trailing_bytes_are_flagged_not_refused() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let record_id = Uuid::now_v7().to_string();
    let declared_at_ms = fieldlink_client::now_ms() - 60_000;

    // EXIF two hours earlier and 5 km north of what the terminal declared.
    let lying = photos::jpeg_with_exif(
        200,
        100,
        4,
        Exif {
            captured_at_ms: declared_at_ms - 2 * 3600 * 1000,
            position: Some((LATITUDE + 0.045, LONGITUDE)),
        },
    );
    let receipt = client
        .upload_photo(&upload(&record_id, lying, declared_at_ms), |_| {})
        .await
        .unwrap();
    assert_eq!(
        flags(&receipt),
        vec![EvidenceFlag::ExifTimeMismatch, EvidenceFlag::ExifGpsMismatch]
    );

    // No EXIF at all.
    let bare = photos::jpeg(64, 64, 5);
    let receipt = client
        .upload_photo(&upload(&record_id, bare, declared_at_ms), |_| {})
        .await
        .unwrap();
    assert_eq!(flags(&receipt), vec![EvidenceFlag::ExifUnreadable]);

    // A JPEG with a ZIP after its end marker: kept byte-exact, flagged.
    let (mut polyglot, captured_at_ms) = honest_jpeg(6);
    polyglot.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00 hidden archive");
    let photo = upload(&record_id, polyglot.clone(), captured_at_ms);
    let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
    assert_eq!(flags(&receipt), vec![EvidenceFlag::TrailingBytes]);
    assert_eq!(blob(&server, &receipt.sha256).unwrap(), polyglot);

    // The flags are stored for supervisors.
    let stored = server
        .server
        .state()
        .storage
        .photo(Uuid::parse_str(photo.evidence_id()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.index.flags, vec![EvidenceFlag::TrailingBytes as i32]);
    assert_eq!(server.item_count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_bytes_share_a_blob_and_a_reused_id_with_other_bytes_conflicts() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let record_id = Uuid::now_v7().to_string();
    let (jpeg, captured_at_ms) = honest_jpeg(7);
    let first = upload(&record_id, jpeg.clone(), captured_at_ms);
    let second = upload(&record_id, jpeg.clone(), captured_at_ms);
    let a = client.upload_photo(&first, |_| {}).await.unwrap();
    let b = client.upload_photo(&second, |_| {}).await.unwrap();
    assert_ne!(a.server_seq, b.server_seq, "two evidence rows");
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(server.item_count().await, 2);
    // One blob for the photo (plus thumbnails, which are different bytes).
    let storage = &server.server.state().storage;
    assert!(storage
        .blob_is_referenced(&a.sha256.clone().try_into().unwrap())
        .await
        .unwrap());

    // A resend of the same photo: the original receipt, bytes not even read.
    let again = client.upload_photo(&first, |_| {}).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.server_seq, a.server_seq);

    // The same evidence id with different bytes: a conflict, nothing overwritten.
    let (other, _) = honest_jpeg(8);
    let reused = PhotoUpload::with_id(
        first.evidence_id(),
        &record_id,
        "image/jpeg",
        captured_at_ms,
        other,
    );
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let (_send, mut recv) = raw_upload(&connection, reused.header(0), &[], false).await;
    let status = expect_error(response(&mut recv).await);
    assert_eq!(status.code_or_unknown(), Code::AlreadyExists);
    assert_eq!(status.conflicting_seq, a.server_seq);
    assert_eq!(blob(&server, &a.sha256).unwrap(), jpeg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_terminals_upload_five_mebibyte_photos_at_once() {
    let server = TestServer::start().await;
    let devices = ["device-001", "device-002", "device-003"];
    let officers = ["officer-01", "officer-02", "officer-03", "officer-04"];
    let mut tasks = Vec::new();
    for index in 0..8u64 {
        let client = Arc::new(
            connect(
                server.addr(),
                devices[index as usize % 3],
                officers[index as usize % 4],
            )
            .await
            .unwrap(),
        );
        tasks.push(tokio::spawn(async move {
            let captured_at_ms = fieldlink_client::now_ms() - 60_000;
            let jpeg = photos::pad_jpeg(
                photos::jpeg_with_exif(
                    800,
                    600,
                    100 + index,
                    Exif {
                        captured_at_ms,
                        position: Some((LATITUDE, LONGITUDE)),
                    },
                ),
                5 * 1024 * 1024,
            );
            let photo = upload(&Uuid::now_v7().to_string(), jpeg.clone(), captured_at_ms);
            let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
            (jpeg, receipt)
        }));
    }
    for task in tasks {
        let (jpeg, receipt) = task.await.unwrap();
        assert_eq!(receipt.size_bytes, 5 * 1024 * 1024);
        assert_eq!(blob(&server, &receipt.sha256).unwrap(), jpeg);
    }
    assert_eq!(server.item_count().await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_photos_link_in_either_order_and_only_the_creator_attaches() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut record = record("officer-01");
    let (early_jpeg, captured_at_ms) = honest_jpeg(10);
    let early = upload(&record.id, early_jpeg, captured_at_ms);
    let missing_id = Uuid::now_v7().to_string();
    // The photo arrives before its record.
    client.upload_photo(&early, |_| {}).await.unwrap();
    let before = client.record_photos(&record.id).await.unwrap();
    assert!(!before.record_stored);
    assert_eq!(before.present, vec![early.evidence_id().to_string()]);

    record.photo_ids = vec![early.evidence_id().to_string(), missing_id.clone()];
    client.submit_inspection(&record).await.unwrap();
    let (late_jpeg, _) = honest_jpeg(11);
    let unlisted = upload(&record.id, late_jpeg, captured_at_ms);
    client.upload_photo(&unlisted, |_| {}).await.unwrap();

    let links = client.record_photos(&record.id).await.unwrap();
    assert!(links.record_stored);
    assert_eq!(links.present, vec![early.evidence_id().to_string()]);
    assert_eq!(links.missing, vec![missing_id]);
    assert_eq!(links.unlisted, vec![unlisted.evidence_id().to_string()]);

    // Another officer on another device may not attach to this record...
    let other = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let (jpeg, _) = honest_jpeg(12);
    let error = other
        .upload_photo(&upload(&record.id, jpeg, captured_at_ms), |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.status().unwrap().code_or_unknown(), Code::PermissionDenied);
    assert!(!error.is_retryable());
    // ...and sees nothing of it.
    let seen = other.record_photos(&record.id).await.unwrap();
    assert!(!seen.record_stored && seen.present.is_empty());
    // The supervisor sees the whole picture.
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    assert_eq!(
        supervisor.record_photos(&record.id).await.unwrap().missing.len(),
        1
    );
    assert!(matches!(error, Error::Rejected(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_mate_named_on_the_record_attaches_from_their_own_handheld() {
    let server = TestServer::start().await;
    let lead = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    // officer-01 leads; officer-02 (same team) and officer-05 (another
    // team) are named on the record; officer-03 (same team) is not.
    let mut item = record("officer-01");
    item.officer_ids = vec!["officer-01".into(), "officer-02".into(), "officer-05".into()];
    lead.submit_inspection(&item).await.unwrap();
    let (jpeg, captured_at_ms) = honest_jpeg(40);
    let mate = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let mates_photo = upload(&item.id, jpeg, captured_at_ms);
    mate.upload_photo(&mates_photo, |_| {}).await.unwrap();
    for (device, officer) in [("device-003", "officer-05"), ("device-003", "officer-03")] {
        let other = connect(server.addr(), device, officer).await.unwrap();
        let (jpeg, _) = honest_jpeg(41);
        let error = other
            .upload_photo(&upload(&item.id, jpeg, captured_at_ms), |_| {})
            .await
            .unwrap_err();
        assert_eq!(
            error.status().unwrap().code_or_unknown(),
            Code::PermissionDenied,
            "{officer}"
        );
    }
    // Stored as the team-mate's, on the lead's record.
    let stored = server
        .server
        .state()
        .storage
        .photo(Uuid::parse_str(mates_photo.evidence_id()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.device_id.as_str(), stored.officer_id.as_str()),
        ("device-002", "officer-02")
    );
    assert_eq!(stored.index.record_id, item.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_uploads_are_bounded_in_bytes_per_device_and_in_time() {
    let server = TestServer::start_with(|config| {
        config.partial_bytes_per_device_max = 3 * 1024 * 1024;
        config.upload_checkpoint_bytes = 64 * 1024;
        config.partial_upload_ttl_ms = 1_000;
        // Checkpoints at every step (the TTL is shorter than the default
        // interval, which the configuration would refuse).
        config.upload_checkpoint_interval_ms = 0;
        config.janitor_interval_ms = 200;
    })
    .await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let captured_at_ms = fieldlink_client::now_ms() - 60_000;
    let big = photos::pad_jpeg(photos::jpeg(64, 64, 20), 2 * 1024 * 1024);
    let first = upload(&Uuid::now_v7().to_string(), big.clone(), captured_at_ms);
    let (mut send, _recv) = raw_upload(&connection, first.header(0), &big[..512 * 1024], false).await;
    durable_offset(&client, first.evidence_id(), 64 * 1024).await;

    // A second unfinished 2 MiB upload would hold 4 MiB: refused, retry later.
    let second = upload(&Uuid::now_v7().to_string(), big.clone(), captured_at_ms);
    let (_send2, mut recv2) = raw_upload(&connection, second.header(0), &[], false).await;
    let status = expect_error(response(&mut recv2).await);
    assert_eq!(
        (status.code_or_unknown(), status.reason.as_str()),
        (Code::ResourceExhausted, "PARTIAL_QUOTA")
    );
    assert!(status.retryable);

    // Abandoned: after its time the janitor discards it and frees the quota.
    send.reset(0u32.into()).unwrap();
    let mut offset = u64::MAX;
    for _ in 0..600 {
        offset = client
            .upload_status(first.evidence_id())
            .await
            .unwrap()
            .durable_offset;
        if offset == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offset, 0, "the stale partial upload was discarded");
    let partial_files = std::fs::read_dir(server.data_dir.path().join("evidence/partial"))
        .unwrap()
        .count();
    assert_eq!(partial_files, 0);
    assert!(client.upload_photo(&second, |_| {}).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_resumes_by_itself_when_the_connection_drops_mid_upload() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let server = TestServer::start_with(|config| config.upload_checkpoint_bytes = 64 * 1024).await;
    let client = Arc::new(connect(server.addr(), "device-001", "officer-01").await.unwrap());
    let captured_at_ms = fieldlink_client::now_ms() - 60_000;
    let jpeg = photos::pad_jpeg(photos::jpeg(320, 240, 30), 4 * 1024 * 1024);
    let photo = upload(&Uuid::now_v7().to_string(), jpeg.clone(), captured_at_ms);

    // Drop the connection once 40% has gone out.
    let threshold = jpeg.len() as u64 * 4 / 10;
    let sent = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let evidence_id = uuid::Uuid::parse_str(photo.evidence_id()).unwrap();
    let storage = server.server.state().storage.clone();
    let watcher = {
        let (client, sent, dropped) = (client.clone(), sent.clone(), dropped.clone());
        tokio::spawn(async move {
            while sent.load(Ordering::Relaxed) < threshold {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // Drop the connection once the server holds part of it durably.
            let mut durable = 0;
            for _ in 0..6000 {
                durable = storage
                    .partial_upload("device-001", evidence_id)
                    .await
                    .unwrap()
                    .map(|p| p.durable_offset)
                    .unwrap_or(0);
                if durable > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client.disconnect().await;
            dropped.store(true, Ordering::Relaxed);
            durable
        })
    };
    let mut resumed_at = None;
    let receipt = client
        .upload_photo(&photo, |p| {
            sent.store(p.sent_bytes, Ordering::Relaxed);
            // Hold the upload at 40% until the connection is gone (bounded wait).
            if p.attempt == 1 && p.sent_bytes >= threshold {
                for _ in 0..10_000 {
                    if dropped.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            if p.attempt > 1 {
                resumed_at.get_or_insert(p.sent_bytes);
            }
        })
        .await
        .unwrap();
    let durable_before_drop = watcher.await.unwrap();
    assert!(durable_before_drop > 0);
    let resumed_at = resumed_at.expect("a second attempt after the drop");
    assert!(
        resumed_at >= durable_before_drop,
        "resumed at {resumed_at}, the server held {durable_before_drop}"
    );
    assert!(
        resumed_at > 0,
        "the second attempt continued from the durable offset"
    );
    assert_eq!(blob(&server, &receipt.sha256).unwrap(), jpeg);
    assert_eq!(server.item_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_attach_to_services_and_interviews_their_creator_made() {
    use fieldlink_protocol::interview::example_interview;
    use fieldlink_protocol::service::example_service;
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let other = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let now = fieldlink_client::now_ms();
    let service = example_service("officer-01", "CASE-P1", now);
    client.submit_service(&service).await.unwrap();
    let interview = example_interview(["officer-01", "officer-02"], "CASE-P1", now);
    client.submit_interview(&interview).await.unwrap();
    // The party's signature on the service, an ID card photo for the interview.
    for (seed, item_id) in [(61, &service.id), (62, &interview.id)] {
        let (jpeg, captured_at_ms) = honest_jpeg(seed);
        let photo = upload(item_id, jpeg, captured_at_ms);
        let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
        assert!(!receipt.replayed);
        let stored = server
            .server
            .state()
            .storage
            .photo(Uuid::parse_str(photo.evidence_id()).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&stored.index.record_id, item_id);
    }
    // Nobody else attaches to them.
    let (jpeg, captured_at_ms) = honest_jpeg(63);
    let theirs = upload(&service.id, jpeg, captured_at_ms);
    match other.upload_photo(&theirs, |_| {}).await {
        Err(Error::Rejected(status)) => {
            assert_eq!(
                (status.code_or_unknown(), status.field.as_str()),
                (Code::PermissionDenied, "record_id")
            );
        }
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
}
