//! Restoring the database from a backup. The restored database hands out
//! seqs again that receipts and feed cursors already carry, and has lost
//! what was acknowledged after the backup: the server notices (its
//! high-water marker is ahead of the database) or is told (`new-epoch`),
//! starts a new database epoch, and terminals resynchronise — the outbox
//! sends what it acknowledged in the old epoch again, the feed drops a
//! cursor of the old epoch — so nothing acknowledged is lost for good.

use std::path::Path;
use std::time::Duration;

use fieldlink_client::outbox::{ItemState, Outbox, OutboxConfig};
use fieldlink_protocol::pb::AssignmentEventKind;
use fieldlink_tests::{assignment_for, connect, dev_config, events_until, photo_for, record};
use sqlx::ConnectOptions;

/// A consistent copy of a live SQLite database (what `sqlite3 … ".backup"`
/// makes), taken while the server runs.
async fn backup(database: &Path, to: &Path) {
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(database)
        .connect()
        .await
        .unwrap();
    sqlx::query(&format!("VACUUM INTO '{}'", to.display()))
        .execute(&mut connection)
        .await
        .unwrap();
}

/// Puts a backup in place of the database (the server is stopped).
fn restore(backup: &Path, database: &Path) {
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    std::fs::copy(backup, database).unwrap();
}

async fn settled(outbox: &Outbox) {
    assert!(
        outbox.settled(Duration::from_secs(120)).await.unwrap(),
        "the outbox settled"
    );
    for item in outbox.items().await.unwrap() {
        assert!(
            matches!(item.state, ItemState::Acknowledged { .. }),
            "{}: {:?}",
            item.id,
            item.state
        );
    }
}

