//! Several server nodes sharing one PostgreSQL database and one evidence
//! directory: pushes cross nodes, resends to another node get the original
//! receipt, a team's first acceptance wins across nodes, and a terminal
//! whose node goes away continues on another. These need PostgreSQL and
//! skip (saying so) where none is reachable; CI requires it.

use std::time::{Duration, Instant};

use fieldlink_client::{Client, Error};
use fieldlink_protocol::pb::{self, AssignmentEventKind as Kind, Code};
use fieldlink_server::RunningServer;
use fieldlink_tests::{
    assignment_for, assignment_for_team, client_config, connect, dev_config, events_until, record,
    ScratchDatabase,
};

/// `count` nodes on their own ports sharing `database` and one data directory.
async fn nodes(database: &ScratchDatabase, shared: &std::path::Path, count: usize) -> Vec<RunningServer> {
    fieldlink_tests::init_logging();
    let mut nodes = Vec::new();
    for _ in 0..count {
        let mut config = dev_config(shared);
        config.database = Some(database.url.clone());
        config.http = Some("127.0.0.1:0".parse().unwrap());
        nodes.push(fieldlink_tests::start_server(config).await.expect("node starts"));
    }
    nodes
}

fn kind(event: &pb::AssignmentEvent) -> Kind {
    Kind::try_from(event.kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_dispatched_on_one_node_reaches_a_terminal_on_another() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let nodes = nodes(&database, shared.path(), 2).await;
    let (a, b) = (nodes[0].local_addr(), nodes[1].local_addr());
    let terminal = connect(b, "device-001", "officer-01").await.unwrap();
    let mut feed = terminal.assignments();
    let dispatcher = connect(a, "device-003", "supervisor-01").await.unwrap();
    // Wait until the feed is live on node B (its first read from storage is done).
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let created = dispatcher
            .create_assignment(&assignment_for("officer-01"))
            .await
            .unwrap();
        let id = created.assignment.unwrap().id;
        let event = events_until(&mut feed, |e| e.assignment.as_ref().is_some_and(|a| a.id == id))
            .await
            .pop()
            .unwrap();
        latencies.push(started.elapsed());
        assert_eq!(kind(&event), Kind::Created);
    }
    // Figures for the reader; timing is never asserted.
    eprintln!("cross-node dispatch → terminal latencies: {latencies:?}");

    // The terminal's acceptance on B shows on A.
    let id = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap()
        .assignment
        .unwrap()
        .id;
    terminal.accept_assignment(&id).await.unwrap();
    let listed = dispatcher
        .list_assignments(&pb::ListAssignments {
            state: pb::AssignmentState::Accepted as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.assignments.iter().any(|x| x.id == id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_to_another_node_gets_the_original_receipt() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let nodes = nodes(&database, shared.path(), 2).await;
    let on_a = connect(nodes[0].local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let on_b = connect(nodes[1].local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let item = record("officer-01");
    let first = on_a.submit_inspection(&item).await.unwrap();
    let again = on_b.submit_inspection(&item).await.unwrap();
    assert_eq!(again.server_seq, first.server_seq);
    assert_eq!(again.sha256, first.sha256);
    assert!(again.replayed);
    // Other bytes under the same id: a conflict naming the original.
    let mut changed = item.clone();
    changed.findings = "改过的 changed".into();
    match on_b.submit_inspection(&changed).await {
        Err(Error::Rejected(status)) => {
            assert_eq!(status.code_or_unknown(), Code::AlreadyExists);
            assert_eq!(status.conflicting_seq, first.server_seq);
        }
        other => panic!("expected ALREADY_EXISTS, got {other:?}"),
    }
    assert_eq!(nodes[1].state().storage.item_count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_first_acceptance_wins_across_nodes() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let nodes = nodes(&database, shared.path(), 2).await;
    let dispatcher = connect(nodes[0].local_addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    // Officers 01–04 of 城南中队, alternately on node A and node B.
    let mut members: Vec<(String, Client)> = Vec::new();
    for (index, device) in ["device-001", "device-002", "device-001", "device-002"]
        .iter()
        .enumerate()
    {
        let officer = format!("officer-0{}", index + 1);
        let node = nodes[index % 2].local_addr();
        members.push((officer.clone(), connect(node, device, &officer).await.unwrap()));
    }
    let mut feeds: Vec<_> = members.iter().map(|(_, c)| c.assignments()).collect();
    let id = dispatcher
        .create_assignment(&assignment_for_team("team-chengnan"))
        .await
        .unwrap()
        .assignment
        .unwrap()
        .id;
    for feed in &mut feeds {
        events_until(feed, |e| e.assignment.as_ref().is_some_and(|a| a.id == id)).await;
    }
    let attempts: Vec<_> = members
        .iter()
        .map(|(officer, client)| {
            let (officer, client, id) = (officer.clone(), client.clone(), id.clone());
            tokio::spawn(async move { (officer, client.accept_assignment(&id).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        let (officer, result) = attempt.await.unwrap();
        match result {
            Ok(_) => winners.push(officer),
            Err(Error::Rejected(status)) => assert_eq!(status.code_or_unknown(), Code::FailedPrecondition),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one acceptance wins: {winners:?}");
    // Every member, on either node, is told who took it.
    for feed in &mut feeds {
        let told = events_until(feed, |e| kind(e) == Kind::Accepted)
            .await
            .pop()
            .unwrap();
        assert_eq!(told.assignment.unwrap().accepted_by, winners[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_node_stops_its_terminals_continue_on_another_and_nothing_acknowledged_is_lost() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let mut nodes = nodes(&database, shared.path(), 2).await;
    let (a, b) = (nodes[0].local_addr(), nodes[1].local_addr());
    // Terminals know both addresses: A first, then B.
    let mut terminals = Vec::new();
    for (device, officer) in [("device-001", "officer-01"), ("device-002", "officer-02")] {
        let mut config = client_config(a, device, officer);
        config.fallback_addrs = vec![b];
        terminals.push((officer, Client::connect(config).await.unwrap()));
    }
    let mut receipts = Vec::new();
    let mut load = Vec::new();
    for (officer, client) in &terminals {
        let (officer, client) = (*officer, client.clone());
        load.push(tokio::spawn(async move {
            let mut held = Vec::new();
            // Bounded: 40 records each.
            for _ in 0..40 {
                let item = record(officer);
                let receipt = client
                    .submit_inspection(&item)
                    .await
                    .expect("every record is acknowledged");
                held.push((item.id, receipt));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            held
        }));
    }
    // Node A goes away mid-load.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = nodes.remove(0);
    stopped.shutdown().await;
    for task in load {
        receipts.extend(task.await.unwrap());
    }
    assert_eq!(receipts.len(), 80);
    let storage = &nodes[0].state().storage;
    for (id, receipt) in &receipts {
        let stored = storage
            .item(uuid::Uuid::parse_str(id).unwrap())
            .await
            .unwrap()
            .expect("an acknowledged record is stored");
        assert_eq!(stored.receipt.server_seq, receipt.server_seq);
        assert_eq!(&stored.receipt.sha256[..], &receipt.sha256[..]);
    }
    assert_eq!(storage.item_count().await.unwrap(), 80, "no duplicates");
    for (_, client) in &terminals {
        assert_eq!(
            client.connected_addr().await,
            Some(b),
            "the terminal moved to node B"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_on_any_node_sees_officers_online_on_every_node() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let nodes = nodes(&database, shared.path(), 2).await;
    // An officer is online at node B only.
    let _terminal = connect(nodes[1].local_addr(), "device-002", "officer-02")
        .await
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let console_a = format!("http://{}", nodes[0].console_addr().unwrap());
    let signed_in = http
        .post(format!("{console_a}/api/session"))
        .header("content-type", "application/json")
        .body(r#"{"officer_id":"supervisor-01","password":"demo-password"}"#)
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // Node B shares its presence every 2 s; node A's console shows it.
    let mut online = false;
    for _ in 0..300 {
        let officers: serde_json::Value = serde_json::from_str(
            &http
                .get(format!("{console_a}/api/officers"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        online = officers["officers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["officer_id"] == "officer-02" && o["online"] == true);
        if online {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        online,
        "officer-02 (on node B) is not shown online on node A's console"
    );
}

/// Three nodes take records, photos-free, and assignment events at once: the
/// log is one sequence (every leaf index once, no gaps), each receipt's leaf
/// is the one its proof shows, every proof verifies against a checkpoint
/// signed by whichever node answered, and a terminal moving between nodes
/// sees one consistent log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_writing_at_once_keep_one_consistent_log() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let nodes = nodes(&database, shared.path(), 3).await;
    let mut writers = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let (addr, officer) = (node.local_addr(), format!("officer-0{}", index + 1));
        writers.push(tokio::spawn(async move {
            let client = connect(addr, "device-001", &officer).await.unwrap();
            let records: Vec<_> = (0..30).map(|_| record(&officer)).collect();
            let submitted = futures::future::join_all(records.iter().map(|r| client.submit_inspection(r)))
                .await
                .into_iter()
                .map(|receipt| receipt.unwrap())
                .collect::<Vec<_>>();
            client.close().await;
            submitted
        }));
    }
    let dispatcher = connect(nodes[2].local_addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    for _ in 0..5 {
        dispatcher
            .create_assignment(&assignment_for("officer-01"))
            .await
            .unwrap();
    }
    let mut receipts = Vec::new();
    for writer in writers {
        receipts.extend(writer.await.unwrap());
    }
    // Seqs are in commit order across nodes (docs/protocol.md): the log,
    // appended in commit order, lists the records in seq order.
    let mut by_seq: Vec<(u64, u64)> = receipts.iter().map(|r| (r.server_seq, r.leaf_index)).collect();
    by_seq.sort_unstable();
    let out_of_order = by_seq.windows(2).filter(|pair| pair[1].1 < pair[0].1).count();
    assert_eq!(out_of_order, 0, "seq order differs from commit order: {by_seq:?}");
    let mut indexes: Vec<u64> = receipts.iter().map(|r| r.leaf_index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 90, "every record has its own leaf");
    let storage = &nodes[0].state().storage;
    assert_eq!(
        storage.log_size().await.unwrap(),
        95,
        "90 records and 5 events, nothing else"
    );
    let leaves = storage.log_leaves(0, 200).await.unwrap();
    assert!(
        leaves
            .iter()
            .enumerate()
            .all(|(i, (index, _))| *index == i as u64),
        "no gaps"
    );

    // One supervisor terminal asks every node in turn: one log.
    let auditor_on = |node: usize| connect(nodes[node].local_addr(), "device-002", "supervisor-01");
    let mut head: Option<String> = None;
    for (turn, receipt) in receipts.iter().enumerate().step_by(7) {
        let client = auditor_on(turn % 3).await.unwrap();
        if let Some(note) = &head {
            client.trust_checkpoint(note).await.unwrap();
        }
        let verified = client.inclusion_proof(&receipt.item_id).await.unwrap();
        assert_eq!(verified.leaf_index, receipt.leaf_index);
        head = Some(client.verified_checkpoint().await.unwrap().note);
        client.close().await;
    }
    dispatcher.close().await;
    for node in nodes {
        node.shutdown().await;
    }
}

/// A registry of two monitors that count as offline after 2 s of silence.
fn quick_silence_registry() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let entry = |mn: &str, latitude: f64| {
        format!(
            "[[monitors]]\nmn = \"{mn}\"\npassword = \"123456\"\nname = \"{mn}\"\nst = \"31\"\n\
             latitude = {latitude}\nlongitude = 121.55\naddress = \"人民路\"\nteam = \"team-chengnan\"\n\
             category = \"lampblack_exceedance\"\nmatter_code = \"HB-002\"\nconsecutive = 3\n\
             offline_after_s = 2\nlimits = {{ a34041 = 2.0 }}\n\n"
        )
    };
    let text = entry(crate::hj212_intake::NOODLES, 29.87) + &entry(crate::hj212_intake::BARBECUE, 29.89);
    std::fs::write(file.path(), text).unwrap();
    file
}

/// Offline incidents on the shared database, by the monitor they name.
async fn offline_incidents(node: &RunningServer) -> Vec<pb::Incident> {
    node.state()
        .storage
        .list_incidents(&fieldlink_server::storage::IncidentFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|stored| stored.incident)
        .filter(|incident| incident.category == "monitor_offline")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_talking_to_one_node_is_not_reported_offline_by_another() {
    use crate::hj212_intake::{now_ms, send_readings, MonitorConnection, BARBECUE, NOODLES};
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let registry = quick_silence_registry();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut config = dev_config(shared.path());
        config.database = Some(database.url.clone());
        config.hj212 = Some("127.0.0.1:0".parse().unwrap());
        config.monitors = Some(registry.path().to_path_buf());
        nodes.push(fieldlink_tests::start_server(config).await.expect("node starts"));
    }
    // NOODLES talks to node A for three offline periods (a reading every
    // half second, within its limit); BARBECUE never reports at all.
    let mut noodles = MonitorConnection::open(nodes[0].hj212_addr().unwrap()).await;
    let start = now_ms() - 3_600_000;
    let talking_until = Instant::now() + Duration::from_secs(6);
    let mut sent = 0i64;
    while Instant::now() < talking_until {
        send_readings(&mut noodles, NOODLES, &[0.5], start + sent * 60_000).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Both nodes looked many times by now (every 2/3 s): BARBECUE's silence
    // is one incident with one report though both nodes saw it; NOODLES,
    // heard through node A only, is not reported by node B.
    let deadline = Instant::now() + Duration::from_secs(60);
    let offline = loop {
        let offline = offline_incidents(&nodes[1]).await;
        if !offline.is_empty() || Instant::now() > deadline {
            break offline;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!(offline[0].report_count, 1, "one silence, one report: {offline:?}");
    assert!(offline[0].title.contains(BARBECUE), "{}", offline[0].title);

    // Now NOODLES falls silent: one report of it, whichever nodes see it.
    drop(noodles);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !offline_incidents(&nodes[1])
        .await
        .iter()
        .any(|i| i.title.contains(NOODLES))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both nodes have had time to look again (several check periods).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let offline = offline_incidents(&nodes[1]).await;
    let noodles: Vec<_> = offline.iter().filter(|i| i.title.contains(NOODLES)).collect();
    assert_eq!(noodles.len(), 1, "{offline:?}");
    assert_eq!(noodles[0].report_count, 1, "{offline:?}");
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_received_by_one_node_at_a_time() {
    use crate::photos::{durable_offset, raw_upload, response};
    use fieldlink_client::PhotoUpload;
    use fieldlink_tests::{expect_error, photos, raw_session};
    use sha2::{Digest, Sha256};
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let nodes = nodes(&database, shared.path(), 2).await;
    let (a, b) = (nodes[0].local_addr(), nodes[1].local_addr());
    let jpeg = photos::pad_jpeg(photos::jpeg(640, 480, 5), 2 * 1024 * 1024);
    let photo = PhotoUpload::new(
        &uuid::Uuid::now_v7().to_string(),
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        jpeg.clone(),
    );
    // Node A is receiving the upload: half sent, its stream still open.
    let watcher = connect(a, "device-001", "officer-01").await.unwrap();
    let (_endpoint_a, connection_a) = raw_session(a, "device-001", "officer-01").await;
    let half = jpeg.len() / 2;
    let (mut send_a, _recv_a) = raw_upload(&connection_a, photo.header(0), &jpeg[..half], false).await;
    let held = durable_offset(&watcher, photo.evidence_id(), 64 * 1024).await;

    // A resume reaching node B meanwhile is refused: two nodes never write
    // one partial file.
    let (_endpoint_b, connection_b) = raw_session(b, "device-001", "officer-01").await;
    let (_send_b, mut recv_b) =
        raw_upload(&connection_b, photo.header(held), &jpeg[held as usize..], true).await;
    let status = expect_error(response(&mut recv_b).await);
    assert_eq!(
        (status.code_or_unknown(), status.reason.as_str()),
        (Code::Unavailable, "UPLOAD_ELSEWHERE"),
        "{status:?}"
    );
    assert!(status.retryable && status.retry_after_ms > 0);
    // Refused before it wrote a byte: what A holds is as it was.
    let now_held = watcher.upload_status(photo.evidence_id()).await.unwrap();
    assert_eq!(now_held.durable_offset, held);
    assert!(!now_held.complete);

    // Once A's stream is gone, B finishes the upload from what A held.
    send_a.reset(0u32.into()).unwrap();
    let terminal = connect(b, "device-001", "officer-01").await.unwrap();
    let receipt = terminal.upload_photo(&photo, |_| {}).await.unwrap();
    assert_eq!(receipt.sha256, Sha256::digest(&jpeg).to_vec());
    let sha256: [u8; 32] = receipt.sha256.as_slice().try_into().unwrap();
    assert_eq!(nodes[1].state().evidence.blobs.read(&sha256).unwrap(), jpeg);
    for node in nodes {
        node.shutdown().await;
    }
}
