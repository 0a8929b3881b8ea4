//! The transparency log end to end: every kind of item gets a leaf in its
//! commit's transaction, receipts carry SM3 and the leaf index, terminals
//! verify inclusion and consistency proofs against signed checkpoints, and a
//! rewritten log is caught by a terminal holding an older checkpoint.

use fieldlink_client::Error;
use fieldlink_protocol::log::LeafKind;
use fieldlink_protocol::pb::{self, request::Body};
use fieldlink_tests::{
    assignment_for, connect, dev_config, expect_error, raw_request, raw_session, record, TestServer,
};
use prost::Message;
use sha2::Digest;

fn sm3(bytes: &[u8]) -> Vec<u8> {
    sm3::Sm3::digest(bytes).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_gets_a_leaf_and_its_proof_verifies_on_the_terminal() {
    let server = TestServer::start().await;
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut receipts = Vec::new();
    for _ in 0..7 {
        let record = record("officer-01");
        let receipt = officer.submit_inspection(&record).await.unwrap();
        assert_eq!(
            receipt.sm3,
            sm3(&record.encode_to_vec()),
            "a record's SM3 is of its bytes"
        );
        receipts.push((receipt, LeafKind::Inspection));
    }
    let supervisor = connect(server.addr(), "device-002", "supervisor-01")
        .await
        .unwrap();
    let dispatched = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let dispatch_receipt = dispatched.receipt.unwrap();
    assert!(
        dispatch_receipt.sm3.is_empty(),
        "its sha256 is of the request, not of the logged event"
    );
    let event_id = dispatch_receipt.item_id;

    // Leaves are consecutive, in commit order, one per item.
    let indexes: Vec<u64> = receipts.iter().map(|(r, _)| r.leaf_index).collect();
    assert!(indexes.windows(2).all(|w| w[1] == w[0] + 1), "{indexes:?}");
    for (receipt, kind) in &receipts {
        let verified = officer.inclusion_proof(&receipt.item_id).await.unwrap();
        assert_eq!(verified.leaf_index, receipt.leaf_index);
        assert_eq!(verified.leaf.kind, *kind);
        assert_eq!(verified.leaf.server_seq, receipt.server_seq);
        assert_eq!(verified.leaf.sha256.to_vec(), receipt.sha256);
        assert_eq!(verified.leaf.sm3.to_vec(), receipt.sm3);
        assert_eq!(
            (
                verified.leaf.device_id.as_str(),
                verified.leaf.officer_id.as_str()
            ),
            ("device-001", "officer-01")
        );
        assert!(verified.checkpoint.size > receipt.leaf_index);
    }
    // The assignment event is a leaf too, visible to the supervisor who made it.
    let event = supervisor.inclusion_proof(&event_id).await.unwrap();
    assert_eq!(event.leaf.kind, LeafKind::AssignmentEvent);
    assert_eq!(event.leaf.officer_id, "supervisor-01");
    assert_eq!(event.leaf_index, dispatch_receipt.leaf_index);
    assert_eq!(event.leaf_index, receipts.last().unwrap().0.leaf_index + 1);
    // The terminal's head moved forward consistently.
    let head = officer.check_log().await.unwrap();
    assert!(head.size >= 7);

    // Another officer's item looks unknown to this one; bad ids are typed errors.
    let stranger = connect(server.addr(), "device-003", "officer-03").await.unwrap();
    let hidden = stranger
        .inclusion_proof(&receipts[0].0.item_id)
        .await
        .unwrap_err();
    assert_eq!(
        hidden.status().map(|s| s.reason.as_str()),
        Some("NOT_FOUND"),
        "{hidden}"
    );
    let unknown = officer
        .inclusion_proof(&uuid::Uuid::now_v7().to_string())
        .await
        .unwrap_err();
    assert_eq!(
        unknown.status().map(|s| s.reason.as_str()),
        Some("NOT_FOUND"),
        "{unknown}"
    );
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    for body in [
        Body::LogProof(pb::ProofQuery {
            item_id: "not-a-uuid".into(),
        }),
        Body::LogConsistency(pb::ConsistencyQuery {
            old_size: 0,
            new_size: 0,
        }),
    ] {
        let frame = fieldlink_protocol::frame::encode(&pb::Request {
            body: Some(body),
            capture: None,
        });
        let status = expect_error(raw_request(&connection, &frame, true).await);
        assert_eq!(status.code, pb::Code::InvalidArgument as i32, "{status:?}");
    }
    let (stored_before, log_before) = (
        server.item_count().await,
        server.server.state().storage.log_size().await.unwrap(),
    );
    assert_eq!(
        log_before,
        stored_before + 1,
        "one leaf per item and per assignment event"
    );
}

/// A real JPEG taken a second ago here, for `record_id`.
fn photo_of(record_id: &str, seed: u64) -> fieldlink_client::PhotoUpload {
    fieldlink_tests::photo_for(record_id, seed).0
}

/// A server on `data_dir` and officer-01's terminal signed in to it.
async fn start_and_connect(
    data_dir: &std::path::Path,
) -> (fieldlink_server::RunningServer, fieldlink_client::Client) {
    let server = fieldlink_tests::start_server(dev_config(data_dir)).await.unwrap();
    let client = connect(server.local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_after_a_restart_and_a_rewritten_log_is_a_fork() {
    if fieldlink_tests::postgres_requested() {
        // The rewrite below edits the SQLite file; PostgreSQL's owner role
        // is covered by the audit (docs/operations.md).
        return;
    }
    let data_dir = tempfile::tempdir().unwrap();
    let (server, client) = start_and_connect(data_dir.path()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            client
                .submit_inspection(&record("officer-01"))
                .await
                .unwrap()
                .item_id,
        );
    }
    let first = client.inclusion_proof(&ids[2]).await.unwrap();
    let saved = first.checkpoint.note.clone();
    client.close().await;
    server.shutdown().await;

    // After a restart the same proofs verify, consistent with what the
    // terminal saved.
    let (server, client) = start_and_connect(data_dir.path()).await;
    client.trust_checkpoint(&saved).await.unwrap();
    for id in &ids {
        client.inclusion_proof(id).await.unwrap();
    }
    client.close().await;
    server.shutdown().await;

    // Someone with the database file drops the triggers, alters a stored
    // record's digest and rebuilds the log from the altered rows.
    let db = data_dir.path().join("fieldlink.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    for sql in [
        "DROP TRIGGER items_no_update",
        "DROP TRIGGER log_leaves_no_delete",
        "DROP TRIGGER log_hashes_no_delete",
        "DROP TRIGGER log_checkpoints_no_delete",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    sqlx::query("UPDATE items SET sha256 = zeroblob(32) WHERE item_id = ?")
        .bind(&ids[1])
        .execute(&pool)
        .await
        .unwrap();
    for table in ["log_leaves", "log_hashes", "log_checkpoints"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let (server, client) = start_and_connect(data_dir.path()).await;
    client.trust_checkpoint(&saved).await.unwrap();
    match client.inclusion_proof(&ids[0]).await {
        Err(Error::LogForked(detail)) => assert!(!detail.is_empty()),
        other => panic!("expected the terminal to see a fork, got {other:?}"),
    }
    let forked = client.check_log().await.unwrap_err();
    assert!(matches!(forked, Error::LogForked(_)), "{forked}");
    assert!(!forked.is_retryable());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_passes_intact_data_and_names_each_altered_missing_or_extra_item() {
    if fieldlink_tests::postgres_requested() {
        return; // The tampering below edits the SQLite file and the blob directory.
    }
    use fieldlink_server::audit::{audit_data, Problem};
    let data_dir = tempfile::tempdir().unwrap();
    let (server, client) = start_and_connect(data_dir.path()).await;
    let mut records = Vec::new();
    for _ in 0..3 {
        let record = record("officer-01");
        client.submit_inspection(&record).await.unwrap();
        records.push(record.id);
    }
    let photo = photo_of(&records[0], 7);
    let photo_receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
    let supervisor = connect(server.local_addr(), "device-002", "supervisor-01")
        .await
        .unwrap();
    supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    // A checkpoint over everything (signed on demand for the newest leaf).
    client.inclusion_proof(&photo_receipt.item_id).await.unwrap();
    let event_id = supervisor
        .list_assignments(&pb::ListAssignments::default())
        .await
        .unwrap();
    assert_eq!(event_id.assignments.len(), 1);
    supervisor.close().await;
    client.close().await;
    server.shutdown().await;

    let config = dev_config(data_dir.path());
    let intact = audit_data(&config, None, "auditor").await.unwrap();
    assert_eq!(intact.problems, vec![], "intact data: {intact:?}");
    assert_eq!((intact.leaves, intact.blobs), (5, 1));
    assert!(intact.checkpoints >= 1);

    // Behind the server's back: a record's bytes changed, the photo's
    // original overwritten, and an item inserted with no leaf.
    let db = data_dir.path().join("fieldlink.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER items_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE items SET body = X'0a0101' WHERE item_id = ?")
        .bind(&records[1])
        .execute(&pool)
        .await
        .unwrap();
    let extra = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO items (item_id, kind, device_id, officer_id, received_at_ms, sha256, body) \
         VALUES (?, 'inspection', 'device-001', 'officer-01', 1, zeroblob(32), X'00')",
    )
    .bind(&extra)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let blobs =
        fieldlink_server::evidence::blob_store::BlobStore::open(&data_dir.path().join("evidence/blobs"))
            .unwrap();
    let sha: [u8; 32] = photo_receipt.sha256.clone().try_into().unwrap();
    std::fs::write(blobs.path_of(&sha), b"not the photo").unwrap();

    let found = audit_data(&config, None, "auditor").await.unwrap();
    assert_eq!(
        found.leaves, 6,
        "the first audit logged itself as a custody event"
    );
    let named = |wanted: &dyn Fn(&Problem) -> bool| found.problems.iter().filter(|p| wanted(p)).count();
    assert_eq!(
        named(&|p| matches!(p, Problem::AlteredItem { item_id, detail, .. }
            if *item_id == records[1] && detail.contains("sm3"))),
        1,
        "{found:?}"
    );
    assert_eq!(
        named(&|p| matches!(p, Problem::AlteredBlob { item_id, .. } if *item_id == photo_receipt.item_id)),
        1,
        "{found:?}"
    );
    assert_eq!(
        named(&|p| matches!(p, Problem::UnloggedItem { item_id } if *item_id == extra)),
        1,
        "{found:?}"
    );
    assert_eq!(found.problems.len(), 3, "nothing else is blamed: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_scrub_reports_a_missing_original_as_a_metric() {
    use std::sync::atomic::Ordering;
    let server = TestServer::start_with(|config| config.scrub_interval_ms = 100).await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let record = record("officer-01");
    client.submit_inspection(&record).await.unwrap();
    let photo = photo_of(&record.id, 9);
    let receipt = client.upload_photo(&photo, |_| {}).await.unwrap();
    let state = server.server.state();
    let scrubs_done = |at_least: u64| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while state.metrics.scrubs.load(Ordering::Relaxed) < at_least {
            assert!(std::time::Instant::now() < deadline, "no scrub finished");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let before = state.metrics.scrubs.load(Ordering::Relaxed);
    scrubs_done(before + 1).await;
    assert_eq!(state.metrics.evidence_problems.load(Ordering::Relaxed), 0);

    // The original disappears from the blob store behind the server's back.
    let sha: [u8; 32] = receipt.sha256.clone().try_into().unwrap();
    state.evidence.blobs.remove(&sha).unwrap();
    let after = state.metrics.scrubs.load(Ordering::Relaxed);
    scrubs_done(after + 2).await;
    assert_eq!(state.metrics.evidence_problems.load(Ordering::Relaxed), 1);
    client.close().await;
}
