//! The console in a real browser: headless Chromium (Debian's `chromium`,
//! driven by playwright-core from tests/browser/) walks a supervisor's
//! morning: signs in, filters the board by team, opens an overdue
//! assignment and reassigns it to an officer who is online, dispatches an
//! assignment, watches an SDK terminal accept it — the board changes live,
//! without a reload — sees the terminal's photo appear in the evidence
//! feed, opens the flagged photo and marks its flags reviewed, and opens the
//! case to read every item's content. Screenshots are saved as test
//! artifacts (target/test-artifacts/console*.png; the README's come from
//! here).
//!
//! Needs `/usr/bin/chromium` and `npm ci` in tests/browser (`.ci/run` does
//! both); skips with the reason printed otherwise, unless
//! FIELDLINK_REQUIRE_BROWSER=1 (CI), when that is a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{connect, events_until, photos, record, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A map tile server on loopback standing in for the agency's map
/// service: every tile is one small picture; it counts what it served.
async fn tile_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let served = Arc::new(AtomicUsize::new(0));
    let tile = fieldlink_tests::photos::jpeg(256, 256, 5);
    let counter = served.clone();
    let app = axum::Router::new().route(
        "/tiles/{z}/{x}/{y}",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            let tile = tile.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], tile) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, served)
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no browser at {chromium} (apt-get install chromium)"));
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some("playwright-core is not installed (cd tests/browser && npm ci)".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_dispatches_in_the_browser_and_watches_the_terminal_live() {
    if let Some(reason) = missing() {
        if std::env::var("FIELDLINK_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("the browser test is required (FIELDLINK_REQUIRE_BROWSER=1): {reason}");
        }
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let (tiles, tiles_served) = tile_server().await;
    let server = TestServer::start_with(|config| {
        config.http = Some("127.0.0.1:0".parse().unwrap());
        config.console_map_tiles = Some(format!("http://{tiles}/tiles/{{z}}/{{x}}/{{y}}"));
        config.console_map_attribution = Some("测试底图 test tiles".into());
        config.overdue_check_interval_ms = 200;
    })
    .await;
    let console = format!("http://{}", server.server.console_addr().unwrap());
    // Overnight, an assignment to officer-02 (not online) went overdue.
    let supervisor = crate::console::sign_in(&console, "supervisor-01").await.unwrap();
    let mut late = crate::console::new_assignment("officer-02");
    late["title"] = serde_json::json!("夜市油烟复查 Recheck night-market fumes");
    late["dueAtMs"] = serde_json::json!((fieldlink_client::now_ms() + 1_000).to_string());
    let (status, made) = crate::console::send(supervisor.post("/api/assignments", &late)).await;
    assert_eq!(status, 200, "{made}");
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let (_, overdue) = crate::console::send(supervisor.get("/api/assignments?overdue=true")).await;
            if overdue["assignments"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the assignment goes overdue");
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    // Where the officer is now (a live position): the dispatch form offers
    // them as the nearest to the place.
    terminal
        .send_position(&fieldlink_protocol::pb::PositionPing {
            latitude: 29.8690,
            longitude: 121.5440,
            accuracy_m: 6.0,
            speed_mps: 0.0,
            at_ms: fieldlink_client::now_ms(),
        })
        .await
        .unwrap();
    let mut feed = terminal.assignments();
    // An alarm waiting in triage, and a second one, 1 km north, that stays
    // in triage (and on the map).
    let monitor = "LB330201000000000000001A";
    let summary = "超标 人民路 12 号 老街面馆: a34041 = 2.9 > 2（连续 3 次）";
    crate::console::report_alarm_at(&server, monitor, 29.87, "人民路 12 号", summary).await;
    crate::console::report_alarm_at(&server, monitor, 29.879, "人民路 12 号", summary).await;

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("console.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut browser = tokio::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(browser_dir())
        .env("CONSOLE_URL", &console)
        .env("SCREENSHOT", &screenshot)
        .env("SCREENSHOT_DIR", &artifacts)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("browser: {line}");
            if let Some(id) = line.strip_prefix("DISPATCHED ") {
                // The terminal gets it and accepts.
                let id = id.trim().to_owned();
                events_until(&mut feed, |e| e.assignment.as_ref().is_some_and(|a| a.id == id)).await;
                terminal.accept_assignment(&id).await.unwrap();
                // Then it reports from the site with a photo, in a case.
                let mut item = record("officer-01");
                item.case_id = "ZF-2026-0101".into();
                item.assignment_id = id.clone();
                terminal.submit_inspection(&item).await.unwrap();
                let photo = PhotoUpload::new(
                    &item.id,
                    "image/jpeg",
                    fieldlink_client::now_ms() - 60_000,
                    photos::jpeg(640, 480, 11),
                )
                .in_case("ZF-2026-0101");
                terminal.upload_photo(&photo, |_| {}).await.unwrap();
            }
            if line == "TRIAGE_WATCHING" {
                // A camera platform posts an alert with its snapshot.
                let body =
                    serde_json::to_vec(&crate::camera_alerts::alert("evt-browser-1", 29.8700)).unwrap();
                let (status, receipt) = crate::camera_alerts::post(
                    &console,
                    fieldlink_server::intake::alert_sources::DEMO_SOURCE,
                    fieldlink_server::intake::alert_sources::DEMO_SECRET,
                    fieldlink_client::now_ms(),
                    &body,
                )
                .await;
                assert_eq!(status, 200, "{receipt}");
            }
            seen.push(line);
        }
    };
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser run finishes in time");
    let status = tokio::time::timeout(Duration::from_secs(30), browser.wait())
        .await
        .expect("node exits")
        .unwrap();
    assert!(status.success(), "the browser script failed after {seen:?}");
    for step in [
        "SIGNED_IN",
        "OVERDUE_REASSIGNED",
        "NEAREST_SUGGESTED",
        "ACCEPTED_SEEN",
        "THUMBNAIL_SEEN",
        "FLAG_REVIEWED",
        "CASE_READ",
        "STATS_SEEN",
        "KEYBOARD",
        "FITS_1366",
        "INCIDENT_DISPATCHED",
        "LIVE_INCIDENT_SEEN",
        "SNAPSHOT_THUMB_SEEN",
        "DONE",
    ] {
        assert!(seen.iter().any(|l| l == step), "{step} missing from {seen:?}");
    }
    // The map drew the base layer from the configured tile server.
    assert!(tiles_served.load(Ordering::Relaxed) > 0, "no tile was fetched");
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot: {}", screenshot.display());
}
