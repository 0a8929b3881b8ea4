//! Live positions end to end: terminals send QUIC datagrams, the console
//! shows each officer's newest with its age, suggests the nearest officers
//! for a dispatch, and keeps a sampled track; bad and too-frequent pings
//! are dropped and counted, and leave the connection serving.

use std::time::Duration;

use fieldlink_protocol::pb::PositionPing;
use fieldlink_tests::{connect, record, TestServer};
use serde_json::Value;

use crate::console::{send, sign_in};

/// Near the demo place (Ningbo), and about a kilometre north of it.
const HERE: (f64, f64) = (29.8683, 121.5440);
const NORTH: (f64, f64) = (29.8773, 121.5440);

fn ping(place: (f64, f64)) -> PositionPing {
    PositionPing {
        latitude: place.0,
        longitude: place.1,
        accuracy_m: 8.0,
        speed_mps: 1.4,
        at_ms: fieldlink_client::now_ms(),
    }
}

/// Waits (generously) until the console's officer list satisfies `ok`.
async fn officers_until(console: &crate::console::Console, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = send(console.get("/api/officers")).await;
        assert_eq!(status, 200, "{body}");
        if ok(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "not seen in time: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn officer<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["officers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["officer_id"] == id)
        .unwrap()
}

async fn metrics_text(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn kept_and_dropped(metrics: &str) -> (u64, u64, u64) {
    let count = |label: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("fieldlink_positions_total{{result=\"{label}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (count("kept"), count("too_frequent"), count("malformed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_move_on_the_console_suggest_the_nearest_and_leave_a_track() {
    let server = TestServer::start_with(|config| {
        config.http = Some("127.0.0.1:0".parse().unwrap());
        config.position_sample_ms = 1_000;
    })
    .await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let near = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let far = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    near.send_position(&ping(HERE)).await.unwrap();
    far.send_position(&ping(NORTH)).await.unwrap();
    let body = officers_until(&console, |b| {
        !officer(b, "officer-01")["live_position"].is_null()
            && !officer(b, "officer-02")["live_position"].is_null()
    })
    .await;
    let live = &officer(&body, "officer-01")["live_position"];
    assert_eq!(live["latitude"], HERE.0);
    assert_eq!(live["device_id"], "device-001");
    assert!(live["age_ms"].as_i64().unwrap() >= 0);

    // The dispatch form's suggestion: nearest first, with distances.
    let (status, nearest) = send(console.get(&format!(
        "/api/officers/nearest?latitude={}&longitude={}&limit=5",
        HERE.0, HERE.1
    )))
    .await;
    assert_eq!(status, 200, "{nearest}");
    let list = nearest["officers"].as_array().unwrap();
    assert_eq!(list[0]["officer_id"], "officer-01", "{nearest}");
    assert_eq!(list[1]["officer_id"], "officer-02", "{nearest}");
    let metres = list[1]["distance_m"].as_f64().unwrap();
    assert!((900.0..1_100.0).contains(&metres), "{metres}");
    for bad in [
        "/api/officers/nearest?latitude=95&longitude=121",
        "/api/officers/nearest?longitude=121",
        "/api/officers/nearest?latitude=29&longitude=121&limit=0",
        "/api/officers/officer-01/track?from_ms=10&to_ms=1",
    ] {
        let (status, body) = send(console.get(bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // Too soon after the last: dropped and counted; the connection serves on.
    let metrics_before = metrics_text(&base).await;
    near.send_position(&ping(NORTH)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while kept_and_dropped(&metrics_text(&base).await).1 <= kept_and_dropped(&metrics_before).1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the too-frequent ping was not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    near.submit_inspection(&record("officer-01")).await.unwrap();
    let body = officers_until(&console, |_| true).await;
    assert_eq!(
        officer(&body, "officer-01")["live_position"]["latitude"],
        HERE.0,
        "not moved"
    );

    // The track: sampled within a second or so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, track) = send(console.get("/api/officers/officer-01/track")).await;
        assert_eq!(status, 200, "{track}");
        if let Some(point) = track["points"].as_array().and_then(|p| p.first()) {
            assert_eq!(point["latitude"], HERE.0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no track point: {track}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pings_are_refused_before_sending_or_dropped_and_counted_by_the_server() {
    let server = TestServer::start().await;
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    // Out of range: the SDK refuses it itself.
    let error = terminal
        .send_position(&PositionPing {
            latitude: 91.0,
            ..ping(HERE)
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("out of range"), "{error}");
    // From the future and malformed: sent raw, dropped by the server.
    let (_endpoint, raw) = fieldlink_tests::raw_session(server.addr(), "device-002", "officer-02").await;
    let future = fieldlink_protocol::position::encode_datagram(&PositionPing {
        at_ms: fieldlink_client::now_ms() + 3_600_000,
        ..ping(HERE)
    });
    raw.send_datagram(future.into()).unwrap();
    raw.send_datagram(bytes::Bytes::from_static(b"\x01\xff\xff\xff"))
        .unwrap();
    raw.send_datagram(bytes::Bytes::from_static(b"garbage")).unwrap();
    let board = &server.server.state().positions;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, dropped) = board.counts();
        let count = |r| dropped.iter().find(|(x, _)| *x == r).map_or(0, |(_, n)| *n);
        use fieldlink_protocol::position::PingRefusal;
        if count(PingRefusal::FromTheFuture) == 1 && count(PingRefusal::Malformed) == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not counted: {dropped:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(board.latest().is_empty(), "nothing kept");
    // Both connections still serve.
    terminal.submit_inspection(&record("officer-01")).await.unwrap();
    let response = fieldlink_tests::raw_request(
        &raw,
        &fieldlink_protocol::frame::encode(&fieldlink_protocol::pb::Request {
            body: Some(fieldlink_protocol::pb::request::Body::SubmitInspection(record(
                "officer-02",
            ))),
            capture: None,
        }),
        true,
    )
    .await;
    assert!(
        matches!(
            response.result,
            Some(fieldlink_protocol::pb::response::Result::Receipt(_))
        ),
        "{response:?}"
    );
}
