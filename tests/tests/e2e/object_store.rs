//! The S3-compatible evidence store option against a local S3 server (moto):
//! photos land as objects named by their SHA-256, byte-exact, before the
//! receipt; resends dedupe; thumbnails and the janitor's listing work there.

use std::time::Duration;

use fieldlink_client::PhotoUpload;
use fieldlink_tests::s3::S3Server;
use fieldlink_tests::{connect, photos, record, TestServer};
use sha2::{Digest, Sha256};

const BUCKET: &str = "fieldlink-evidence";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_stored_as_objects_named_by_their_digest() {
    let Some(s3) = tokio::task::spawn_blocking(S3Server::start).await.unwrap() else {
        return;
    };
    s3.create_bucket(BUCKET);
    // moto takes any credentials; the server reads them from the environment
    // (every test sets the same values).
    std::env::set_var("AWS_ACCESS_KEY_ID", "fieldlink-test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "fieldlink-test");
    let endpoint = s3.endpoint();
    let server = TestServer::start_with(move |config| {
        config.evidence_s3_bucket = Some(BUCKET.into());
        config.evidence_s3_endpoint = Some(endpoint);
    })
    .await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let item = record("officer-01");
    client.submit_inspection(&item).await.unwrap();
    let jpeg = photos::pad_jpeg(photos::jpeg(320, 240, 7), 600 * 1024);
    let photo = PhotoUpload::new(
        &item.id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        jpeg.clone(),
    );
    let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
    let sha = hex::encode(Sha256::digest(&jpeg));
    assert_eq!(hex::encode(&receipt.sha256), sha);

    // The object is there, byte-exact, under its digest — read with a client
    // of the test's own, not through the server under test.
    let key = format!("blobs/{}/{}", &sha[..2], sha);
    let Some(object) = s3.get(BUCKET, &key).await else {
        let listing = s3.listing(BUCKET);
        panic!("no object {key}; bucket: {}", &listing[..listing.len().min(1500)]);
    };
    assert!(
        object == jpeg,
        "the object differs from the photo ({} bytes)",
        object.len()
    );
    // Nothing was left behind on local disk.
    let local: Vec<_> = std::fs::read_dir(server.data_dir.path().join("evidence/blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "tmp")
        .collect();
    assert!(local.is_empty(), "blobs on local disk: {local:?}");
    let temp = std::fs::read_dir(server.data_dir.path().join("evidence/blobs/tmp"))
        .unwrap()
        .count();
    assert_eq!(temp, 0);

    // A resend is answered with the original receipt; the same bytes under
    // another evidence id are one object.
    let again = client.upload_photo(&photo, |_| {}).await.unwrap();
    assert_eq!(again.server_seq, receipt.server_seq);
    let twin = PhotoUpload::new(
        &item.id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        jpeg.clone(),
    );
    client.upload_photo(&twin, |_| {}).await.unwrap();

    // The thumbnail, made after the receipt, is an object too.
    let storage = &server.server.state().storage;
    let evidence_id = uuid::Uuid::parse_str(photo.evidence_id()).unwrap();
    let mut thumbnail = None;
    for _ in 0..600 {
        thumbnail = storage.thumbnail(evidence_id).await.unwrap();
        if thumbnail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let thumbnail = hex::encode(thumbnail.expect("a thumbnail"));
    let bytes = s3
        .get(BUCKET, &format!("blobs/{}/{}", &thumbnail[..2], thumbnail))
        .await
        .expect("the thumbnail object");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), thumbnail);

    // The janitor's listing sees both objects and reads them back.
    let blobs = server.server.state().evidence.blobs.clone();
    let listed = tokio::task::spawn_blocking(move || blobs.list())
        .await
        .unwrap()
        .unwrap();
    let names: Vec<String> = listed.iter().map(|(sha, _)| hex::encode(sha)).collect();
    assert!(names.contains(&sha) && names.contains(&thumbnail), "{names:?}");
    assert_eq!(listed.len(), 2);

    // A 40 MiB video goes up in 8 MiB parts (a multipart upload: never read
    // whole) and reads back in pieces, byte-exact.
    let video = fieldlink_tests::media::large_video(40);
    let upload = PhotoUpload::new(
        &item.id,
        "video/mp4",
        fieldlink_client::now_ms() - 60_000,
        video.clone(),
    );
    let receipt = client.upload_photo(&upload, |_| {}).await.unwrap();
    let name = hex::encode(&receipt.sha256);
    let object = s3
        .get(BUCKET, &format!("blobs/{}/{}", &name[..2], name))
        .await
        .expect("the video object");
    assert!(
        object == video,
        "the video object differs ({} bytes)",
        object.len()
    );
    let blobs = server.server.state().evidence.blobs.clone();
    let sha256: [u8; 32] = receipt.sha256.as_slice().try_into().unwrap();
    let (read_sha, _, length) = tokio::task::spawn_blocking(move || blobs.digests(&sha256))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read_sha, length), (sha256, video.len() as u64));
}
