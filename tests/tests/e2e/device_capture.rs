//! Device-signed capture end to end: the SDK signs every item with the
//! device key, the server checks the statement against the item and the
//! signature against the device certificate it authenticated, stores it and
//! logs it in the leaf; a statement of other bytes, another officer or
//! another device's key is refused with a typed error and nothing is stored.

use fieldlink_client::capture::{Captured, DeviceSigner};
use fieldlink_protocol::frame;
use fieldlink_protocol::log::LeafKind;
use fieldlink_protocol::pb::{self, request::Body};
use fieldlink_tests::{certs_dir, connect, expect_error, raw_request, raw_session, record, TestServer};
use prost::Message;

fn signer(device: &str) -> DeviceSigner {
    DeviceSigner::from_pem(&std::fs::read(certs_dir().join(format!("{device}.key"))).unwrap()).unwrap()
}

fn signed(record: &pb::InspectionRecord, bytes: &[u8], officer: &str, key: &str) -> pb::CaptureSignature {
    let place = record.place.as_ref().map(|p| (p.latitude, p.longitude));
    signer(key)
        .sign(
            &Captured {
                kind: LeafKind::Inspection,
                item_id: &record.id,
                bytes,
                digests: None,
                captured_at_ms: record.started_at_ms,
                place,
            },
            officer,
            "device-001",
        )
        .unwrap()
}

fn request(record: &pb::InspectionRecord, capture: Option<pb::CaptureSignature>) -> Vec<u8> {
    frame::encode(&pb::Request {
        body: Some(Body::SubmitInspection(record.clone())),
        capture,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_valid_device_signatures_in_the_leaf_and_refuses_others() {
    let server = TestServer::start().await;
    // The SDK signs by default: the leaf carries the statement.
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let sent = record("officer-01");
    let receipt = officer.submit_inspection(&sent).await.unwrap();
    let proof = officer.inclusion_proof(&receipt.item_id).await.unwrap();
    let capture = proof.leaf.capture.clone().expect("a signed leaf");
    let statement = fieldlink_protocol::capture::CaptureStatement::decode(&capture.statement).unwrap();
    assert_eq!(statement.item_id.to_string(), sent.id);
    assert_eq!(statement.sha256.to_vec(), receipt.sha256);
    assert_eq!(statement.sm3.to_vec(), receipt.sm3);
    assert_eq!(
        (statement.officer_id.as_str(), statement.device_id.as_str()),
        ("officer-01", "device-001")
    );
    let stored = server
        .server
        .state()
        .storage
        .item(uuid::Uuid::parse_str(&sent.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let device_pem = std::fs::read(certs_dir().join("device-001.pem")).unwrap();
    let device_der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(&device_pem)
            .unwrap()
            .to_vec()
    };
    assert_eq!(
        stored.capture.unwrap().certificate,
        device_der,
        "checked against the TLS certificate"
    );
    officer.close().await;

    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let before = server.item_count().await;
    let refused = |field: &'static str| {
        move |status: pb::Status| {
            assert_eq!(status.code, pb::Code::InvalidArgument as i32, "{status:?}");
            assert_eq!(status.field, field, "{status:?}");
            assert!(!status.retryable);
        }
    };
    // A statement of other bytes (the record changed after signing).
    let mut changed = record("officer-01");
    let original_bytes = changed.encode_to_vec();
    let capture = signed(&changed, &original_bytes, "officer-01", "device-001");
    changed.findings.push_str(" (edited)");
    refused("capture.statement")(expect_error(
        raw_request(&connection, &request(&changed, Some(capture)), true).await,
    ));
    // Signed for another officer.
    let other = record("officer-01");
    let capture = signed(&other, &other.encode_to_vec(), "officer-02", "device-001");
    refused("capture.statement")(expect_error(
        raw_request(&connection, &request(&other, Some(capture)), true).await,
    ));
    // Signed with another device's key.
    let capture = signed(&other, &other.encode_to_vec(), "officer-01", "device-002");
    refused("capture.signature")(expect_error(
        raw_request(&connection, &request(&other, Some(capture)), true).await,
    ));
    // A signature cut short, an unknown scheme, a statement that is not one.
    let mut capture = signed(&other, &other.encode_to_vec(), "officer-01", "device-001");
    capture.signature.truncate(10);
    refused("capture.signature")(expect_error(
        raw_request(&connection, &request(&other, Some(capture.clone())), true).await,
    ));
    capture.scheme = 0x0401;
    refused("capture.signature")(expect_error(
        raw_request(&connection, &request(&other, Some(capture.clone())), true).await,
    ));
    capture.statement = vec![1, 2, 3];
    refused("capture.statement")(expect_error(
        raw_request(&connection, &request(&other, Some(capture)), true).await,
    ));
    assert_eq!(server.item_count().await, before, "nothing refused was stored");

    // The same record with a good signature is stored; one without any
    // signature is stored as unsigned (a version 1 leaf).
    let capture = signed(&other, &other.encode_to_vec(), "officer-01", "device-001");
    match raw_request(&connection, &request(&other, Some(capture)), true)
        .await
        .result
    {
        Some(pb::response::Result::Receipt(_)) => {}
        other => panic!("expected a receipt, got {other:?}"),
    }
    let unsigned = record("officer-01");
    match raw_request(&connection, &request(&unsigned, None), true)
        .await
        .result
    {
        Some(pb::response::Result::Receipt(_)) => {}
        other => panic!("expected a receipt, got {other:?}"),
    }
    let storage = &server.server.state().storage;
    let (_, data) = storage
        .log_leaf(uuid::Uuid::parse_str(&unsigned.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data[0], fieldlink_protocol::log::LEAF_VERSION);
    let (_, data) = storage
        .log_leaf(uuid::Uuid::parse_str(&other.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data[0], fieldlink_protocol::log::LEAF_VERSION_SIGNED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_signed_for_another_place_is_refused_before_its_bytes() {
    let server = TestServer::start().await;
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let owner = record("officer-01");
    officer.submit_inspection(&owner).await.unwrap();
    // Signed by the SDK as sent: stored and verified in its proof.
    let (photo, jpeg) = fieldlink_tests::photo_for(&owner.id, 9);
    let receipt = officer.upload_photo(&photo, |_| {}).await.unwrap();
    let proof = officer.inclusion_proof(&receipt.item_id).await.unwrap();
    assert!(proof.leaf.capture.is_some());
    officer.close().await;

    // A statement naming another place than the header declares is
    // refused before any byte is read, and nothing is stored.
    let (other, _) = fieldlink_tests::photo_for(&owner.id, 9);
    let capture = signer("device-001")
        .sign(
            &Captured {
                kind: LeafKind::Photo,
                item_id: other.evidence_id(),
                bytes: &jpeg,
                digests: None,
                captured_at_ms: other.captured_at_ms(),
                place: Some((30.0, 120.0)),
            },
            "officer-01",
            "device-001",
        )
        .unwrap();
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let mut bytes = frame::encode(&pb::Request {
        body: Some(Body::UploadPhoto(other.header(0))),
        capture: Some(capture),
    });
    bytes.extend_from_slice(&jpeg);
    let status = expect_error(raw_request(&connection, &bytes, true).await);
    assert_eq!(status.field, "capture.statement", "{status:?}");
    assert!(status.message.contains("capture place"), "{status:?}");
    assert!(server
        .server
        .state()
        .storage
        .photo(uuid::Uuid::parse_str(other.evidence_id()).unwrap())
        .await
        .unwrap()
        .is_none());
}
