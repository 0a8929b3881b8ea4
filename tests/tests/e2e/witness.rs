//! The witness end to end: a witness process (in this test, its HTTP server
//! on loopback) cosigns the server's checkpoints as the log grows; an
//! export's checkpoint carries its cosignature and `verify` can require it;
//! a log truncated and re-appended (a new database under the same key) is
//! refused by the witness, even after the witness restarts, and its export
//! is refused.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fieldlink_client::evidence_export::verify_package;
use fieldlink_server::export::{export_data, ExportError};
use fieldlink_server::witness::{Witness, WitnessConfig};
use fieldlink_tests::{certs_dir, connect, record, TestServer};

const CASE: &str = "CASE-WITNESSED-1";

struct RunningWitness {
    addr: std::net::SocketAddr,
    key: String,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_witness(state_file: &std::path::Path, private_key: &str) -> RunningWitness {
    let witness = Witness::open(WitnessConfig {
        private_key: private_key.to_owned(),
        log_key: std::fs::read_to_string(certs_dir().join("log.pub"))
            .unwrap()
            .trim()
            .to_owned(),
        origin: fieldlink_server::Config::default().log_origin,
        state_file: state_file.to_path_buf(),
    })
    .unwrap();
    let key = witness.verifier_key();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(fieldlink_server::witness::serve(
        Arc::new(witness),
        listener,
        stop.clone(),
    ));
    RunningWitness {
        addr,
        key,
        stop,
        task,
    }
}

/// Waits (generously) until `counter` reaches `at_least`.
async fn wait_for(counter: &std::sync::atomic::AtomicU64, at_least: u64, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while counter.load(Ordering::Relaxed) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// officer-01's terminal on `server`, requiring the witness of `key_file`.
async fn requiring(server: &TestServer, key_file: &std::path::Path) -> fieldlink_client::Client {
    let mut config = fieldlink_tests::client_config(server.addr(), "device-001", "officer-01");
    config.log = Some(config.log.take().unwrap().require_witness(key_file).unwrap());
    fieldlink_client::Client::connect(config).await.unwrap()
}

/// The item's proof, once the server has a cosigned checkpoint covering it.
async fn proof_when_cosigned(
    terminal: &fieldlink_client::Client,
    item_id: &str,
) -> fieldlink_client::VerifiedInclusion {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match terminal.inclusion_proof(item_id).await {
            Ok(proved) => return proved,
            Err(fieldlink_client::Error::NotCosigned(detail)) => {
                assert!(tokio::time::Instant::now() < deadline, "never cosigned: {detail}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
}

async fn submit_case_records(server: &TestServer, count: usize) {
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    for _ in 0..count {
        let mut item = record("officer-01");
        item.case_id = CASE.into();
        officer.submit_inspection(&item).await.unwrap();
    }
    officer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_a_growing_log_and_refuses_a_rewritten_one() {
    let witness_dir = tempfile::tempdir().unwrap();
    let state_file = witness_dir.path().join("witness.json");
    let (private_key, _) = fieldlink_protocol::cosignature::generate_key("witness.test", [5; 32]);
    let witness = start_witness(&state_file, &private_key).await;
    let entry = format!("http://{} {}", witness.addr, witness.key);

    let server = TestServer::start_with(|config| config.witnesses = vec![entry.clone()]).await;
    let metrics = server.server.state().metrics.clone();
    submit_case_records(&server, 3).await;
    wait_for(&metrics.witness_cosignatures, 1, "a cosignature").await;
    // The witness follows the log as it grows (the first checkpoint may be
    // the empty tree's).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let witnessed: fieldlink_server::witness::Witnessed =
            serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
        if witnessed.size >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the witness stays at {witnessed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The export's checkpoint is cosigned; verify requires it on request.
    let mut config = fieldlink_tests::dev_config(server.data_dir.path());
    config.database = server.database.as_ref().map(|d| d.url.clone());
    config.witnesses = vec![entry.clone()];
    let out = tempfile::tempdir().unwrap();
    let package = out.path().join("case.tar");
    let summary = export_data(&config, CASE, "clerk", &package).await.unwrap();
    assert_eq!(summary.cosigned_by, vec![witness.key.clone()]);
    let log_key = std::fs::read_to_string(certs_dir().join("log.pub")).unwrap();
    let verified = verify_package(
        &package,
        &fieldlink_client::evidence_export::Trust {
            log_key: Some(&log_key),
            witness_keys: std::slice::from_ref(&witness.key),
            ca_pem: None,
        },
    )
    .unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.cosigned_by, vec![witness.key.clone()]);
    let (_, stranger) = fieldlink_protocol::cosignature::generate_key("stranger", [6; 32]);
    let unwitnessed = verify_package(
        &package,
        &fieldlink_client::evidence_export::Trust {
            log_key: Some(&log_key),
            witness_keys: std::slice::from_ref(&stranger),
            ca_pem: None,
        },
    )
    .unwrap();
    assert!(!unwitnessed.ok);
    assert_eq!(unwitnessed.failures.len(), 1, "{unwitnessed:?}");
    assert_eq!(unwitnessed.failures[0].check, "cosignature");
    // A terminal that requires the witness gets proofs against cosigned
    // checkpoints only (retrying while the newest is not cosigned yet).
    let key_file = witness_dir.path().join("witness.pub");
    std::fs::write(&key_file, format!("{}\n", witness.key)).unwrap();
    let terminal = requiring(&server, &key_file).await;
    let mut item = record("officer-01");
    item.case_id = CASE.into();
    let receipt = terminal.submit_inspection(&item).await.unwrap();
    let proved = proof_when_cosigned(&terminal, &receipt.item_id).await;
    assert!(
        proved.checkpoint.note.contains("— witness.test "),
        "{}",
        proved.checkpoint.note
    );
    assert!(proved.checkpoint.size > receipt.leaf_index);
    terminal.close().await;
    let stranger_file = witness_dir.path().join("stranger.pub");
    std::fs::write(&stranger_file, format!("{stranger}\n")).unwrap();
    let strict = requiring(&server, &stranger_file).await;
    let refused = strict.inclusion_proof(&receipt.item_id).await.unwrap_err();
    assert!(
        matches!(refused, fieldlink_client::Error::NotCosigned(_)),
        "{refused}"
    );
    assert!(refused.is_retryable());
    strict.close().await;
    let refusals_before = metrics.witness_refusals.load(Ordering::Relaxed);
    assert_eq!(refusals_before, 0);
    server.server.shutdown().await;

    // The witness restarts from its state file.
    witness.stop.cancel();
    witness.task.await.unwrap().unwrap();
    let witness = start_witness(&state_file, &private_key).await;
    let entry = format!("http://{} {}", witness.addr, witness.key);
    let witnessed: fieldlink_server::witness::Witnessed =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();

    // The log truncated and re-appended: a new database under the same log
    // key, grown past the size the witness cosigned.
    let rewritten = TestServer::start_with(|config| config.witnesses = vec![entry.clone()]).await;
    let metrics = rewritten.server.state().metrics.clone();
    submit_case_records(&rewritten, witnessed.size as usize + 2).await;
    wait_for(&metrics.witness_refusals, 1, "the witness's refusal").await;
    assert_eq!(metrics.witness_cosignatures.load(Ordering::Relaxed), 0);
    let after: fieldlink_server::witness::Witnessed =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(after, witnessed, "the witness kept what it cosigned");
    let mut config = fieldlink_tests::dev_config(rewritten.data_dir.path());
    config.database = rewritten.database.as_ref().map(|d| d.url.clone());
    config.witnesses = vec![entry];
    // Terminals that require the witness get no proof from this log.
    let terminal = requiring(&rewritten, &key_file).await;
    let mut item = record("officer-01");
    item.case_id = CASE.into();
    let receipt = terminal.submit_inspection(&item).await.unwrap();
    for _ in 0..3 {
        let error = terminal.inclusion_proof(&receipt.item_id).await.unwrap_err();
        assert!(
            matches!(error, fieldlink_client::Error::NotCosigned(_)),
            "{error}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    terminal.close().await;
    let refused = export_data(&config, CASE, "clerk", &out.path().join("forked.tar")).await;
    assert!(matches!(refused, Err(ExportError::Witness(_))), "{refused:?}");
    assert!(!out.path().join("forked.tar").exists());
    rewritten.server.shutdown().await;
    witness.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_answers_malformed_requests_and_foreign_checkpoints_with_typed_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let (private_key, _) = fieldlink_protocol::cosignature::generate_key("witness.test", [7; 32]);
    let witness = start_witness(&dir.path().join("state.json"), &private_key).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let post = |body: String| {
        let http = http.clone();
        let url = format!("http://{}/add-checkpoint", witness.addr);
        async move {
            let response = http.post(url).body(body).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(post("not a request".into()).await.0, 400);
    assert_eq!(post("old 0\nnot base64!\n\nx\n".into()).await.0, 400);
    // A checkpoint signed by another key.
    let (other_private, _) = fieldlink_server::transparency::generate_key("impostor");
    let impostor =
        fieldlink_server::transparency::LogSigner::from_key(&other_private, "fieldlink.local/evidence")
            .unwrap();
    let note = impostor.sign(3, &[1; 32]).unwrap();
    let (status, _) = post(format!("old 0\n\n{note}")).await;
    assert_eq!(status, 403);
    // The log's key, but `old` is not what the witness holds.
    let dev = fieldlink_server::transparency::LogSigner::load(
        &certs_dir().join("log.key"),
        "fieldlink.local/evidence",
        true,
    )
    .unwrap();
    let (status, body) = post(format!("old 5\n\n{}", dev.sign(3, &[1; 32]).unwrap())).await;
    assert_eq!((status, body.as_str()), (409, "0\n"));
    // Accepted from 0, then a same-size checkpoint with another root is a fork.
    let (status, line) = post(format!("old 0\n\n{}", dev.sign(3, &[1; 32]).unwrap())).await;
    assert_eq!(status, 200, "{line}");
    assert!(line.starts_with("— witness.test "), "{line}");
    let (status, _) = post(format!("old 3\n\n{}", dev.sign(3, &[2; 32]).unwrap())).await;
    assert_eq!(status, 422);
    // Too large.
    assert_eq!(post("x".repeat(100 * 1024)).await.0, 413);
    witness.stop.cancel();
}
