//! The offline-first SDK: durable outbox, failover, connection migration.

use std::time::Duration;

use fieldlink_client::outbox::{ItemState, Outbox, OutboxConfig, OutboxError};
use fieldlink_client::{Client, PhotoUpload};
use fieldlink_protocol::pb::AssignmentEventKind;
use fieldlink_tests::photos::{self, Exif};
use fieldlink_tests::{assignment_for, client_config, connect, record, TestServer};

fn outbox_config(dir: &std::path::Path) -> OutboxConfig {
    OutboxConfig {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        ..OutboxConfig::new(dir.join("outbox.sqlite"))
    }
}

/// A loopback UDP port nobody listens on right now.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_items_enqueued_offline_are_all_acknowledged_once_the_server_appears() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut config = client_config(addr, "device-001", "officer-01");
    config.connect_timeout = Duration::from_secs(2);
    let client = Client::new(config).unwrap();
    let outbox = Outbox::open(outbox_config(dir.path())).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(outbox.enqueue_inspection(&record("officer-01")).await.unwrap());
    }
    let sync = outbox.start_sync(client);
    // Offline for a while: items fail retryably and stay.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let items = outbox.items().await.unwrap();
    assert_eq!(items.len(), 200);
    assert!(items.iter().all(|i| !matches!(
        i.state,
        ItemState::Acknowledged { .. } | ItemState::FailedPermanent { .. }
    )));

    let server = TestServer::start_with(move |c| c.listen = addr).await;
    assert!(
        outbox.settled(Duration::from_secs(240)).await.unwrap(),
        "the outbox drained"
    );
    sync.stop().await;
    let items = outbox.items().await.unwrap();
    assert!(
        items
            .iter()
            .all(|i| matches!(i.state, ItemState::Acknowledged { .. })),
        "{items:?}"
    );
    assert_eq!(server.item_count().await, 200, "each exactly once");
    // Queued unsigned, they were signed with the device key when sent.
    let stored = server
        .server
        .state()
        .storage
        .item(uuid::Uuid::parse_str(&ids[0]).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.capture.is_some(), "signed at send");
    let seqs: std::collections::HashSet<_> = items
        .iter()
        .map(|i| match &i.state {
            ItemState::Acknowledged { server_seq, .. } => *server_seq,
            _ => 0,
        })
        .collect();
    assert_eq!(seqs.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_item_is_parked_and_does_not_block_the_rest() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(client_config(server.addr(), "device-001", "officer-01")).unwrap();
    let outbox = Outbox::open(outbox_config(dir.path())).await.unwrap();
    let mut bad = record("officer-01");
    bad.matter_code = "XX-999".into();
    let bad_id = outbox.enqueue_inspection(&bad).await.unwrap();
    for _ in 0..3 {
        outbox.enqueue_inspection(&record("officer-01")).await.unwrap();
    }
    // A photo travels through the outbox too, its local copy kept until the receipt.
    let jpeg = photos::jpeg_with_exif(
        200,
        150,
        3,
        Exif {
            captured_at_ms: fieldlink_client::now_ms() - 1000,
            position: None,
        },
    );
    let photo = PhotoUpload::new(
        &uuid::Uuid::now_v7().to_string(),
        "image/jpeg",
        fieldlink_client::now_ms() - 1000,
        jpeg,
    );
    let photo_id = outbox.enqueue_photo(&photo).await.unwrap();
    let copy = dir.path().join("outbox-photos").join(format!("{photo_id}.photo"));
    assert!(copy.exists());
    let mut updates = outbox.subscribe();
    let sync = outbox.start_sync(client);
    assert!(outbox.settled(Duration::from_secs(120)).await.unwrap());
    sync.stop().await;

    let parked = outbox.item(&bad_id).await.unwrap().unwrap();
    match parked.state {
        ItemState::FailedPermanent { error } => assert!(error.contains("matter_code"), "{error}"),
        other => panic!("expected parked, got {other:?}"),
    }
    let items = outbox.items().await.unwrap();
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i.state, ItemState::Acknowledged { .. }))
            .count(),
        4
    );
    assert_eq!(server.item_count().await, 4);
    assert!(!copy.exists(), "the local copy is deleted after the receipt");
    // Subscribers saw the states go by.
    let mut seen_ack = false;
    while let Some(Ok(update)) = updates.try_next() {
        seen_ack |= matches!(update.state, ItemState::Acknowledged { .. });
    }
    assert!(seen_ack);
    assert!(outbox.drop_parked(&bad_id).await.unwrap());
    assert!(outbox.item(&bad_id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_bounded_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(OutboxConfig {
        items_max: 3,
        ..outbox_config(dir.path())
    })
    .await
    .unwrap();
    for _ in 0..3 {
        outbox.enqueue_inspection(&record("officer-01")).await.unwrap();
    }
    match outbox.enqueue_inspection(&record("officer-01")).await {
        Err(OutboxError::Full {
            items: 3,
            items_max: 3,
            ..
        }) => {}
        other => panic!("expected a full outbox, got {other:?}"),
    }
    // Invalid items are refused before they are stored.
    let mut bad = record("officer-01");
    bad.id = "not-a-uuid".into();
    let dir2 = tempfile::tempdir().unwrap();
    let other = Outbox::open(outbox_config(dir2.path())).await.unwrap();
    assert!(matches!(
        other.enqueue_inspection(&bad).await,
        Err(OutboxError::Invalid(_))
    ));
}

/// A supervisor, officer-01's terminal, and an assignment officer-01 has
/// accepted and is on site for.
async fn on_site_for_officer_01(server: &TestServer) -> (Client, Client, String) {
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let job = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let job_id = job.assignment.unwrap().id;
    terminal.accept_assignment(&job_id).await.unwrap();
    terminal.on_site(&job_id).await.unwrap();
    (supervisor, terminal, job_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_waits_for_the_records_enqueued_before_it() {
    let server = TestServer::start().await;
    let (supervisor, terminal, job_id) = on_site_for_officer_01(&server).await;

    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(outbox_config(dir.path())).await.unwrap();
    let mut records = Vec::new();
    for _ in 0..6 {
        let mut r = record("officer-01");
        r.assignment_id = job_id.clone();
        records.push(outbox.enqueue_inspection(&r).await.unwrap());
    }
    let done = outbox
        .enqueue_assignment_update(&job_id, AssignmentEventKind::Completed, "", &records)
        .await
        .unwrap();
    let sync = outbox.start_sync(terminal.clone());
    assert!(outbox.settled(Duration::from_secs(120)).await.unwrap());
    sync.stop().await;
    assert!(matches!(
        outbox.item(&done).await.unwrap().unwrap().state,
        ItemState::Acknowledged { .. }
    ));
    let list = supervisor.list_assignments(&Default::default()).await.unwrap();
    assert_eq!(list.assignments[0].closing_record_ids.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_go_before_media_queued_ahead_of_them_and_a_waiting_completion_holds_back_nothing() {
    let server = TestServer::start().await;
    let (supervisor, terminal, job_id) = on_site_for_officer_01(&server).await;

    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(outbox_config(dir.path())).await.unwrap();
    // A video first, then the completion that waits for it, then records.
    let mut first = record("officer-01");
    first.assignment_id = job_id.clone();
    let video = PhotoUpload::new(
        &first.id,
        "video/mp4",
        fieldlink_client::now_ms() - 60_000,
        fieldlink_tests::media::large_video(16),
    );
    let video_id = outbox.enqueue_photo(&video).await.unwrap();
    let first_id = outbox.enqueue_inspection(&first).await.unwrap();
    let done = outbox
        .enqueue_assignment_update(
            &job_id,
            AssignmentEventKind::Completed,
            "",
            std::slice::from_ref(&first_id),
        )
        .await
        .unwrap();
    let mut later = Vec::new();
    for _ in 0..12 {
        later.push(outbox.enqueue_inspection(&record("officer-01")).await.unwrap());
    }
    let sync = outbox.start_sync(terminal.clone());
    assert!(
        outbox.settled(Duration::from_secs(120)).await.unwrap(),
        "the outbox drained (a waiting completion holds back nothing after it)"
    );
    sync.stop().await;
    let seq = |id: &str| {
        let outbox = &outbox;
        let id = id.to_owned();
        async move {
            match outbox.item(&id).await.unwrap().unwrap().state {
                ItemState::Acknowledged { server_seq, .. } => server_seq,
                other => panic!("{id}: {other:?}"),
            }
        }
    };
    let video_seq = seq(&video_id).await;
    // Records enqueued after the video were sent before it...
    for id in later.iter().chain([&first_id]) {
        assert!(seq(id).await < video_seq, "a record waited for the video");
    }
    // ...and the completion went through once what it waited for had.
    seq(&done).await;
    let list = supervisor.list_assignments(&Default::default()).await.unwrap();
    assert_eq!(list.assignments[0].closing_record_ids, vec![first_id.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_address_fails_over_to_the_next() {
    let server = TestServer::start().await;
    // A socket that swallows everything: the handshake there times out.
    let black_hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = client_config(black_hole.local_addr().unwrap(), "device-001", "officer-01");
    config.fallback_addrs = vec![server.addr()];
    config.connect_timeout = Duration::from_secs(2);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.connected_addr().await, Some(server.addr()));
    assert!(client.submit_inspection(&record("officer-01")).await.is_ok());
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_continues_on_the_same_connection_after_the_network_changes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let jpeg = photos::pad_jpeg(photos::jpeg(320, 240, 40), 8 * 1024 * 1024);
    let photo = PhotoUpload::new(
        &uuid::Uuid::now_v7().to_string(),
        "image/jpeg",
        fieldlink_client::now_ms() - 1000,
        jpeg.clone(),
    );
    let before_connection = client.connection_id().await.unwrap();
    let before_addr = client.local_addr().unwrap();
    let rebound = AtomicBool::new(false);
    let mut attempts = Vec::new();
    let receipt = client
        .upload_photo(&photo, |progress| {
            attempts.push(progress.attempt);
            if progress.sent_bytes * 10 >= progress.total_bytes * 3 && !rebound.swap(true, Ordering::Relaxed)
            {
                client.rebind().expect("rebind");
            }
        })
        .await
        .unwrap();
    assert!(rebound.load(Ordering::Relaxed));
    assert_ne!(client.local_addr().unwrap(), before_addr, "a new local address");
    assert_eq!(
        client.connection_id().await.unwrap(),
        before_connection,
        "the same QUIC connection"
    );
    assert!(attempts.iter().all(|a| *a == 1), "no second attempt was needed");
    assert_eq!(receipt.size_bytes, jpeg.len() as u64);
}

/// With a capture identity, the outbox signs each item when it is queued
/// (at capture time, before it waits offline), and those very signatures
/// are what the server stores and logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_queued_offline_are_signed_at_capture_time_and_stored_with_that_signature() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let key = std::fs::read(fieldlink_tests::certs_dir().join("device-001.key")).unwrap();
    let config = outbox_config(dir.path())
        .signing_as(&key, "officer-01", "device-001")
        .unwrap();
    let outbox = Outbox::open(config).await.unwrap();
    let item = record("officer-01");
    outbox.enqueue_inspection(&item).await.unwrap();
    let (photo, _) = fieldlink_tests::photo_for(&item.id, 8);
    outbox.enqueue_photo(&photo).await.unwrap();

    // What the outbox holds: the signatures made at enqueue.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", dir.path().join("outbox.sqlite").display()))
        .await
        .unwrap();
    let frame: Vec<u8> = sqlx::query_scalar("SELECT payload FROM outbox_items WHERE item_id = ?")
        .bind(&item.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let body = fieldlink_protocol::frame::decode_whole(&frame, u32::MAX).unwrap();
    let queued_record = fieldlink_protocol::pb::Request::decode(body)
        .unwrap()
        .capture
        .unwrap();
    let capture: Vec<u8> = sqlx::query_scalar("SELECT capture FROM outbox_items WHERE item_id = ?")
        .bind(photo.evidence_id())
        .fetch_one(&pool)
        .await
        .unwrap();
    let queued_photo = fieldlink_protocol::pb::CaptureSignature::decode(capture.as_slice()).unwrap();
    pool.close().await;

    let server = TestServer::start_with(move |c| c.listen = addr).await;
    let mut client_config = client_config(addr, "device-001", "officer-01");
    client_config.connect_timeout = Duration::from_secs(5);
    let sync = outbox.start_sync(Client::new(client_config).unwrap());
    assert!(outbox.settled(Duration::from_secs(120)).await.unwrap());
    sync.stop().await;
    let storage = &server.server.state().storage;
    for (id, queued) in [
        (item.id.as_str(), queued_record),
        (photo.evidence_id(), queued_photo),
    ] {
        let stored = storage
            .item(uuid::Uuid::parse_str(id).unwrap())
            .await
            .unwrap()
            .unwrap()
            .capture
            .expect("stored with its capture signature");
        assert_eq!(
            stored.signature, queued.signature,
            "the signature made at enqueue"
        );
        assert_eq!(stored.statement, queued.statement);
    }
}

/// Offline, the outbox says the truth: an item whose turn comes is
/// `Waiting` while the SDK tries to connect, then fails retryably as
/// "no server reachable" — never `Sending`. `retry_now` tries again at once
/// (a "retry now" button), and `Client::network_changed` ends the backoff
/// when the network returns: with an hour-long backoff the item is still
/// delivered as soon as the server is there and the app says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_items_wait_rather_than_send_and_a_network_change_ends_their_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut config = client_config(addr, "device-001", "officer-01");
    config.connect_timeout = Duration::from_secs(1);
    let client = Client::new(config).unwrap();
    let outbox = Outbox::open(OutboxConfig {
        backoff_initial: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(3600),
        ..OutboxConfig::new(dir.path().join("outbox.sqlite"))
    })
    .await
    .unwrap();
    let id = outbox.enqueue_inspection(&record("officer-01")).await.unwrap();
    let mut updates = outbox.subscribe();
    let sync = outbox.start_sync(client.clone());

    // Waiting, then a retryable failure that names the cause; twice, the
    // second time because the app asked.
    for attempt in 0..2 {
        let mut states = Vec::new();
        loop {
            let update = tokio::time::timeout(Duration::from_secs(60), updates.next())
                .await
                .expect("an update in time")
                .unwrap()
                .unwrap();
            assert_eq!(update.item_id, id);
            let failed = matches!(update.state, ItemState::FailedRetryable { .. });
            states.push(update.state);
            if failed {
                break;
            }
        }
        assert!(
            matches!(states[0], ItemState::Waiting),
            "attempt {attempt}: {states:?}"
        );
        assert!(
            !states.iter().any(|s| matches!(s, ItemState::Sending { .. })),
            "never Sending without a connection: {states:?}"
        );
        let ItemState::FailedRetryable { error, .. } = states.last().unwrap() else {
            unreachable!()
        };
        assert!(error.contains("no server reachable"), "{error}");
        if attempt == 0 {
            assert_eq!(outbox.retry_now().await.unwrap(), 1);
        }
    }

    // The server appears; the backoff has an hour to go. The network hint
    // ends it.
    let server = TestServer::start_with(move |c| c.listen = addr).await;
    client.network_changed();
    assert!(
        outbox.settled(Duration::from_secs(120)).await.unwrap(),
        "delivered after the hint, not after the hour"
    );
    sync.stop().await;
    assert_eq!(server.item_count().await, 1);
}
