//! Inspection records end to end: receipts, idempotency, validation.

use std::collections::HashSet;
use std::sync::Arc;

use fieldlink_client::Error;
use fieldlink_protocol::pb::{Code, Outcome};
use fieldlink_tests::{connect, record, TestServer};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_records_from_twenty_clients_get_a_thousand_receipts() {
    let server = TestServer::start().await;
    let officers = ["officer-01", "officer-02", "officer-03", "officer-04"];
    let devices = ["device-001", "device-002", "device-003"];
    let mut tasks = Vec::new();
    for index in 0..20 {
        let officer = officers[index % officers.len()];
        let client = Arc::new(
            connect(server.addr(), devices[index % devices.len()], officer)
                .await
                .unwrap(),
        );
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for _ in 0..50 {
                let record = record(officer);
                let receipt = client.submit_inspection(&record).await.unwrap();
                assert_eq!(receipt.item_id, record.id);
                assert!(!receipt.replayed);
                receipts.push(receipt);
            }
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.extend(task.await.unwrap());
    }
    assert_eq!(receipts.len(), 1000);
    let ids: HashSet<_> = receipts.iter().map(|r| r.item_id.clone()).collect();
    let seqs: HashSet<_> = receipts.iter().map(|r| r.server_seq).collect();
    assert_eq!(ids.len(), 1000, "no duplicate ids");
    assert_eq!(seqs.len(), 1000, "no duplicate sequence numbers");
    assert_eq!(server.item_count().await, 1000, "one row per receipt");
    let stats = &server.server.state().commit_stats;
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(batches <= 1000, "{batches} batches for 1000 items");
}

#[tokio::test]
async fn the_receipt_digest_is_of_the_bytes_as_sent_and_stored_byte_exact() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let record = record("officer-01");
    let receipt = client.submit_inspection(&record).await.unwrap();
    let sent = prost::Message::encode_to_vec(&record);
    assert_eq!(receipt.sha256, Sha256::digest(&sent).to_vec());
    let id = uuid::Uuid::parse_str(&record.id).unwrap();
    let stored = server.server.state().storage.item(id).await.unwrap().unwrap();
    assert_eq!(stored.body, sent);
    assert_eq!(stored.device_id, "device-001");
    assert_eq!(stored.officer_id, "officer-01");
}

#[tokio::test]
async fn receipt_is_replayed_when_item_is_resent_after_a_dropped_connection() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let record = record("officer-01");
    let first = client.submit_inspection(&record).await.unwrap();
    client.disconnect().await;
    // The next call reconnects (with the session token) and resends.
    let again = client.submit_inspection(&record).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.server_seq, first.server_seq);
    assert_eq!(again.sha256, first.sha256);
    assert_eq!(again.received_at_ms, first.received_at_ms);
    // A different device and session gets the same answer for the same bytes.
    let other = connect(server.addr(), "device-002", "officer-01").await.unwrap();
    assert_eq!(
        other.submit_inspection(&record).await.unwrap().server_seq,
        first.server_seq
    );
    assert_eq!(server.item_count().await, 1);
}

#[tokio::test]
async fn the_same_id_with_other_bytes_is_a_conflict_and_nothing_is_overwritten() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let original = record("officer-01");
    let first = client.submit_inspection(&original).await.unwrap();
    let mut changed = original.clone();
    changed.findings = "altered afterwards".into();
    let error = client.submit_inspection(&changed).await.unwrap_err();
    let status = error.status().expect("a typed refusal").clone();
    assert_eq!(status.code_or_unknown(), Code::AlreadyExists);
    assert_eq!(status.conflicting_seq, first.server_seq);
    assert!(!error.is_retryable());
    let stored = server
        .server
        .state()
        .storage
        .item(uuid::Uuid::parse_str(&original.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.body, prost::Message::encode_to_vec(&original));
    assert_eq!(server.item_count().await, 1);
}

/// Submits `record` and returns the refusal's field; the record must be refused
/// as INVALID_ARGUMENT (or `code`), with nothing stored.
async fn refused(
    server: &TestServer,
    officer: &str,
    record: fieldlink_protocol::pb::InspectionRecord,
    code: Code,
) -> String {
    let client = connect(server.addr(), "device-001", officer).await.unwrap();
    let before = server.item_count().await;
    let error = client.submit_inspection(&record).await.unwrap_err();
    let Error::Rejected(status) = error else {
        panic!("expected a refusal, got {error:?}")
    };
    assert_eq!(status.code_or_unknown(), code, "{status}");
    assert!(!status.retryable);
    assert_eq!(server.item_count().await, before, "nothing stored");
    status.field
}