/// Two records and a photo through the outbox, acknowledged; then an
/// assignment for the officer, seen on the feed. Returns the items' ids and
/// the feed's events.
async fn send_and_see(
    outbox: &Outbox,
    supervisor: &fieldlink_client::Client,
    feed: &mut fieldlink_client::AssignmentFeed,
    photo_seed: u64,
) -> (Vec<String>, Vec<fieldlink_protocol::pb::AssignmentEvent>) {
    let mut ids = Vec::new();
    for n in 0..2 {
        let item = record("officer-01");
        ids.push(outbox.enqueue_inspection(&item).await.unwrap());
        if n == 0 {
            ids.push(
                outbox
                    .enqueue_photo(&photo_for(&item.id, photo_seed).0)
                    .await
                    .unwrap(),
            );
        }
    }
    settled(outbox).await;
    let created = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let id = created.assignment.unwrap().id;
    let seen = events_until(feed, |e| e.assignment.as_ref().is_some_and(|a| a.id == id)).await;
    (ids, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_database_starts_a_new_epoch_and_terminals_resend_what_it_lost() {
    let data_dir = tempfile::tempdir().unwrap();
    let terminal_dir = tempfile::tempdir().unwrap();
    let database = data_dir.path().join("fieldlink.sqlite");
    let copy = terminal_dir.path().join("backup.sqlite");
    let server = fieldlink_tests::start_server(dev_config(data_dir.path()))
        .await
        .unwrap();
    let addr = server.local_addr();
    let first_epoch = server.state().database_epoch.clone();

    let officer = connect(addr, "device-001", "officer-01").await.unwrap();
    let supervisor = connect(addr, "device-002", "supervisor-01").await.unwrap();
    assert_eq!(
        officer.database_epoch().await.as_deref(),
        Some(first_epoch.as_str())
    );
    let outbox = Outbox::open(OutboxConfig {
        keep_sent_media: Duration::from_secs(3600),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        ..OutboxConfig::new(terminal_dir.path().join("outbox.sqlite"))
    })
    .await
    .unwrap();
    let sync = outbox.start_sync(officer.clone());
    let mut feed = officer.assignments();

    // Before the backup: two records, a photo, an assignment seen.
    let (before, _) = send_and_see(&outbox, &supervisor, &mut feed, 1).await;
    backup(&database, &copy).await;
    // After it: the same again.
    let (after, seen) = send_and_see(&outbox, &supervisor, &mut feed, 2).await;
    let old_cursor = seen.last().unwrap().seq;
    let receipts_before_restore = outbox.items().await.unwrap();
    drop(feed);
    sync.stop().await;
    officer.close().await;
    supervisor.close().await;
    server.shutdown().await;

    // The disk is lost; the backup goes back in place; the server starts.
    restore(&copy, &database);
    let mut config = dev_config(data_dir.path());
    config.listen = addr;
    let server = fieldlink_tests::start_server(config).await.unwrap();
    let storage = server.state().storage.clone();
    let second_epoch = server.state().database_epoch.clone();
    assert_ne!(second_epoch, first_epoch, "a new epoch after the rollback");
    let epochs = storage.epochs().await.unwrap();
    assert_eq!(epochs.len(), 2, "{epochs:?}");
    assert_eq!(epochs[1].reason, "rollback_detected");
    assert_eq!(epochs[1].epoch.to_string(), second_epoch);
    for id in &after {
        let id = uuid::Uuid::parse_str(id).unwrap();
        assert!(
            storage.item(id).await.unwrap().is_none(),
            "{id} is lost with the disk"
        );
    }

    // A new assignment after the restore reuses a seq the terminal has
    // seen; a feed resuming from the old epoch's cursor still gets it.
    let supervisor = connect(addr, "device-002", "supervisor-01").await.unwrap();
    let officer = connect(addr, "device-001", "officer-01").await.unwrap();
    assert_eq!(
        officer.database_epoch().await.as_deref(),
        Some(second_epoch.as_str())
    );
    let third = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let third_id = third.assignment.unwrap().id;
    assert!(
        storage.latest_assignment_seq().await.unwrap() <= old_cursor,
        "the restored database hands out seqs again"
    );
    let mut feed = officer.assignments_after(old_cursor, &first_epoch);
    let events = events_until(&mut feed, |e| {
        e.assignment.as_ref().is_some_and(|a| a.id == third_id)
    })
    .await;
    assert_eq!(events.last().unwrap().kind(), AssignmentEventKind::Created);

    // The outbox sends what it acknowledged in the old epoch again: what
    // the backup had is answered `replayed`, what it lost is stored again.
    let sync = outbox.start_sync(officer.clone());
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let mut all_there = true;
            for id in before.iter().chain(&after) {
                let id = uuid::Uuid::parse_str(id).unwrap();
                all_there &= storage.item(id).await.unwrap().is_some();
            }
            if all_there {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("everything acknowledged before the restore is stored again");
    settled(&outbox).await;
    sync.stop().await;
    let old_seqs: std::collections::HashMap<_, _> = receipts_before_restore
        .iter()
        .map(|item| (item.id.clone(), item.state.clone()))
        .collect();
    for item in outbox.items().await.unwrap() {
        let ItemState::Acknowledged { server_seq, .. } = item.state else {
            panic!("{item:?}");
        };
        let Some(ItemState::Acknowledged { server_seq: old, .. }) = old_seqs.get(&item.id) else {
            panic!("{item:?}");
        };
        if before.contains(&item.id) {
            assert_eq!(server_seq, *old, "kept by the backup: the original receipt");
        }
    }
    // The photo lost with the disk has its row and its bytes again.
    let photo = uuid::Uuid::parse_str(&after[1]).unwrap();
    assert!(storage.photo(photo).await.unwrap().is_some());
    // New receipts carry the new epoch.
    let receipt = officer.submit_inspection(&record("officer-01")).await.unwrap();
    assert_eq!(receipt.database_epoch, second_epoch);

    officer.close().await;
    supervisor.close().await;
    server.shutdown().await;
    // A restart without a restore keeps the epoch.
    let mut config = dev_config(data_dir.path());
    config.listen = addr;
    let server = fieldlink_tests::start_server(config).await.unwrap();
    assert_eq!(server.state().database_epoch, second_epoch);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_starts_a_new_epoch_and_concurrent_starts_agree_on_one() {
    let server = fieldlink_tests::TestServer::start().await;
    let storage = server.server.state().storage.clone();
    let current = storage.epochs().await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].reason, "initial");
    assert_eq!(current[0].epoch.to_string(), server.server.state().database_epoch);
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let receipt = terminal.submit_inspection(&record("officer-01")).await.unwrap();
    assert_eq!(receipt.database_epoch, server.server.state().database_epoch);

    // Two nodes (or an operator and a node) start epoch 2 at once: one wins.
    let now = fieldlink_client::now_ms();
    let (a, b) = tokio::join!(
        storage.start_epoch(Some(1), uuid::Uuid::now_v7(), "restored", now),
        storage.start_epoch(Some(1), uuid::Uuid::now_v7(), "restored", now),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.is_some() != b.is_some(),
        "exactly one started epoch 2: {a:?} {b:?}"
    );
    let started = fieldlink_server::database_epoch::start_new(&*storage, "restored", now)
        .await
        .unwrap();
    assert_eq!(started.number, 3);
    assert_eq!(started.began_at.item_seq, receipt.server_seq);
    let epochs = storage.epochs().await.unwrap();
    assert_eq!(epochs.iter().map(|e| e.number).collect::<Vec<_>>(), vec![1, 2, 3]);
}

/// A feed cursor beyond the newest event, or of an epoch the server is not
/// in, would wait for seqs that belong to nobody: the stored cursor applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_cursor_from_nowhere_falls_back_to_the_stored_one() {
    let server = fieldlink_tests::TestServer::start().await;
    let supervisor = connect(server.addr(), "device-002", "supervisor-01")
        .await
        .unwrap();
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let epoch = server.server.state().database_epoch.clone();
    let foreign = "01a2389f-0000-7000-8000-000000000000".to_owned();
    for (beyond, cursor_epoch) in [
        (1_000_000, ""),
        (u64::MAX / 2, epoch.as_str()),
        (0, foreign.as_str()),
    ] {
        // Each case's assignment comes after whatever the stored cursor is.
        let created = supervisor
            .create_assignment(&assignment_for("officer-01"))
            .await
            .unwrap();
        let id = created.assignment.unwrap().id;
        let seq = created.receipt.unwrap().server_seq;
        let cursor = if beyond == 0 { seq } else { beyond };
        let mut feed = officer.assignments_after(cursor, cursor_epoch);
        let events = events_until(&mut feed, |e| e.assignment.as_ref().is_some_and(|a| a.id == id)).await;
        assert_eq!(
            events.last().unwrap().seq,
            seq,
            "cursor {cursor} of {cursor_epoch:?}"
        );
    }
}
