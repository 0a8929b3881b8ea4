//! The supervisor console's HTTP API end to end: every route refuses the
//! unauthenticated, officers cannot sign in, state changes need the CSRF
//! token and a same-site origin, bad input gets the protocol's typed errors,
//! and the happy paths work — including live server-sent events resumable
//! with Last-Event-ID, and evidence uploaded by a real terminal.

use std::time::Duration;

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{connect, photos, record, TestServer};
use serde_json::{json, Value};

/// A tiny client for the console: base URL, the session cookie, CSRF token.
pub(crate) struct Console {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub(crate) async fn start() -> (TestServer, String) {
    let server = TestServer::start_with(|config| config.http = Some("127.0.0.1:0".parse().unwrap())).await;
    let base = format!(
        "http://{}",
        server.server.console_addr().expect("the console listens")
    );
    (server, base)
}

/// (HTTP status, JSON body or Null).
pub(crate) async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) async fn sign_in(base: &str, officer: &str) -> Result<Console, (u16, Value)> {
    let http = http();
    let response = http
        .post(format!("{base}/api/session"))
        .json_body(&json!({ "officer_id": officer, "password": fieldlink_tests::PASSWORD }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
    if status != 200 {
        return Err((status, body));
    }
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    Ok(Console {
        base: base.to_owned(),
        http,
        cookie: cookie.split(';').next().unwrap().to_owned(),
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    })
}

/// JSON bodies without reqwest's `json` feature.
pub(crate) trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

impl Console {
    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json_body(body)
    }
}

pub(crate) fn uuid7() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn new_assignment(officer: &str) -> Value {
    json!({
        "id": uuid7(),
        "title": "巡查城南路占道经营 Patrol Chengnan Road",
        "matterCode": "ZJ-001",
        "area": "城南路沿线",
        "priority": "PRIORITY_URGENT",
        "officerId": officer,
        "place": { "latitude": 29.8683, "longitude": 121.544, "address": "城南路 12 号" },
    })
}

/// A lampblack monitor's alarm at this latitude (Ningbo's longitude), as
/// the intake reports it; an alarm within 100 m of an open incident joins
/// it. Returns the incident's id.
pub(crate) async fn report_alarm(server: &TestServer, monitor: &str, latitude: f64) -> String {
    report_alarm_at(server, monitor, latitude, "人民路", &format!("超标 {monitor}")).await
}

/// [`report_alarm`] with the place's address and the report's summary.
pub(crate) async fn report_alarm_at(
    server: &TestServer,
    monitor: &str,
    latitude: f64,
    address: &str,
    summary: &str,
) -> String {
    use fieldlink_server::storage::{IncidentReport, JoinRule};
    let report = IncidentReport {
        event_id: uuid::Uuid::now_v7(),
        new_incident_id: uuid::Uuid::now_v7(),
        category: "lampblack_exceedance".into(),
        matter_code: "HB-002".into(),
        team_id: "team-chengnan".into(),
        source: fieldlink_protocol::pb::IncidentSource {
            kind: "monitor".into(),
            source_id: monitor.into(),
            item_id: uuid7(),
            at_ms: fieldlink_client::now_ms(),
            place: Some(fieldlink_protocol::pb::Place {
                latitude,
                longitude: 121.55,
                address: address.into(),
                accuracy_m: 0.0,
            }),
            summary: summary.into(),
        },
        by: "system".into(),
        at_ms: fieldlink_client::now_ms(),
    };
    let rule = JoinRule {
        radius_m: 100.0,
        window_ms: 3_600_000,
    };
    let outcome = server
        .server
        .state()
        .storage
        .report_incident(&report, &rule)
        .await
        .unwrap();
    outcome.incident.id
}

/// Every route, for the authentication checks.
fn routes() -> Vec<(&'static str, String)> {
    let id = uuid7();
    vec![
        ("GET", "/api/session".into()),
        ("DELETE", "/api/session".into()),
        ("GET", "/api/assignments".into()),
        ("POST", "/api/assignments".into()),
        ("GET", format!("/api/assignments/{id}")),
        ("POST", format!("/api/assignments/{id}/cancel")),
        ("POST", format!("/api/assignments/{id}/reassign")),
        ("POST", format!("/api/assignments/{id}/review")),
        ("GET", "/api/incidents".into()),
        ("GET", format!("/api/incidents/{id}")),
        ("POST", format!("/api/incidents/{id}/dispatch")),
        ("POST", format!("/api/incidents/{id}/dismiss")),
        ("POST", format!("/api/incidents/{id}/merge")),
        ("POST", format!("/api/incidents/{id}/split")),
        ("GET", format!("/api/incidents/{id}/evidence")),
        ("GET", format!("/api/camera-alerts/{id}/thumbnail")),
        ("POST", "/api/intake/alerts".into()),
        ("GET", "/api/officers".into()),
        (
            "GET",
            "/api/officers/nearest?latitude=29.87&longitude=121.54".into(),
        ),
        ("GET", "/api/officers/officer-01/track".into()),
        ("GET", "/api/matters".into()),
        ("GET", "/api/evidence".into()),
        ("GET", "/api/map".into()),
        ("GET", "/api/stats".into()),
        ("POST", "/api/admin/reload".into()),
        ("GET", format!("/api/items/{id}")),
        ("POST", format!("/api/items/{id}/flag-reviews")),
        ("GET", "/api/cases".into()),
        ("GET", "/api/cases/CASE-1".into()),
        ("GET", "/api/cases/CASE-1/file".into()),
        ("POST", "/api/cases/CASE-1/export".into()),
        ("GET", "/api/alerts".into()),
        ("GET", format!("/api/photos/{id}/original")),
        ("GET", format!("/api/photos/{id}/thumbnail")),
        ("GET", "/api/events".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_unauthenticated_and_officers_cannot_sign_in() {
    let (_server, base) = start().await;
    let http = http();
    for (method, path) in routes() {
        for cookie in [None, Some("fieldlink_console=forged")] {
            let mut request = http.request(method.parse().unwrap(), format!("{base}{path}"));
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let (status, body) = send(request.json_body(&json!({}))).await;
            assert_eq!(status, 401, "{method} {path} with {cookie:?}: {body}");
            assert_eq!(body["code"], "UNAUTHENTICATED", "{method} {path}");
        }
    }
    // Officers use their terminals: the console refuses them, with the
    // answer a wrong password gets (it must not confirm a guessed password).
    let officer = match sign_in(&base, "officer-01").await {
        Err(refused) => refused,
        Ok(_) => panic!("an officer signed in to the console"),
    };
    let officer_wrong = send(
        http.post(format!("{base}/api/session"))
            .json_body(&json!({"officer_id": "officer-01", "password": "nope"})),
    )
    .await;
    assert_eq!(officer.0, 401);
    assert_eq!(officer, officer_wrong, "right and wrong passwords look the same");
    // A wrong password and an unknown id get the same answer.
    let wrong = send(
        http.post(format!("{base}/api/session"))
            .json_body(&json!({"officer_id": "supervisor-01", "password": "nope"})),
    )
    .await;
    let unknown = send(
        http.post(format!("{base}/api/session"))
            .json_body(&json!({"officer_id": "nobody", "password": "nope"})),
    )
    .await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong, unknown);
    let malformed = send(http.post(format!("{base}/api/session")).body("{not json")).await;
    assert_eq!(
        (malformed.0, malformed.1["code"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_need_the_csrf_token_and_a_same_site_origin() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let url = format!("{base}/api/assignments");
    let body = new_assignment("officer-01");
    // No token.
    let (status, error) = send(
        console
            .http
            .post(&url)
            .header("cookie", &console.cookie)
            .json_body(&body),
    )
    .await;
    assert_eq!((status, error["reason"].as_str()), (403, Some("NOT_PERMITTED")));
    // Another site's page, even with the token.
    let (status, _) = send(
        console
            .post("/api/assignments", &body)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        server
            .server
            .state()
            .storage
            .latest_assignment_seq()
            .await
            .unwrap(),
        0,
        "nothing dispatched"
    );
    // The same request from the console's own origin is served.
    let origin = base.clone();
    let (status, result) = send(console.post("/api/assignments", &body).header("origin", origin)).await;
    assert_eq!(status, 200, "{result}");
    // Signing out ends the session.
    let (status, _) = send(
        console
            .http
            .delete(format!("{base}/api/session"))
            .header("cookie", &console.cookie)
            .header("x-csrf-token", &console.csrf),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(send(console.get("/api/officers")).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_protocols_typed_errors() {
    let (_server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, &str)> = vec![
        ("malformed JSON", console.post("/api/assignments", &json!(null)).body("{"), 400, "INVALID_ARGUMENT", "body"),
        ("an id that is not a UUIDv7", console.post("/api/assignments", &json!({"id": "x", "title": "t", "matterCode": "ZJ-001", "area": "a", "officerId": "officer-01"})), 400, "INVALID_ARGUMENT", "assignment.id"),
        ("an unknown matter code", console.post("/api/assignments", &json!({"id": uuid7(), "title": "t", "matterCode": "NOPE-9", "area": "a", "priority": "PRIORITY_NORMAL", "officerId": "officer-01"})), 400, "INVALID_ARGUMENT", "assignment.matter_code"),
        ("an unknown officer", console.post("/api/assignments", &json!({"id": uuid7(), "title": "t", "matterCode": "ZJ-001", "area": "a", "priority": "PRIORITY_NORMAL", "officerId": "officer-99"})), 400, "INVALID_ARGUMENT", ""),
        ("a bad item id", console.get("/api/items/not-a-uuid"), 400, "INVALID_ARGUMENT", "item_id"),
        ("an unknown item", console.get(&format!("/api/items/{}", uuid7())), 404, "NOT_FOUND", ""),
        ("an unknown assignment", console.get(&format!("/api/assignments/{}", uuid7())), 404, "NOT_FOUND", ""),
        ("cancelling an unknown assignment", console.post(&format!("/api/assignments/{}/cancel", uuid7()), &json!({"update_id": uuid7()})), 404, "NOT_FOUND", ""),
        ("reassigning to both an officer and a team", console.post(&format!("/api/assignments/{}/reassign", uuid7()), &json!({"update_id": uuid7(), "officer_id": "officer-01", "team_id": "team-chengnan"})), 400, "INVALID_ARGUMENT", "officer_id"),
        ("an evidence page too large", console.get("/api/evidence?limit=1000"), 400, "INVALID_ARGUMENT", "limit"),
        ("an evidence page before an impossible seq", console.get("/api/evidence?before=9223372036854775808"), 400, "INVALID_ARGUMENT", "before"),
        ("an unknown state filter", console.get("/api/assignments?state=SLEEPING"), 400, "INVALID_ARGUMENT", "state"),
        ("a bad case id", console.get(&format!("/api/cases/{}", "x".repeat(100))), 400, "INVALID_ARGUMENT", "case_id"),
        ("an unknown photo", console.get(&format!("/api/photos/{}/original", uuid7())), 404, "NOT_FOUND", ""),
        ("an unknown route", console.get("/api/nothing-here"), 404, "NOT_FOUND", ""),
        ("a body over 64 KiB", console.post("/api/assignments", &json!({"title": "x".repeat(70_000)})), 413, "", ""),
    ];
    for (name, request, status, code, field) in cases {
        let (got, body) = send(request).await;
        assert_eq!(got, status, "{name}: {body}");
        if !code.is_empty() {
            assert_eq!(body["code"], code, "{name}: {body}");
            assert!(
                !body["message"].as_str().unwrap_or("").is_empty(),
                "{name}: {body}"
            );
        }
        if !field.is_empty() {
            assert_eq!(body["field"], field, "{name}: {body}");
        }
        // No internal detail leaks.
        let text = body.to_string();
        assert!(
            !text.contains("sqlx") && !text.contains("panicked") && !text.contains("/src/"),
            "{name}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_dispatches_and_watches_assignments_officers_and_evidence() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (status, me) = send(console.get("/api/session")).await;
    assert_eq!((status, me["officer_id"].as_str()), (200, Some("supervisor-01")));

    // A terminal is online and submits a record and a photo.
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut item = record("officer-01");
    item.case_id = "CASE-CONSOLE-1".into();
    terminal.submit_inspection(&item).await.unwrap();
    let jpeg = photos::jpeg(320, 240, 3);
    let photo = PhotoUpload::new(
        &item.id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        jpeg.clone(),
    )
    .in_case("CASE-CONSOLE-1");
    let receipt = terminal.upload_photo(&photo, |_| {}).await.unwrap();

    // Officers with presence and last position.
    let (_, officers) = send(console.get("/api/officers")).await;
    let me = officers["officers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["officer_id"] == "officer-01")
        .unwrap()
        .clone();
    assert_eq!(me["online"], true);
    assert!(me["last_position"]["latitude"].as_f64().is_some(), "{me}");

    // Dispatch; the terminal's feed gets it; the board lists it.
    let body = new_assignment("officer-01");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, result) = send(console.post("/api/assignments", &body)).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["assignment"]["state"], "ASSIGNMENT_STATE_DISPATCHED");
    // A resend of the same request gets the same answer.
    let (_, again) = send(console.post("/api/assignments", &body)).await;
    assert_eq!(again["receipt"]["serverSeq"], result["receipt"]["serverSeq"]);
    assert_eq!(again["receipt"]["replayed"], true);
    let mut feed = terminal.assignments();
    fieldlink_tests::events_until(&mut feed, |e| e.assignment.as_ref().is_some_and(|a| a.id == id)).await;
    terminal.accept_assignment(&id).await.unwrap();
    let (_, list) = send(console.get("/api/assignments?state=ACCEPTED")).await;
    assert!(
        list["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "{list}"
    );
    let (_, one) = send(console.get(&format!("/api/assignments/{id}"))).await;
    let kinds: Vec<&str> = one["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"ASSIGNMENT_EVENT_KIND_CREATED") && kinds.contains(&"ASSIGNMENT_EVENT_KIND_ACCEPTED"),
        "{kinds:?}"
    );

    // Reassign a second one, then cancel it.
    let other = new_assignment("officer-02");
    let other_id = other["id"].as_str().unwrap().to_owned();
    assert_eq!(send(console.post("/api/assignments", &other)).await.0, 200);
    let (status, moved) = send(console.post(
        &format!("/api/assignments/{other_id}/reassign"),
        &json!({"update_id": uuid7(), "team_id": "team-chengnan", "reason": "改派 reassigned"}),
    ))
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["assignment"]["teamId"], "team-chengnan");
    let (status, cancelled) = send(console.post(
        &format!("/api/assignments/{other_id}/cancel"),
        &json!({"update_id": uuid7(), "reason": "撤销 cancelled"}),
    ))
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["assignment"]["state"], "ASSIGNMENT_STATE_CANCELLED");

    // Evidence: the photo with its flags and thumbnail; the item with its receipt.
    let photo_id = photo.evidence_id().to_owned();
    let mut listed = Value::Null;
    for _ in 0..600 {
        let (_, evidence) = send(console.get("/api/evidence?limit=10")).await;
        listed = evidence["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item_id"] == photo_id.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        if listed["photo"]["thumbnail"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed["kind"], "photo", "{listed}");
    assert_eq!(listed["photo"]["thumbnail"], true, "{listed}");
    let (_, one) = send(console.get(&format!("/api/items/{photo_id}"))).await;
    assert_eq!(one["receipt"]["sha256"], hex::encode(&receipt.sha256));
    assert_eq!(one["receipt"]["server_seq"], receipt.server_seq);
    assert_eq!(one["photo"]["sm3"].as_str().unwrap().len(), 64);
    let (_, record_item) = send(console.get(&format!("/api/items/{}", item.id))).await;
    assert_eq!(record_item["body"]["id"], item.id.as_str());

    // The original bytes and the thumbnail.
    let original = console
        .get(&format!("/api/photos/{photo_id}/original"))
        .send()
        .await
        .unwrap();
    assert_eq!(original.headers()["content-type"], "image/jpeg");
    assert_eq!(original.bytes().await.unwrap().as_ref(), &jpeg[..]);
    let thumbnail = console
        .get(&format!("/api/photos/{photo_id}/thumbnail"))
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.status().as_u16(), 200);
    assert_eq!(&thumbnail.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);

    // The case view.
    let (_, case) = send(console.get("/api/cases/CASE-CONSOLE-1")).await;
    assert_eq!(case["items"].as_array().unwrap().len(), 2, "{case}");

    // Health and metrics from loopback, without a session.
    let plain = http();
    assert_eq!(
        plain
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        plain
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let metrics = plain
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("fieldlink_requests_total{kind=\"submit_inspection\",result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("fieldlink_sessions 1"), "{metrics}");
    // The page and the OpenAPI document.
    let answer = plain.get(format!("{base}/")).send().await.unwrap();
    let policy = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = answer.text().await.unwrap();
    assert!(page.contains("综合执法指挥台"));
    // Nothing inline: the policy allows none, and the page has none.
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(
        policy.contains("script-src 'self'") && policy.contains("style-src 'self'"),
        "{policy}"
    );
    assert!(!page.contains("<style"), "inline styles in the page");
    for inline in [
        "<script>",
        " onclick=",
        " onsubmit=",
        " onerror=",
        " onload=",
        " style=",
    ] {
        assert!(!page.contains(inline), "{inline} in the page");
    }
    for (path, kind) in [("/console.js", "text/javascript"), ("/console.css", "text/css")] {
        let asset = plain.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(asset.status().as_u16(), 200, "{path}");
        assert!(
            asset.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        let text = asset.text().await.unwrap();
        for inline in [" onclick=", " onsubmit=", " onerror=", " onload=", " style=\""] {
            assert!(!text.contains(inline), "{inline} in {path}");
        }
    }
    let openapi: Value = serde_json::from_str(
        &plain
            .get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    for (_, path) in routes() {
        let template = path
            .split('?')
            .next()
            .unwrap()
            .split('/')
            .map(|part| {
                if uuid::Uuid::parse_str(part).is_ok() || part == "CASE-1" {
                    "{id}"
                } else if part == "officer-01" {
                    "{officer_id}"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        assert!(
            openapi["paths"][&template].is_object(),
            "{template} is not in the OpenAPI document"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_triages_incidents_and_reviews_completed_work() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let mut ids = Vec::new();
    for (mn, latitude) in [("LB1", 29.87), ("LB2", 29.90)] {
        ids.push(report_alarm(&server, mn, latitude).await);
    }
    let (status, list) = send(console.get("/api/incidents?state=new")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2);
    let (status, body) = send(console.get("/api/incidents?state=open")).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("state")));

    // Bad input: no CSRF token, no reason, an unknown incident.
    let (status, _) = send(
        console
            .http
            .post(format!("{base}/api/incidents/{}/dismiss", ids[1]))
            .header("cookie", &console.cookie)
            .json_body(&json!({"update_id": uuid7(), "reason": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = send(console.post(
        &format!("/api/incidents/{}/dismiss", ids[1]),
        &json!({"update_id": uuid7()}),
    ))
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("reason")), "{body}");
    let (status, _) = send(console.get(&format!("/api/incidents/{}", uuid7()))).await;
    assert_eq!(status, 404);

    let (status, body) = send(console.post(
        &format!("/api/incidents/{}/dismiss", ids[1]),
        &json!({"update_id": uuid7(), "reason": "误报 false alarm"}),
    ))
    .await;
    assert_eq!(
        (status, body["incident"]["state"].as_str()),
        (200, Some("INCIDENT_STATE_DISMISSED")),
        "{body}"
    );

    let assignment_id = uuid7();
    let (status, body) = send(console.post(
        &format!("/api/incidents/{}/dispatch", ids[0]),
        &json!({"assignment_id": assignment_id, "instructions": "核查", "urgent": true}),
    ))
    .await;
    assert_eq!(
        (status, body["incident"]["state"].as_str()),
        (200, Some("INCIDENT_STATE_DISPATCHED")),
        "{body}"
    );
    let (status, _) = send(console.post(
        &format!("/api/incidents/{}/dispatch", ids[0]),
        &json!({"assignment_id": uuid7()}),
    ))
    .await;
    assert_eq!(status, 409, "a dispatched incident is not dispatched twice");

    // The team's officer works it; the supervisor reviews it from the console.
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    officer.accept_assignment(&assignment_id).await.unwrap();
    officer.on_site(&assignment_id).await.unwrap();
    let mut mine = record("officer-01");
    mine.assignment_id = assignment_id.clone();
    officer.submit_inspection(&mine).await.unwrap();
    officer
        .complete_assignment(&assignment_id, std::slice::from_ref(&mine.id))
        .await
        .unwrap();
    let review = format!("/api/assignments/{assignment_id}/review");
    let (status, body) = send(console.post(&review, &json!({"update_id": uuid7(), "approve": false}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("reason")));
    let (status, body) = send(console.post(&review, &json!({"update_id": uuid7(), "approve": true}))).await;
    assert_eq!(
        (status, body["assignment"]["state"].as_str()),
        (200, Some("ASSIGNMENT_STATE_COMPLETED")),
        "{body}"
    );
    let (_, detail) = send(console.get(&format!("/api/incidents/{}", ids[0]))).await;
    assert_eq!(detail["incident"]["state"], "INCIDENT_STATE_CLOSED");
    let (status, _) = send(console.post(&review, &json!({"update_id": uuid7(), "approve": true}))).await;
    assert_eq!(status, 409, "approved work is not reviewed again");
}

/// Reads server-sent events until one named `name` whose data satisfies `until`.
pub(crate) async fn next_sse(
    response: &mut reqwest::Response,
    buffer: &mut String,
    name: &str,
    until: impl Fn(&Value) -> bool,
) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |key: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}:")).map(|v| v.trim().to_owned()))
            };
            if field("event").as_deref() == Some(name) {
                let data: Value = serde_json::from_str(&field("data").unwrap_or_default()).unwrap();
                if until(&data) {
                    return (field("id").unwrap_or_default(), data);
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream is open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_arrive_and_resume_with_last_event_id() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let mut stream = console.get("/api/events").send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();

    // A terminal comes online: presence.
    let terminal = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    next_sse(&mut stream, &mut buffer, "presence", |d| {
        d["online"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x == "officer-02"))
    })
    .await;
    // A dispatch: an assignment event.
    let first = new_assignment("officer-02");
    send(console.post("/api/assignments", &first)).await;
    let (first_id, _) = next_sse(&mut stream, &mut buffer, "assignment", |d| {
        d["assignment"]["id"] == first["id"]
    })
    .await;
    // New evidence from the terminal.
    let item = record("officer-02");
    terminal.submit_inspection(&item).await.unwrap();
    next_sse(&mut stream, &mut buffer, "evidence", |d| {
        d["item_id"] == item.id.as_str()
    })
    .await;
    drop(stream);

    // While the console is away, another dispatch; resuming from the first
    // event's id delivers it (and not the first again).
    let second = new_assignment("officer-02");
    send(console.post("/api/assignments", &second)).await;
    let mut resumed = console
        .get("/api/events")
        .header("last-event-id", &first_id)
        .send()
        .await
        .unwrap();
    let mut buffer = String::new();
    let (_, event) = next_sse(&mut resumed, &mut buffer, "assignment", |_| true).await;
    assert_eq!(
        event["assignment"]["id"], second["id"],
        "the first event after the resume point"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_over_https_with_the_server_certificate() {
    let server = TestServer::start_with(|config| config.https = Some("127.0.0.1:0".parse().unwrap())).await;
    let addr = server
        .server
        .console_https_addr()
        .expect("the HTTPS console listens");
    assert!(server.server.console_addr().is_none());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(fieldlink_tests::certs_dir().join("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let response = client
        .post(format!("{base}/api/session"))
        .json_body(&json!({ "officer_id": "supervisor-01", "password": fieldlink_tests::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("综合执法指挥台"));
    // Plain HTTP on that port is not served.
    let plain = http().get(format!("http://{addr}/")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

/// Looking at evidence in the console is part of its chain of custody: a
/// view of an item and a download of an original are custody events (with
/// who and from where) that the item's view lists; the case export button
/// sends a package that verifies offline; the alerts route reports what the
/// evidence scrub found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewing_and_downloading_evidence_is_logged_custody_and_a_case_exports_from_the_console() {
    let (server, base) = start().await;
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut item = record("officer-01");
    item.case_id = "CASE-CONSOLE-9".into();
    officer.submit_inspection(&item).await.unwrap();
    let (photo, jpeg) = fieldlink_tests::photo_for(&item.id, 4);
    let receipt = officer.upload_photo(&photo, |_| {}).await.unwrap();
    officer.close().await;

    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (status, first) = send(console.get(&format!("/api/items/{}", receipt.item_id))).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["device_signed"], true);
    let custody = first["custody"].as_array().unwrap();
    assert_eq!(custody.len(), 1, "{first}");
    assert_eq!(custody[0]["action"], "view_item");
    assert_eq!(custody[0]["actor"], "supervisor-01");
    assert_eq!(custody[0]["origin"], "console 127.0.0.1");
    let original = console
        .get(&format!("/api/photos/{}/original", receipt.item_id))
        .send()
        .await
        .unwrap();
    assert_eq!(original.status().as_u16(), 200);
    assert_eq!(original.bytes().await.unwrap().as_ref(), jpeg.as_slice());
    let (_, again) = send(console.get(&format!("/api/items/{}", receipt.item_id))).await;
    let actions: Vec<&str> = again["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["view_item", "download_original", "view_item"]);
    // Each event is a leaf of the log.
    let leaves: Vec<u64> = again["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["leaf_index"].as_u64().unwrap())
        .collect();
    assert!(leaves.windows(2).all(|w| w[0] < w[1]), "{leaves:?}");

    // The export button: a package that verifies, listing both items.
    let package = console
        .post("/api/cases/CASE-CONSOLE-9/export", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(package.status().as_u16(), 200);
    assert_eq!(
        package.headers()["content-type"].to_str().unwrap(),
        "application/x-tar"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.tar");
    std::fs::write(&file, package.bytes().await.unwrap()).unwrap();
    let log_key = std::fs::read_to_string(fieldlink_tests::certs_dir().join("log.pub")).unwrap();
    let verified = fieldlink_client::evidence_export::verify_package(
        &file,
        &fieldlink_client::evidence_export::Trust {
            log_key: Some(&log_key),
            witness_keys: &[],
            ca_pem: None,
        },
    )
    .unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!((verified.items, verified.device_signed), (2, 2));
    // Nothing left behind on the server.
    let exports = server.data_dir.path().join("exports");
    assert_eq!(std::fs::read_dir(&exports).unwrap().count(), 0);
    // Without the CSRF token, and for a case with nothing stored: refused.
    let forged = console
        .http
        .post(format!("{base}/api/cases/CASE-CONSOLE-9/export"))
        .header("cookie", &console.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let (status, body) = send(console.post("/api/cases/CASE-NOTHING/export", &json!({}))).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );

    // The alerts the page shows as a banner.
    let (status, alerts) = send(console.get("/api/alerts")).await;
    assert_eq!(status, 200);
    assert_eq!(alerts["evidence_problems"], 0);
    server
        .server
        .state()
        .metrics
        .evidence_problems
        .store(2, std::sync::atomic::Ordering::Relaxed);
    let (_, alerts) = send(console.get("/api/alerts")).await;
    assert_eq!(alerts["evidence_problems"], 2);
}

/// Password checks are bounded across the server: while every permit is
/// taken, a sign-in on the console and on a terminal is refused at once as
/// RATE_LIMITED (retryable), instead of queueing argon2 work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_are_refused_while_every_password_check_is_busy() {
    let (server, base) = start().await;
    let held = server.server.state().password_checks.hold_all().await.unwrap();
    let busy = sign_in(&base, "supervisor-01")
        .await
        .err()
        .expect("refused while busy");
    assert_eq!(
        (busy.0, busy.1["reason"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{busy:?}"
    );
    assert_eq!(busy.1["retryable"], true);
    match connect(server.addr(), "device-001", "officer-01").await {
        Err(error) => {
            let status = error.status().expect("a typed refusal");
            assert_eq!(status.reason, "RATE_LIMITED", "{status:?}");
            assert!(status.message.contains("checking passwords"), "{status:?}");
            assert!(error.is_retryable());
        }
        Ok(_) => panic!("signed in while every password check was busy"),
    }
    drop(held);
    sign_in(&base, "supervisor-01")
        .await
        .expect("signed in once the checks are free");
}

/// Slow clients cannot hold the console: a connection that does not send its
/// headers in time is closed, and beyond `console_connections_max` a new
/// connection is closed on accept; once the slow ones are gone the console
/// answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|config| {
        config.http = Some("127.0.0.1:0".parse().unwrap());
        config.console_connections_max = 4;
        config.console_header_timeout_ms = 5_000;
    })
    .await;
    let addr = server.server.console_addr().expect("the console listens");
    // Four clients that start a request and never finish its headers.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // A fifth is closed at once: it reads the end of the stream.
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), fifth.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the fifth connection was held");
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "the fifth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    // The slow ones are closed by the header timeout.
    for mut stream in slow {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a slow client was never cut off");
    }
    // And the console answers again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let healthy = http()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false);
        if healthy {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the console stayed full");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_locks_the_account_on_both_sign_in_paths() {
    let (server, base) = start().await;
    let http = http();
    let attempt = |password: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            send(
                http.post(format!("{base}/api/session"))
                    .json_body(&json!({"officer_id": "supervisor-01", "password": password})),
            )
            .await
        }
    };
    // Four wrong guesses are only wrong; the fifth locks the account.
    for _ in 0..5 {
        assert_eq!(attempt("guess").await.0, 401);
    }
    // Locked: the right password gets the same refusal as a wrong one,
    // before any password is checked, with when to try again.
    let right = attempt(fieldlink_tests::PASSWORD).await;
    let wrong = attempt("guess").await;
    assert_eq!(right.0, 429, "{}", right.1);
    assert_eq!(right.1["reason"], "RATE_LIMITED");
    assert!(right.1["retry_after_ms"].as_u64().unwrap_or(0) > 0, "{}", right.1);
    assert_eq!((right.0, &right.1["reason"]), (wrong.0, &wrong.1["reason"]));
    // The same account is locked from a terminal too; other accounts are not.
    match fieldlink_tests::connect(server.addr(), "device-003", "supervisor-01").await {
        Err(fieldlink_client::Error::SignInRefused(status) | fieldlink_client::Error::Rejected(status)) => {
            assert_eq!(
                status.code_or_unknown(),
                fieldlink_protocol::pb::Code::ResourceExhausted
            );
            assert!(status.retryable);
        }
        Err(other) => panic!("expected a lockout, got {other:?}"),
        Ok(_) => panic!("a locked account signed in"),
    }
    connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let metrics = &server.server.state().metrics;
    assert!(
        metrics
            .sign_in_lockouts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

/// The board's queries: filters by team, officer and state return exactly
/// the matching assignments, newest first, and paging with `after` walks
/// each result with nothing repeated or missed (both databases in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_filters_and_pages_return_exactly_the_right_rows() {
    let (_server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (_, people) = send(console.get("/api/officers")).await;
    let team_of: std::collections::HashMap<String, String> = people["officers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["officer_id"].as_str().unwrap().to_owned(),
                o["team_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // (id, officer, team), in creation order.
    type Made<'a> = (String, Option<&'a str>, Option<&'a str>);
    let mut made: Vec<Made> = Vec::new();
    for officer in [
        "officer-01",
        "officer-02",
        "officer-03",
        "officer-01",
        "officer-02",
        "officer-03",
    ] {
        let body = new_assignment(officer);
        let (status, created) = send(console.post("/api/assignments", &body)).await;
        assert_eq!(status, 200, "{created}");
        made.push((body["id"].as_str().unwrap().to_owned(), Some(officer), None));
    }
    for team in ["team-chengnan", "team-chengbei", "team-chengbei"] {
        let mut body = new_assignment("unused");
        body.as_object_mut().unwrap().remove("officerId");
        body["teamId"] = json!(team);
        let (status, created) = send(console.post("/api/assignments", &body)).await;
        assert_eq!(status, 200, "{created}");
        made.push((body["id"].as_str().unwrap().to_owned(), None, Some(team)));
    }
    let cancelled = made[0].0.clone();
    let (status, body) = send(console.post(
        &format!("/api/assignments/{cancelled}/cancel"),
        &json!({"update_id": uuid7(), "reason": "重复 duplicate"}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");

    let newest_first = |keep: &dyn Fn(&Made) -> bool| -> Vec<String> {
        made.iter()
            .rev()
            .filter(|m| keep(m))
            .map(|m| m.0.clone())
            .collect()
    };
    let in_team = |team: &str, m: &Made| {
        m.2 == Some(team)
            || m.1
                .is_some_and(|o| team_of.get(o).map(String::as_str) == Some(team))
    };
    // When each was created, as the server stamped it: the date range's cases.
    let (_, everything) = send(console.get("/api/assignments?limit=500")).await;
    let created: std::collections::HashMap<String, i64> = everything["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["createdAtMs"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let from = created[&made[2].0];
    let before = created[&made[7].0].max(from + 1);
    let in_range = |m: &Made| (from..before).contains(&created[&m.0]);
    let cases: Vec<(String, Vec<String>)> = vec![
        ("".into(), newest_first(&|_| true)),
        (
            format!("created_from={from}&created_before={before}"),
            newest_first(&|m| in_range(m)),
        ),
        (
            format!("created_from={from}"),
            newest_first(&|m| created[&m.0] >= from),
        ),
        (
            format!("created_before={before}&officer=officer-01"),
            newest_first(&|m| created[&m.0] < before && m.1 == Some("officer-01")),
        ),
        (
            "officer=officer-02".into(),
            newest_first(&|m| m.1 == Some("officer-02")),
        ),
        (
            "team=team-chengbei".into(),
            newest_first(&|m| in_team("team-chengbei", m)),
        ),
        (
            "team=team-chengnan".into(),
            newest_first(&|m| in_team("team-chengnan", m)),
        ),
        ("state=CANCELLED".into(), vec![cancelled.clone()]),
        ("state=DISPATCHED".into(), newest_first(&|m| m.0 != cancelled)),
        (
            "state=DISPATCHED&team=team-chengnan".into(),
            newest_first(&|m| m.0 != cancelled && in_team("team-chengnan", m)),
        ),
    ];
    for (query, expected) in cases {
        let (status, all) = send(console.get(&format!("/api/assignments?limit=500&{query}"))).await;
        assert_eq!(status, 200, "{query}: {all}");
        let ids = |page: &Value| -> Vec<String> {
            page["assignments"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|a| a["id"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(ids(&all), expected, "{query}");
        // Two at a time, after the previous page's last.
        let mut walked = Vec::new();
        let mut after = String::new();
        for _ in 0..20 {
            let (status, page) =
                send(console.get(&format!("/api/assignments?limit=2&after={after}&{query}"))).await;
            assert_eq!(status, 200, "{query}: {page}");
            walked.extend(ids(&page));
            after = page["nextAfter"].as_str().unwrap_or("").to_owned();
            if after.is_empty() {
                break;
            }
        }
        assert_eq!(walked, expected, "{query}, paged");
    }
    // An empty or negative range is a typed refusal.
    for query in [
        format!("created_from={before}&created_before={from}"),
        "created_from=-5".to_owned(),
        "created_before=soon".to_owned(),
    ] {
        let (status, refusal) = send(console.get(&format!("/api/assignments?{query}"))).await;
        assert_eq!(status, 400, "{query}: {refusal}");
        assert_eq!(refusal["reason"], "INVALID_FIELD", "{query}");
    }
}

/// The dispatch form's matter picker reads the catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_served_for_the_matter_picker() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (status, body) = send(console.get("/api/matters")).await;
    assert_eq!(status, 200, "{body}");
    let matters = body["matters"].as_array().unwrap();
    assert_eq!(matters.len(), server.server.state().catalogue.get().len());
    let zj = matters
        .iter()
        .find(|m| m["code"] == "ZJ-001")
        .expect("ZJ-001 is catalogued");
    let expected = server
        .server
        .state()
        .catalogue
        .get()
        .matter("ZJ-001")
        .unwrap()
        .clone();
    assert_eq!(zj["name"], expected.name.as_str());
    assert_eq!(zj["domain"], expected.domain.as_str());
    assert_eq!(zj["enforcement_measure"], expected.enforcement_measure);
}
