//! The console's triage (docs/intake.md): incidents arrive live as `incident`
//! server-sent events (resumable with Last-Event-ID), each incident's
//! reports come with thumbnails of their images (a grid report's photo, a
//! camera alert's snapshot), and a supervisor splits one from the console.

use fieldlink_client::PhotoUpload;
use fieldlink_server::intake::alert_sources::{DEMO_SECRET, DEMO_SOURCE};
use fieldlink_tests::{connect, photos};
use serde_json::{json, Value};

use crate::camera_alerts::{alert, post};
use crate::console::{next_sse, send, sign_in, start, uuid7, JsonBody};

/// The thumbnail at `path`, once it is made (photos get theirs just after
/// the receipt): (content type, decoded width, height).
async fn thumbnail(console: &crate::console::Console, path: &str) -> (String, u32, u32) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let response = console.get(path).send().await.unwrap();
        if response.status().as_u16() == 200 {
            let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
            let bytes = response.bytes().await.unwrap();
            let image = image::load_from_memory(&bytes).expect("a decodable image");
            return (kind, image.width(), image.height());
        }
        assert!(tokio::time::Instant::now() < deadline, "no thumbnail at {path}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_is_live_shows_thumbnails_and_splits_from_the_console() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let mut stream = console.get("/api/events").send().await.unwrap();
    let mut buffer = String::new();

    // A grid worker reports street vending, with a photo ...
    let grid = connect(server.addr(), "device-002", "grid-01").await.unwrap();
    let report_id = uuid7();
    let observed = fieldlink_client::now_ms() - 60_000;
    let photo_id = uuid7();
    let report = fieldlink_protocol::pb::GridReport {
        id: report_id.clone(),
        category: "street_vending".into(),
        place: Some(fieldlink_protocol::pb::Place {
            latitude: 29.8700,
            longitude: 121.55,
            address: "人民路与解放路口".into(),
            accuracy_m: 5.0,
        }),
        description: "流动摊贩占道 A hawker on the pavement".into(),
        observed_at_ms: observed,
        photo_ids: vec![photo_id.clone()],
        matter_code: String::new(),
    };
    grid.submit_grid_report(&report).await.unwrap();
    let upload = PhotoUpload::with_id(
        &photo_id,
        &report_id,
        "image/jpeg",
        observed,
        photos::jpeg(800, 600, 3),
    );
    grid.upload_photo(&upload, |_| {}).await.unwrap();
    let (opened_id, opened) = next_sse(&mut stream, &mut buffer, "incident", |d| {
        d["kind"] == "INCIDENT_EVENT_KIND_OPENED"
    })
    .await;
    let incident_id = opened["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(opened["source"]["itemId"], report_id.as_str());

    // ... and a camera sees the same at the same place: it joins, live.
    let body = serde_json::to_vec(&alert("evt-triage-1", 29.8700)).unwrap();
    let (status, receipt) = post(&base, DEMO_SOURCE, DEMO_SECRET, fieldlink_client::now_ms(), &body).await;
    assert_eq!(status, 200, "{receipt}");
    let alert_item = receipt["item_id"].as_str().unwrap().to_owned();
    let (_, joined) = next_sse(&mut stream, &mut buffer, "incident", |d| {
        d["kind"] == "INCIDENT_EVENT_KIND_JOINED"
    })
    .await;
    assert_eq!(joined["incident"]["id"], incident_id.as_str());
    assert_eq!(joined["incident"]["reportCount"], 2);

    // Each report with its images; the thumbnails are real JPEGs ≤ 320 px.
    let (status, evidence) = send(console.get(&format!("/api/incidents/{incident_id}/evidence"))).await;
    assert_eq!(status, 200, "{evidence}");
    let sources = evidence["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    let grid_images = sources[0]["images"].as_array().unwrap();
    assert_eq!(
        (sources[0]["kind"].as_str(), grid_images.len()),
        (Some("grid_report"), 1)
    );
    let (kind, width, height) = thumbnail(&console, grid_images[0]["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!((kind.as_str(), width, height), ("image/jpeg", 320, 240));
    assert_eq!(sources[1]["kind"], "camera");
    assert_eq!(sources[1]["item_id"], alert_item.as_str());
    let camera_thumb = sources[1]["images"][0]["thumbnail_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (kind, width, height) = thumbnail(&console, &camera_thumb).await;
    assert_eq!(kind, "image/jpeg");
    assert!(width.max(height) <= 320 && width > 0 && height > 0);
    // Only a camera alert has a snapshot; unknown incidents are not found.
    let (status, _) = send(console.get(&format!("/api/camera-alerts/{report_id}/thumbnail"))).await;
    assert_eq!(status, 404);
    let (status, _) = send(console.get("/api/camera-alerts/not-a-uuid/thumbnail")).await;
    assert_eq!(status, 400);
    let (status, _) = send(console.get(&format!("/api/incidents/{}/evidence", uuid7()))).await;
    assert_eq!(status, 404);

    // The camera's report is split off from the console (the CSRF token is
    // required), and both changes stream live.
    let split = format!("/api/incidents/{incident_id}/split");
    let form = json!({"update_id": uuid7(), "new_incident_id": uuid7(), "item_ids": [alert_item], "reason": "另一摊位 another stall"});
    let (status, _) = send(
        console
            .http
            .post(format!("{base}{split}"))
            .header("cookie", &console.cookie)
            .json_body(&form),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = send(console.post(
        &split,
        &json!({"update_id": uuid7(), "new_incident_id": uuid7(), "item_ids": []}),
    ))
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("item_ids")),
        "{body}"
    );
    let (status, made) = send(console.post(&split, &form)).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["incident"]["id"], form["new_incident_id"]);
    assert_eq!(made["sources"][0]["itemId"], alert_item.as_str());
    let (_, event) = next_sse(&mut stream, &mut buffer, "incident", |d| {
        d["kind"] == "INCIDENT_EVENT_KIND_SPLIT_OFF"
    })
    .await;
    assert_eq!(event["incident"]["id"], form["new_incident_id"]);
    drop(stream);

    // Resuming from the first incident event delivers what came after it,
    // in order, and not it again.
    let mut resumed = console
        .get("/api/events")
        .header("last-event-id", &opened_id)
        .send()
        .await
        .unwrap();
    let mut buffer = String::new();
    let mut kinds: Vec<Value> = Vec::new();
    for _ in 0..3 {
        let (_, event) = next_sse(&mut resumed, &mut buffer, "incident", |_| true).await;
        kinds.push(event["kind"].clone());
    }
    assert_eq!(
        kinds,
        [
            "INCIDENT_EVENT_KIND_JOINED",
            "INCIDENT_EVENT_KIND_SPLIT",
            "INCIDENT_EVENT_KIND_SPLIT_OFF"
        ]
    );
}
