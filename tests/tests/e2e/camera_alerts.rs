//! AI-video alerts over the signed webhook (docs/intake.md): a platform
//! posts an alert with its snapshot, signed with HMAC-SHA256 over
//! `timestamp.body`; it is stored byte-exact as a leaf and becomes an
//! incident; resends are answered with the original; bad signatures, old
//! timestamps and malformed alerts are refused and store nothing.

use std::time::Duration;

use base64::Engine;
use fieldlink_protocol::pb::{self, IncidentState, ListIncidents};
use fieldlink_server::intake::alert_sources::{DEMO_SECRET, DEMO_SOURCE};
use fieldlink_server::intake::camera_alerts::signature;
use fieldlink_tests::{connect, photos, TestServer};
use serde_json::{json, Value};

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub(crate) fn alert(event_id: &str, latitude: f64) -> Value {
    let snapshot = base64::engine::general_purpose::STANDARD.encode(photos::jpeg(320, 240, 5));
    json!({
        "event_id": event_id,
        "camera_id": "CAM-人民路-03",
        "category": "street_vending",
        "occurred_at_ms": fieldlink_client::now_ms() - 30_000,
        "latitude": latitude,
        "longitude": 121.55,
        "address": "人民路与解放路口",
        "summary": "占道经营 street vending at the crossing",
        "matter_code": "ZJ-001",
        "snapshot_content_type": "image/jpeg",
        "snapshot_base64": snapshot,
    })
}