#[tokio::test]
async fn the_server_applies_every_record_rule_with_the_field_named() {
    let server = TestServer::start().await;

    // Protocol rules (each unit-tested in fieldlink-protocol) reach the terminal with the field.
    let mut r = record("officer-01");
    r.place.as_mut().unwrap().latitude = 91.0;
    assert_eq!(
        refused(&server, "officer-01", r, Code::InvalidArgument).await,
        "place.latitude"
    );
    let mut r = record("officer-01");
    r.started_at_ms = fieldlink_client::now_ms() + 60 * 60 * 1000;
    r.ended_at_ms = 0;
    assert_eq!(
        refused(&server, "officer-01", r, Code::InvalidArgument).await,
        "started_at_ms"
    );
    let mut r = record("officer-01");
    r.id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427".to_string();
    assert_eq!(
        refused(&server, "officer-01", r, Code::InvalidArgument).await,
        "id"
    );
    let mut r = record("officer-01");
    r.matter_code = "bad code".into();
    assert_eq!(
        refused(&server, "officer-01", r, Code::InvalidArgument).await,
        "matter_code"
    );

    // Catalogue: a well-formed code that names no matter.
    let mut r = record("officer-01");
    r.matter_code = "XX-999".into();
    assert_eq!(
        refused(&server, "officer-01", r, Code::InvalidArgument).await,
        "matter_code"
    );

    // Directory: every officer named must be enrolled.
    let mut r = record("officer-01");
    r.officer_ids.push("officer-99".into());
    assert_eq!(
        refused(&server, "officer-01", r, Code::InvalidArgument).await,
        "officer_ids[1]"
    );

    // Art. 42: an enforcement action needs two officers...
    let mut r = record("officer-01");
    r.outcome = Outcome::OrderToRectify as i32;
    assert_eq!(
        refused(&server, "officer-01", r.clone(), Code::InvalidArgument).await,
        "officer_ids"
    );
    // ...who hold enforcement credentials (the supervisor holds none).
    r.officer_ids.push("supervisor-01".into());
    assert_eq!(
        refused(&server, "officer-01", r.clone(), Code::InvalidArgument).await,
        "officer_ids[1]"
    );
    r.officer_ids[1] = "officer-02".into();
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    assert!(
        client.submit_inspection(&r).await.is_ok(),
        "two credentialed officers may act"
    );

    // The signed-in officer must be among those present.
    let r = record("officer-02");
    assert_eq!(
        refused(&server, "officer-01", r, Code::PermissionDenied).await,
        "officer_ids"
    );
}

/// The catalogue has versions: a record is checked against the one in force
/// when it was captured, and an enforcement-measure outcome needs a matter
/// that is one (the demo catalogue's 2026-07 version dropped FG-004).
#[tokio::test]
async fn records_are_checked_against_the_catalogue_version_in_force_when_captured() {
    let server = TestServer::start().await;
    let catalogue = server.server.state().catalogue.get();
    let july = catalogue.versions()[1].effective_from_ms;
    assert!(catalogue.versions()[0].matter("FG-004").is_some());
    assert!(catalogue.versions()[1].matter("FG-004").is_none());
    // Captured now: the matter has left the catalogue.
    let mut r = record("officer-01");
    r.matter_code = "FG-004".into();
    assert_eq!(
        refused(&server, "officer-01", r.clone(), Code::InvalidArgument).await,
        "matter_code"
    );
    // Captured before the version that dropped it: the record stands.
    r.id = uuid::Uuid::now_v7().to_string();
    r.started_at_ms = july - 3_600_000;
    r.ended_at_ms = july - 1_800_000;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    client
        .submit_inspection(&r)
        .await
        .expect("the version in force at capture time lists FG-004");
    // An enforcement measure only under a matter that is one.
    let mut r = record("officer-01");
    r.outcome = Outcome::EnforcementMeasure as i32;
    r.officer_ids.push("officer-02".into());
    assert_eq!(
        refused(&server, "officer-01", r.clone(), Code::InvalidArgument).await,
        "outcome"
    );
    r.matter_code = "ZJ-003".into();
    assert!(catalogue.matter("ZJ-003").unwrap().enforcement_measure);
    client
        .submit_inspection(&r)
        .await
        .expect("ZJ-003 is a compulsory measure");
}
