//! A resend under a stored id whose bytes differ is a conflict, never a
//! receipt — even when today's rules would refuse those bytes outright (the
//! catalogue, the clock or the directory may have moved since the original
//! was stored). A regression here would let a terminal believe an altered
//! item was stored.

use fieldlink_client::{Client, Error};
use fieldlink_protocol::interview::example_interview;
use fieldlink_protocol::pb::{self, Code, ServiceEventKind};
use fieldlink_protocol::service::example_service;
use fieldlink_tests::{connect, record, TestServer};
use uuid::Uuid;

fn now() -> i64 {
    fieldlink_client::now_ms()
}

/// Checks that `resend` was refused as a conflict with the stored item, and
/// that the stored bytes and the item count did not change.
async fn assert_conflict(
    server: &TestServer,
    id: &str,
    original: &pb::Receipt,
    stored_bytes: Vec<u8>,
    resend: Result<pb::Receipt, Error>,
) {
    let count = server.item_count().await;
    let status = match resend {
        Err(Error::Rejected(status)) => *status,
        other => panic!("{id}: expected a conflict, got {other:?}"),
    };
    assert_eq!(status.code_or_unknown(), Code::AlreadyExists, "{id}: {status}");
    assert_eq!(
        status.reason,
        fieldlink_protocol::status::reason::ID_CONFLICT,
        "{id}"
    );
    assert_eq!(status.conflicting_seq, original.server_seq, "{id}");
    assert!(!status.retryable, "{id}");
    let kept = server
        .server
        .state()
        .storage
        .item(Uuid::parse_str(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.body, stored_bytes, "{id}: the stored bytes changed");
    assert_eq!(server.item_count().await, count, "{id}: something was stored");
}

async fn officer(server: &TestServer) -> Client {
    connect(server.addr(), "device-001", "officer-01").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_resent_with_a_matter_the_catalogue_refuses_is_a_conflict() {
    let server = TestServer::start().await;
    let client = officer(&server).await;
    let original = record("officer-01");
    let receipt = client.submit_inspection(&original).await.unwrap();
    let mut altered = original.clone();
    altered.matter_code = "ZZ-404".into();
    let resend = client.submit_inspection(&altered).await;
    let bytes = prost::Message::encode_to_vec(&original);
    assert_conflict(&server, &original.id, &receipt, bytes, resend).await;
    // Bytes that break a structural rule are a conflict too.
    let mut altered = original.clone();
    altered.place.as_mut().unwrap().latitude = 91.0;
    let resend = client.submit_inspection(&altered).await;
    let bytes = prost::Message::encode_to_vec(&original);
    assert_conflict(&server, &original.id, &receipt, bytes, resend).await;
    // The same bytes still get the original receipt.
    let again = client.submit_inspection(&original).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.server_seq, receipt.server_seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_resent_with_consent_after_sending_is_a_conflict() {
    let server = TestServer::start().await;
    let client = officer(&server).await;
    let original = example_service("officer-01", "CASE-R1", now());
    let receipt = client.submit_service(&original).await.unwrap();
    let mut altered = original.clone();
    altered.consent.as_mut().unwrap().signed_at_ms = altered.sent_at_ms + 1;
    let resend = client.submit_service(&altered).await;
    let bytes = prost::Message::encode_to_vec(&original);
    assert_conflict(&server, &original.id, &receipt, bytes, resend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_event_resent_with_a_time_before_2000_is_a_conflict() {
    let server = TestServer::start().await;
    let client = officer(&server).await;
    let mut service = example_service("officer-01", "CASE-R2", now());
    service.delivered_at_ms = 0;
    service.confirmed_at_ms = 0;
    client.submit_service(&service).await.unwrap();
    let original = pb::ServiceEvent {
        id: Uuid::now_v7().to_string(),
        service_id: service.id.clone(),
        kind: ServiceEventKind::Delivered as i32,
        at_ms: now() - 1_000,
        ..Default::default()
    };
    let receipt = client.submit_service_event(&original).await.unwrap();
    let mut altered = original.clone();
    altered.at_ms = 1_000;
    let resend = client.submit_service_event(&altered).await;
    let bytes = prost::Message::encode_to_vec(&original);
    assert_conflict(&server, &original.id, &receipt, bytes, resend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interview_resent_ending_before_it_starts_is_a_conflict() {
    let server = TestServer::start().await;
    let client = officer(&server).await;
    let original = example_interview(["officer-01", "officer-02"], "CASE-R3", now());
    let receipt = client.submit_interview(&original).await.unwrap();
    let mut altered = original.clone();
    altered.ended_at_ms = altered.started_at_ms - 1;
    let resend = client.submit_interview(&altered).await;
    let bytes = prost::Message::encode_to_vec(&original);
    assert_conflict(&server, &original.id, &receipt, bytes, resend).await;
}

/// The receipt names what was stored, field by field, and a resend of the
/// same bytes gets that same receipt back: the id, the time, both digests
/// of the bytes as sent, and the leaf in the transparency log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_names_the_stored_bytes_and_a_resend_gets_it_again() {
    use prost::Message;
    use sha2::Digest;
    let server = TestServer::start().await;
    let client = officer(&server).await;
    let (first, second) = (record("officer-01"), record("officer-01"));
    let before = now();
    let receipt = client.submit_inspection(&first).await.unwrap();
    let next = client.submit_inspection(&second).await.unwrap();
    let bytes = first.encode_to_vec();
    assert_eq!(receipt.item_id, first.id);
    assert!((before..=now()).contains(&receipt.received_at_ms), "{receipt:?}");
    assert_eq!(receipt.sha256, sha2::Sha256::digest(&bytes).to_vec());
    assert_eq!(receipt.sm3, sm3::Sm3::digest(&bytes).to_vec());
    assert_eq!(next.leaf_index, receipt.leaf_index + 1, "leaves in commit order");
    let proof = client.inclusion_proof(&first.id).await.unwrap();
    assert_eq!(proof.leaf_index, receipt.leaf_index);
    let again = client.submit_inspection(&first).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.item_id.as_str(), again.server_seq, again.received_at_ms),
        (
            receipt.item_id.as_str(),
            receipt.server_seq,
            receipt.received_at_ms
        )
    );
    assert_eq!(
        (&again.sha256, &again.sm3, again.leaf_index),
        (&receipt.sha256, &receipt.sm3, receipt.leaf_index)
    );
}

/// A photo resent with the same bytes but another header (another record,
/// capture time, place or case) is a conflict: the stored header stays, and
/// the terminal is not told its new header was stored. The same header from
/// any offset is a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_resent_with_another_header_is_a_conflict() {
    use fieldlink_protocol::frame;
    use fieldlink_tests::{expect_error, raw_request, raw_session};
    let server = TestServer::start().await;
    let client = officer(&server).await;
    let owner = record("officer-01");
    client.submit_inspection(&owner).await.unwrap();
    let (photo, jpeg) = fieldlink_tests::photo_for(&owner.id, 11);
    let original = client.upload_photo(&photo, |_| {}).await.unwrap();
    client.close().await;

    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let send = |header: pb::PhotoHeader| {
        let connection = connection.clone();
        let jpeg = jpeg.clone();
        async move {
            let mut bytes = frame::encode(&pb::Request {
                body: Some(pb::request::Body::UploadPhoto(header.clone())),
                capture: None,
            });
            bytes.extend_from_slice(&jpeg[header.offset as usize..]);
            raw_request(&connection, &bytes, true).await
        }
    };
    let mut other_case = photo.header(0);
    other_case.case_id = "CASE-ELSEWHERE".into();
    let mut other_place = photo.header(0);
    if let Some(place) = other_place.capture_place.as_mut() {
        place.latitude += 0.01;
    }
    let mut other_time = photo.header(0);
    other_time.captured_at_ms -= 60_000;
    for (what, header) in [("case", other_case), ("place", other_place), ("time", other_time)] {
        let status = expect_error(send(header).await);
        assert_eq!(
            status.code_or_unknown(),
            Code::AlreadyExists,
            "{what}: {status:?}"
        );
        assert_eq!(status.conflicting_seq, original.server_seq, "{what}");
    }
    // The same header, from the start or from an offset: the stored receipt.
    for offset in [0, 100] {
        match send(photo.header(offset)).await.result {
            Some(pb::response::Result::Receipt(receipt)) => {
                assert!(receipt.replayed, "offset {offset}");
                assert_eq!(receipt.server_seq, original.server_seq);
            }
            other => panic!("offset {offset}: expected the stored receipt, got {other:?}"),
        }
    }
    let stored = server
        .server
        .state()
        .storage
        .item(Uuid::parse_str(&original.item_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.case_id, None, "the stored header is the original one");
}