/// Posts `body` signed with `secret` at `timestamp` as `source`: (status, JSON).
pub(crate) async fn post(
    base: &str,
    source: &str,
    secret: &str,
    timestamp: i64,
    body: &[u8],
) -> (u16, Value) {
    let stamp = timestamp.to_string();
    let response = http()
        .post(format!("{base}/api/intake/alerts"))
        .header("content-type", "application/json")
        .header("x-fieldlink-source", source)
        .header("x-fieldlink-timestamp", &stamp)
        .header(
            "x-fieldlink-signature",
            format!("sha256={}", signature(secret.as_bytes(), &stamp, body)),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_alerts_become_incidents_and_everything_else_is_refused() {
    let server = TestServer::start_with(|config| config.http = Some("127.0.0.1:0".parse().unwrap())).await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let now = fieldlink_client::now_ms();
    let body = serde_json::to_vec(&alert("evt-0001", 29.8700)).unwrap();

    let (status, receipt) = post(&base, DEMO_SOURCE, DEMO_SECRET, now, &body).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["replayed"], false);
    let item_id = uuid::Uuid::parse_str(receipt["item_id"].as_str().unwrap()).unwrap();
    let storage = &server.server.state().storage;
    let stored = storage.item(item_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.kind.as_str(), stored.body.as_slice()),
        ("camera_alert", body.as_slice())
    );
    assert!(storage.log_leaf(item_id).await.unwrap().is_some());
    let items = server.item_count().await;

    // A resend (the platform's retry) gets the same answer and stores nothing new.
    let (status, again) = post(&base, DEMO_SOURCE, DEMO_SECRET, now + 1_000, &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            again["item_id"].clone(),
            again["incident_id"].clone(),
            again["replayed"].clone()
        ),
        (
            receipt["item_id"].clone(),
            receipt["incident_id"].clone(),
            json!(true)
        )
    );
    // A second camera's alert 40 m away joins the incident.
    let near = serde_json::to_vec(&alert("evt-0002", 29.87036)).unwrap();
    let (status, joined) = post(&base, DEMO_SOURCE, DEMO_SECRET, now, &near).await;
    assert_eq!((status, joined["joined"].clone()), (200, json!(true)), "{joined}");
    assert_eq!(joined["incident_id"], receipt["incident_id"]);
    let items = items + 1;

    // Refusals: each stores nothing.
    let other = serde_json::to_vec(&alert("evt-0003", 29.9)).unwrap();
    let cases: Vec<(&str, (u16, Value), u16)> = vec![
        (
            "wrong secret",
            post(&base, DEMO_SOURCE, "not-the-secret-at-all", now, &other).await,
            401,
        ),
        (
            "unknown source",
            post(&base, "someone", DEMO_SECRET, now, &other).await,
            401,
        ),
        (
            "six minutes old",
            post(&base, DEMO_SOURCE, DEMO_SECRET, now - 360_000, &other).await,
            401,
        ),
        (
            "six minutes ahead",
            post(&base, DEMO_SOURCE, DEMO_SECRET, now + 360_000, &other).await,
            401,
        ),
        (
            "not JSON",
            post(&base, DEMO_SOURCE, DEMO_SECRET, now, b"{not json").await,
            400,
        ),
        (
            "same event id, other content",
            post(
                &base,
                DEMO_SOURCE,
                DEMO_SECRET,
                now,
                &serde_json::to_vec(&alert("evt-0001", 30.5)).unwrap(),
            )
            .await,
            409,
        ),
    ];
    for (name, (status, body), expected) in cases {
        assert_eq!(status, expected, "{name}: {body}");
    }
    let mut bad_fields: Vec<(&str, Value)> = Vec::new();
    for (field, value) in [
        ("category", json!("Street Vending")),
        ("latitude", json!(123.0)),
        ("snapshot_content_type", json!("image/gif")),
        ("snapshot_base64", json!("%%%")),
        (
            "snapshot_base64",
            json!(base64::engine::general_purpose::STANDARD.encode(b"not an image at all")),
        ),
        ("matter_code", json!("NOPE-1")),
        ("event_id", json!("")),
        ("occurred_at_ms", json!(now + 3_600_000)),
    ] {
        let mut bad = alert("evt-bad", 29.9);
        bad[field] = value;
        bad_fields.push((field, bad));
    }
    for (field, bad) in bad_fields {
        let (status, body) = post(
            &base,
            DEMO_SOURCE,
            DEMO_SECRET,
            now,
            &serde_json::to_vec(&bad).unwrap(),
        )
        .await;
        assert_eq!((status, body["field"].as_str()), (400, Some(field)), "{body}");
    }
    assert_eq!(server.item_count().await, items, "no refused alert is stored");

    // The supervisor sees the incident, with both cameras as sources.
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let list = supervisor
        .list_incidents(&ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(list.incidents.len(), 1);
    let incident = &list.incidents[0];
    assert_eq!(
        (incident.category.as_str(), incident.report_count),
        ("street_vending", 2)
    );
    assert_eq!(incident.state, IncidentState::New as i32);
    let detail = supervisor.incident(&incident.id).await.unwrap();
    assert!(detail
        .events
        .iter()
        .all(|e| e.source.as_ref().is_some_and(|s| s.kind == "camera")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_rule_dispatches_new_alerts_to_the_zones_team_at_once() {
    let zones = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        zones.path(),
        r#"
[[zones]]
id = "chengnan"
name = "城南片区"
team = "team-chengnan"
polygon = [[121.530, 29.855], [121.575, 29.855], [121.575, 29.885], [121.530, 29.885]]

[[auto_dispatch]]
category = "street_vending"
zone = "chengnan"
"#,
    )
    .unwrap();
    let path = zones.path().to_path_buf();
    let server = TestServer::start_with(|config| {
        config.http = Some("127.0.0.1:0".parse().unwrap());
        config.zones = Some(path);
    })
    .await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut feed = officer.assignments();
    let now = fieldlink_client::now_ms();
    let body = serde_json::to_vec(&alert("evt-auto-1", 29.8700)).unwrap();
    let (status, receipt) = post(&base, DEMO_SOURCE, DEMO_SECRET, now, &body).await;
    assert_eq!(status, 200, "{receipt}");
    // The team's terminals get the assignment without anyone triaging.
    let event = fieldlink_tests::events_until(&mut feed, |e| {
        e.assignment
            .as_ref()
            .is_some_and(|a| a.incident_id == receipt["incident_id"].as_str().unwrap())
    })
    .await
    .pop()
    .unwrap();
    assert_eq!(event.by, "system");
    let assignment = event.assignment.unwrap();
    assert_eq!(
        assignment.assignee,
        Some(pb::assignment::Assignee::TeamId("team-chengnan".into()))
    );
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let detail = supervisor
        .incident(receipt["incident_id"].as_str().unwrap())
        .await
        .unwrap();
    let incident = detail.incident.unwrap();
    assert_eq!(incident.state, IncidentState::Dispatched as i32);
    assert_eq!(incident.assignment_id, assignment.id);
    // Another category in the zone waits for triage.
    let mut other = alert("evt-auto-2", 29.8800);
    other["category"] = json!("garbage_overflow");
    let (status, second) = post(
        &base,
        DEMO_SOURCE,
        DEMO_SECRET,
        now,
        &serde_json::to_vec(&other).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let waiting = supervisor
        .incident(second["incident_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(waiting.incident.unwrap().state, IncidentState::New as i32);
}
