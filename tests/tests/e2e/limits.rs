//! Per-device limits: request rate, connections, concurrent uploads.

use std::time::Duration;

use fieldlink_client::{Client, Error};
use fieldlink_protocol::frame;
use fieldlink_protocol::pb::{self, Code};
use fieldlink_tests::{client_config, connect, raw_request, raw_session, record, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_request_rate_is_told_when_to_come_back() {
    let server = TestServer::start_with(|config| {
        config.requests_per_second_per_device = 1.0;
        config.request_burst_per_device = 3.0;
    })
    .await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let mut receipts = 0;
    let mut limited = Vec::new();
    for _ in 0..8 {
        let request = frame::encode(&pb::Request {
            body: Some(pb::request::Body::SubmitInspection(record("officer-01"))),
            capture: None,
        });
        match raw_request(&connection, &request, true).await.result {
            Some(pb::response::Result::Receipt(_)) => receipts += 1,
            Some(pb::response::Result::Error(status)) => limited.push(status),
            other => panic!("{other:?}"),
        }
    }
    assert!((3..8).contains(&receipts), "{receipts} receipts");
    let status = &limited[0];
    assert_eq!(
        (status.code_or_unknown(), status.reason.as_str()),
        (Code::ResourceExhausted, "RATE_LIMITED")
    );
    assert!(status.retryable && status.retry_after_ms > 0);
    assert_eq!(
        server.item_count().await,
        receipts,
        "refused requests stored nothing"
    );
    // Another device is not affected.
    let other = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    assert!(other.submit_inspection(&record("officer-02")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_may_hold_only_so_many_connections() {
    let server = TestServer::start_with(|config| config.connections_per_device_max = 1).await;
    let first = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    match Client::connect(client_config(server.addr(), "device-001", "officer-02")).await {
        Err(Error::Rejected(status)) => {
            assert_eq!(status.reason, "CONNECTION_LIMIT");
            assert!(status.retryable);
        }
        other => panic!("a second connection was allowed: {:?}", other.map(|_| ())),
    }
    assert!(connect(server.addr(), "device-002", "officer-02").await.is_ok());
    first.close().await;
    let mut second = None;
    for _ in 0..600 {
        if let Ok(client) = Client::connect(client_config(server.addr(), "device-001", "officer-02")).await {
            second = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        second.is_some(),
        "the slot came back when the first connection closed"
    );
}

/// Waits until the server runs device-001's one upload.
async fn first_upload_runs(server: &TestServer) {
    let limits = &server.server.state().device_limits;
    for _ in 0..600 {
        if limits.uploads("device-001") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(limits.uploads("device-001"), 1, "the first upload runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_may_run_only_so_many_uploads_at_once() {
    let server = TestServer::start_with(|config| config.concurrent_uploads_per_device_max = 1).await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let jpeg = fieldlink_tests::photos::jpeg(64, 64, 1);
    let header = |jpeg: &[u8]| {
        let photo = fieldlink_client::PhotoUpload::new(
            &uuid::Uuid::now_v7().to_string(),
            "image/jpeg",
            fieldlink_client::now_ms() - 1000,
            jpeg.to_vec(),
        );
        frame::encode(&pb::Request {
            body: Some(pb::request::Body::UploadPhoto(photo.header(0))),
            capture: None,
        })
    };
    // The first upload is open and silent.
    let (mut first, _first_recv) = connection.open_bi().await.unwrap();
    first.write_all(&header(&jpeg)).await.unwrap();
    first.write_all(&jpeg[..100]).await.unwrap();
    first_upload_runs(&server).await;
    let mut second = header(&jpeg);
    second.extend_from_slice(&jpeg);
    let refusal = match raw_request(&connection, &second, true).await.result {
        Some(pb::response::Result::Error(status)) => Some(status),
        _ => None,
    };
    let status = refusal.expect("a second concurrent upload was refused");
    assert_eq!(
        (status.code_or_unknown(), status.reason.as_str()),
        (Code::ResourceExhausted, "UPLOAD_LIMIT")
    );
    assert!(status.retryable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_only_so_many_uploads_at_once_whatever_the_devices() {
    let server = TestServer::start_with(|config| config.concurrent_uploads_max = 1).await;
    let (_endpoint, busy) = raw_session(server.addr(), "device-001", "officer-01").await;
    let jpeg = fieldlink_tests::photos::jpeg(64, 64, 2);
    let upload = |jpeg: &[u8]| {
        fieldlink_client::PhotoUpload::new(
            &uuid::Uuid::now_v7().to_string(),
            "image/jpeg",
            fieldlink_client::now_ms() - 1000,
            jpeg.to_vec(),
        )
    };
    // device-001's upload is open and silent: the server's one slot.
    let first = upload(&jpeg);
    let (mut stream, _recv) = busy.open_bi().await.unwrap();
    stream
        .write_all(&frame::encode(&pb::Request {
            body: Some(pb::request::Body::UploadPhoto(first.header(0))),
            capture: None,
        }))
        .await
        .unwrap();
    stream.write_all(&jpeg[..100]).await.unwrap();
    first_upload_runs(&server).await;
    // Another device is told the server is busy, and when to come back.
    let mut config = client_config(server.addr(), "device-002", "officer-02");
    config.retry.attempts_max = 1;
    let other = Client::new(config).unwrap();
    let status = match other.upload_photo(&upload(&jpeg), |_| {}).await {
        Err(Error::Rejected(status)) => *status,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        (status.code_or_unknown(), status.reason.as_str()),
        (Code::ResourceExhausted, "UPLOAD_LIMIT")
    );
    assert!(status.message.contains("server"), "{}", status.message);
    assert!(status.retryable && status.retry_after_ms > 0);
    // Once the first stream ends, the slot is free again.
    stream.finish().unwrap();
    drop(stream);
    let mut stored = false;
    for _ in 0..100 {
        match other.upload_photo(&upload(&jpeg), |_| {}).await {
            Ok(_) => {
                stored = true;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert!(stored, "the slot came back");
}
