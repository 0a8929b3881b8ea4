//! Video, audio, documents and HEIC photos on the one upload path: real
//! files (made by ffmpeg, heif-enc, qpdf: media/tests/fixtures) stored
//! byte-exact with what their containers say; refusals while the bytes
//! arrive; per-kind limits; a large video interrupted and resumed.

use fieldlink_client::PhotoUpload;
use fieldlink_protocol::pb::{self, EvidenceFlag};
use fieldlink_protocol::photo::ContentType;
use fieldlink_protocol::status::reason;
use fieldlink_tests::{connect, expect_error, raw_session, TestServer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::photos::{raw_upload, response};
use fieldlink_tests::media::{fixture, large_video};

/// 2026-11-30T08:15:00Z, the creation time ffmpeg wrote into the videos.
const VIDEO_MADE_MS: i64 = 1_796_026_500_000;

fn flags(receipt: &pb::Receipt) -> Vec<EvidenceFlag> {
    receipt
        .flags
        .iter()
        .map(|f| EvidenceFlag::try_from(*f).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_stored_byte_exact_with_what_its_container_says() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let limits = client.welcome().await.unwrap().limits.unwrap();
    assert_eq!(limits.video_bytes_max, 4 << 30);
    assert_eq!(limits.document_bytes_max, 100 << 20);
    assert_eq!(limits.content_types.len(), ContentType::ALL.len());
    assert!(limits.content_types.iter().any(|t| t == "application/pdf"));

    let record_id = Uuid::now_v7().to_string();
    let cases = [
        ("video-h264.mp4", "video/mp4", Some(1000), Some("avc1"), (64, 48)),
        (
            "video-h265.mov",
            "video/quicktime",
            Some(1000),
            Some("hvc1"),
            (64, 48),
        ),
        (
            "video-h264-aac-end-moov.mp4",
            "video/mp4",
            None,
            Some("avc1,mp4a"),
            (64, 48),
        ),
        ("audio-aac.m4a", "audio/mp4", None, Some("mp4a"), (0, 0)),
        ("audio.wav", "audio/wav", Some(500), Some("pcm"), (0, 0)),
        ("audio.mp3", "audio/mpeg", None, Some("mp3"), (0, 0)),
        ("document.pdf", "application/pdf", None, None, (0, 0)),
        ("document-xref-stream.pdf", "application/pdf", None, None, (0, 0)),
        ("photo.heic", "image/heic", None, None, (64, 64)),
    ];
    for (name, mime, duration_ms, codecs, (width, height)) in cases {
        let bytes = fixture(name);
        assert_eq!(ContentType::sniff(&bytes).map(ContentType::as_mime), Some(mime));
        // Declared as taken when the container says it was made: no flag.
        let upload = PhotoUpload::new(&record_id, mime, VIDEO_MADE_MS, bytes.clone());
        let receipt = client
            .upload_photo(&upload, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(receipt.sha256, Sha256::digest(&bytes).to_vec(), "{name}");
        assert!(flags(&receipt).is_empty(), "{name}: {:?}", flags(&receipt));
        assert_eq!(server.blob(&receipt.sha256).unwrap(), bytes, "{name}");
        let evidence_id = Uuid::parse_str(upload.evidence_id()).unwrap();
        let stored = server
            .server
            .state()
            .storage
            .photo(evidence_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.index.content_type, mime, "{name}");
        assert_eq!(
            (stored.index.width, stored.index.height),
            (width, height),
            "{name}"
        );
        assert_eq!(stored.index.codecs.as_deref(), codecs, "{name}");
        if let Some(duration_ms) = duration_ms {
            assert_eq!(stored.index.duration_ms, Some(duration_ms), "{name}");
        }
        if mime.starts_with("video/") {
            assert_eq!(
                stored.index.container_time_ms.is_some(),
                name != "video-h264-aac-end-moov.mp4"
            );
        }
    }
    // Only pictures with a decoder queue a thumbnail: none of these.
    assert_eq!(
        server.server.state().storage.media_jobs_pending().await.unwrap(),
        0
    );
    assert_eq!(server.item_count().await, cases.len() as u64);
    let photos = client.record_photos(&record_id).await.unwrap();
    assert_eq!(photos.present.len(), cases.len());

    // A video declared as taken two days after its container was made.
    let late = PhotoUpload::new(
        &record_id,
        "video/mp4",
        VIDEO_MADE_MS + 2 * 86_400_000,
        fixture("video-h265.mov"),
    );
    let receipt = client.upload_photo(&late, |_| {}).await.unwrap();
    assert_eq!(flags(&receipt), vec![EvidenceFlag::ContainerTimeMismatch]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_that_is_not_what_it_claims_is_refused_while_it_arrives() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let record_id = Uuid::now_v7().to_string();
    let refused = |bytes: Vec<u8>, mime: &str| {
        let upload = PhotoUpload::new(&record_id, mime, VIDEO_MADE_MS, bytes);
        let client = &client;
        async move {
            let error = client.upload_photo(&upload, |_| {}).await.unwrap_err();
            error
                .status()
                .cloned()
                .unwrap_or_else(|| panic!("a status, got {error}"))
        }
    };
    let status = refused(fixture("video-mpeg4-part2.mp4"), "video/mp4").await;
    assert_eq!(status.reason, reason::MEDIA_UNSUPPORTED, "{}", status.message);
    assert!(status.message.contains("mp4v"), "{}", status.message);
    let status = refused(fixture("document.pdf"), "video/mp4").await;
    assert_eq!(
        (status.reason.as_str(), status.field.as_str()),
        (reason::CONTENT_TYPE_MISMATCH, "content_type")
    );
    let status = refused(fixture("video-h264-aac-end-moov.mp4"), "audio/mp4").await;
    assert_eq!(status.reason, reason::MEDIA_UNSUPPORTED);
    let mut cut = fixture("audio.wav");
    cut.truncate(cut.len() - 100);
    let status = refused(cut, "audio/wav").await;
    assert_eq!(status.reason, reason::MEDIA_CORRUPT, "{}", status.message);
    let mut cut = fixture("photo.heic");
    cut.truncate(cut.len() - 10);
    assert_eq!(refused(cut, "image/heic").await.reason, reason::IMAGE_CORRUPT);
    let status = refused(b"not a file anyone should keep".to_vec(), "video/gif").await;
    assert_eq!(status.field, "content_type");

    // 24 MiB declared as a video whose second box overflows the file: the
    // server stops the stream after the first chunks, not at the end.
    let mut bogus = fixture("video-h264.mp4")[..32].to_vec();
    bogus.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xF0, b'm', b'o', b'o', b'v']);
    bogus.resize(24 << 20, 0x5A);
    let before = server
        .server
        .state()
        .metrics
        .upload_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let header = PhotoUpload::new(&record_id, "video/mp4", VIDEO_MADE_MS, bogus.clone()).header(0);
    let (_send, mut recv) = raw_upload(&connection, header, &bogus, true).await;
    let status = expect_error(response(&mut recv).await);
    assert_eq!(status.reason, reason::MEDIA_CORRUPT, "{}", status.message);
    let received = server
        .server
        .state()
        .metrics
        .upload_bytes
        .load(std::sync::atomic::Ordering::Relaxed)
        - before;
    assert!(
        received < 8 << 20,
        "the server read {received} bytes of a refused 24 MiB upload"
    );

    // Nothing was stored, nothing is held for a resume.
    assert_eq!(server.item_count().await, 0);
    let partials = std::fs::read_dir(server.data_dir.path().join("evidence/partial"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(partials, 0, "refused uploads leave no partial file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_has_its_own_size_limit() {
    let server = TestServer::start_with(|config| {
        config.document_bytes_max = 600;
        config.audio_bytes_max = 10_000;
    })
    .await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let limits = client.welcome().await.unwrap().limits.unwrap();
    assert_eq!((limits.document_bytes_max, limits.audio_bytes_max), (600, 10_000));
    let record_id = Uuid::now_v7().to_string();
    // 700 bytes: over the document limit, while a photo may be far larger.
    let pdf = fixture("document-xref-stream.pdf");
    assert!(pdf.len() > 600);
    let upload = PhotoUpload::new(&record_id, "application/pdf", VIDEO_MADE_MS, pdf);
    let error = client.upload_photo(&upload, |_| {}).await.unwrap_err();
    let status = error.status().unwrap();
    assert_eq!(status.field, "size_bytes");
    assert!(status.message.contains("document"), "{}", status.message);
    // The smaller PDF and an 8 KB recording fit.
    for (name, mime) in [("document.pdf", "application/pdf"), ("audio.wav", "audio/wav")] {
        let upload = PhotoUpload::new(&record_id, mime, VIDEO_MADE_MS, fixture(name));
        client.upload_photo(&upload, |_| {}).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_video_interrupted_mid_way_resumes_to_one_verified_video() {
    // FIELDLINK_LARGE_VIDEO_MIB=1024 for the full-size run (docs/testing.md).
    let mebibytes = std::env::var("FIELDLINK_LARGE_VIDEO_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let server = TestServer::start_with(|config| config.upload_checkpoint_bytes = 1 << 20).await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let video = large_video(mebibytes);
    let upload = PhotoUpload::new(
        &Uuid::now_v7().to_string(),
        "video/mp4",
        VIDEO_MADE_MS,
        video.clone(),
    );
    let (endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;

    // A third, then the connection drops.
    let third = video.len() / 3;
    let (_send, _recv) = raw_upload(&connection, upload.header(0), &video[..third], false).await;
    let held = crate::photos::durable_offset(&client, upload.evidence_id(), 1 << 20).await;
    connection.close(0u32.into(), b"tunnel");
    endpoint.wait_idle().await;
    // Let the server settle what it holds.
    let held_now = crate::photos::settled_offset(&client, upload.evidence_id(), held).await;
    assert!(held_now > 0 && held_now <= third as u64, "{held_now}");

    // The SDK resumes from the server's offset, reading the rest from the
    // file (never the whole video in memory); the validator picks up the held
    // bytes from disk and goes on.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body-camera.mp4");
    std::fs::write(&path, &video).unwrap();
    let from_file = PhotoUpload::from_file_with_id(
        upload.evidence_id(),
        &upload.header(0).record_id,
        "video/mp4",
        VIDEO_MADE_MS,
        &path,
    )
    .await
    .unwrap();
    assert_eq!(from_file.header(0), upload.header(0));
    assert!(from_file.bytes().is_none());
    let upload = from_file;
    let mut first_sent = None;
    let receipt = client
        .upload_photo(&upload, |p| {
            first_sent.get_or_insert(p.sent_bytes);
        })
        .await
        .unwrap();
    assert!(
        first_sent.unwrap() >= held_now,
        "resumed at {first_sent:?}, server held {held_now}"
    );
    assert_eq!(receipt.sha256, Sha256::digest(&video).to_vec());
    assert_eq!(receipt.size_bytes, video.len() as u64);
    let name = hex::encode(&receipt.sha256);
    let stored = server
        .data_dir
        .path()
        .join("evidence/blobs")
        .join(&name[..2])
        .join(&name);
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), video.len() as u64);
    assert_eq!(server.item_count().await, 1);
}
