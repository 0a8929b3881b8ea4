//! The console as a supervisor reads evidence and cases: a flagged photo's
//! detail explains its facts and takes a review (an append-only custody
//! event, never a change to the item), the case list finds a case by id,
//! party or team, and the case file shows every item's content.

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{connect, photos, record};
use serde_json::{json, Value};
use sha2::Digest;

use crate::console::{new_assignment, send, sign_in, start, uuid7, JsonBody};

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_photo_is_reviewed_in_an_appended_custody_event() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut item = record("officer-01");
    item.case_id = "CASE-REVIEW-1".into();
    terminal.submit_inspection(&item).await.unwrap();
    // No EXIF at all: flagged for review.
    let jpeg = photos::jpeg(320, 240, 7);
    let photo = PhotoUpload::new(
        &item.id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        jpeg.clone(),
    )
    .in_case("CASE-REVIEW-1");
    let receipt = terminal.upload_photo(&photo, |_| {}).await.unwrap();
    terminal.close().await;
    let photo_id = receipt.item_id.clone();

    // The item: both digests of the file, the facts, its flags all pending.
    let (status, one) = send(console.get(&format!("/api/items/{photo_id}"))).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["receipt"]["sha256"], hex::encode(sha2::Sha256::digest(&jpeg)));
    assert_eq!(one["receipt"]["sm3"], hex::encode(sm3::Sm3::digest(&jpeg)));
    let flags = strings(&one["photo"]["flags"]);
    assert!(
        flags.contains(&"EVIDENCE_FLAG_EXIF_UNREADABLE".to_owned()),
        "{one}"
    );
    assert_eq!(strings(&one["photo"]["pending_flags"]), flags);
    assert_eq!(one["photo"]["reviews"], json!([]));
    assert!(one["photo"]["captured_at_ms"].as_i64().unwrap() > 0);
    assert!(one["photo"]["position"].is_null() || one["photo"]["position"]["latitude"].is_f64());
    let (_, feed) = send(console.get("/api/evidence?limit=10")).await;
    let listed = |feed: &Value| -> Value {
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item_id"] == photo_id.as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(strings(&listed(&feed)["photo"]["pending_flags"]), flags);

    // Refusals leave nothing behind.
    let path = format!("/api/items/{photo_id}/flag-reviews");
    let review = |flag: &str, note: &str| json!({"review_id": uuid7(), "flag": flag, "note": note});
    let flag = flags[0].as_str();
    let view_event = one["custody"][0]["event_id"].as_str().unwrap().to_owned();
    let refusals = [
        (review(flag, "   "), 400, "INVALID_FIELD", "note"),
        (review(flag, &"长".repeat(170)), 400, "INVALID_FIELD", "note"),
        (
            review("EVIDENCE_FLAG_TRAILING_BYTES", "看过"),
            400,
            "INVALID_FIELD",
            "flag",
        ),
        (review("not a flag", "看过"), 400, "INVALID_FIELD", "flag"),
        (
            json!({"review_id": "not-a-uuid", "flag": flag, "note": "看过"}),
            400,
            "INVALID_FIELD",
            "review_id",
        ),
        (json!({"flag": flag}), 400, "INVALID_FIELD", "body"),
        // The id of the view's custody event is not a new review's.
        (
            json!({"review_id": view_event, "flag": flag, "note": "看过"}),
            409,
            "ID_CONFLICT",
            "",
        ),
    ];
    for (body, want_status, want_reason, want_field) in refusals {
        let (status, refusal) = send(console.post(&path, &body)).await;
        assert_eq!(
            (
                status,
                refusal["reason"].as_str(),
                refusal["field"].as_str().unwrap_or("")
            ),
            (want_status, Some(want_reason), want_field),
            "{body}: {refusal}"
        );
    }
    let (status, refusal) = send(console.post(
        &format!("/api/items/{}/flag-reviews", uuid7()),
        &review(flag, "看过"),
    ))
    .await;
    assert_eq!(
        (status, refusal["reason"].as_str()),
        (404, Some("NOT_FOUND")),
        "{refusal}"
    );
    let forged = console
        .http
        .post(format!("{base}{path}"))
        .header("cookie", &console.cookie)
        .json_body(&review(flag, "看过"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let (_, unchanged) = send(console.get(&format!("/api/items/{photo_id}"))).await;
    assert_eq!(unchanged["photo"]["reviews"], json!([]), "{unchanged}");

    // A review of each flag; the first sent twice (a retry) counts once.
    let first = review(flag, "现场照片为执法记录仪截图，无 EXIF 属正常。");
    let (status, answer) = send(console.post(&path, &first)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!strings(&answer["pending_flags"]).contains(&flag.to_owned()));
    let (status, retried) = send(console.post(&path, &first)).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["reviews"].as_array().unwrap().len(), 1, "{retried}");
    for other in &flags[1..] {
        let (status, answer) = send(console.post(&path, &review(other, "已核实"))).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (_, after) = send(console.get(&format!("/api/items/{photo_id}"))).await;
    assert_eq!(after["photo"]["pending_flags"], json!([]), "{after}");
    // The item is as it was: the same flags, receipt and digests.
    assert_eq!(strings(&after["photo"]["flags"]), flags);
    assert_eq!(after["receipt"], one["receipt"]);
    let reviews = after["photo"]["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), flags.len());
    assert_eq!(reviews[0]["review_id"], first["review_id"]);
    assert_eq!(reviews[0]["actor"], "supervisor-01");
    assert_eq!(reviews[0]["note"], first["note"]);
    // Each review is in the chain of custody, as a leaf of the log.
    let custody = after["custody"].as_array().unwrap();
    let logged: Vec<&Value> = custody.iter().filter(|c| c["action"] == "review_flag").collect();
    assert_eq!(logged.len(), flags.len(), "{after}");
    assert_eq!(logged[0]["flag"], flag);
    assert_eq!(logged[0]["leaf_index"], reviews[0]["leaf_index"]);
    let (_, feed) = send(console.get("/api/evidence?limit=10")).await;
    assert_eq!(listed(&feed)["photo"]["pending_flags"], json!([]));
    // Append-only in the database too.
    let storage = server.server.state().storage.clone();
    let stored = storage
        .item_custody(uuid::Uuid::parse_str(&photo_id).unwrap(), Some("review_flag"), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), flags.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_are_found_by_id_party_and_team_and_read_as_their_file() {
    let (server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (_, dispatched) = send(console.post("/api/assignments", &new_assignment("officer-01"))).await;
    let assignment_id = dispatched["assignment"]["id"].as_str().unwrap().to_owned();
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut item = record("officer-01");
    item.case_id = "ZF-2026-0042".into();
    item.assignment_id = assignment_id.clone();
    let party = item.subject.as_ref().unwrap().name.clone();
    terminal.submit_inspection(&item).await.unwrap();
    let jpeg = photos::jpeg(320, 240, 9);
    let photo = PhotoUpload::new(&item.id, "image/jpeg", fieldlink_client::now_ms() - 60_000, jpeg)
        .in_case("ZF-2026-0042");
    let receipt = terminal.upload_photo(&photo, |_| {}).await.unwrap();
    // A second, later case by the same officer, without a party.
    let mut other = record("officer-01");
    other.case_id = "ZF-2026-0043".into();
    other.subject.as_mut().unwrap().name = "城北餐饮店".into();
    terminal.submit_inspection(&other).await.unwrap();
    terminal.close().await;

    let (_, people) = send(console.get("/api/officers")).await;
    let team = people["officers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["officer_id"] == "officer-01")
        .unwrap()["team_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_team = people["officers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["team_id"].as_str())
        .find(|t| *t != team)
        .unwrap()
        .to_owned();
    let ids = |page: &Value| -> Vec<String> {
        page["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = send(console.get("/api/cases")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), ["ZF-2026-0043", "ZF-2026-0042"]);
    let first = &all["cases"][1];
    assert_eq!(first["subject"], party.as_str());
    assert_eq!(first["items"], 2);
    assert_eq!(first["officers"], json!(["officer-01"]));
    for (query, expected) in [
        ("q=zf-2026-0042", vec!["ZF-2026-0042"]),
        ("q=0042", vec!["ZF-2026-0042"]),
        (&format!("q={}", &party[..6]) as &str, vec!["ZF-2026-0042"]),
        ("q=城北餐饮", vec!["ZF-2026-0043"]),
        ("q=nothing-like-it", vec![]),
        (&format!("team={team}"), vec!["ZF-2026-0043", "ZF-2026-0042"]),
        (&format!("team={other_team}"), vec![]),
        ("limit=1", vec!["ZF-2026-0043"]),
    ] {
        let (status, page) = send(console.get(&format!("/api/cases?{query}"))).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    // Paging walks on from next_before.
    let (_, page) = send(console.get("/api/cases?limit=1")).await;
    let next = page["next_before"].as_u64().unwrap();
    let (_, rest) = send(console.get(&format!("/api/cases?limit=1&before={next}"))).await;
    assert_eq!(ids(&rest), ["ZF-2026-0042"]);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("team=no-such-team", "team"),
        (&format!("q={}", "x".repeat(101)) as &str, "q"),
        ("before=soon", "before"),
        ("before=9223372036854775808", "before"),
    ] {
        let (status, refusal) = send(console.get(&format!("/api/cases?{query}"))).await;
        assert_eq!(status, 400, "{query}: {refusal}");
        assert_eq!(refusal["reason"], "INVALID_FIELD", "{query}");
        if query != "before=soon" {
            assert_eq!(refusal["field"], field, "{query}");
        }
    }

    // The file: both items in time order with their content, the photo's
    // facts, and the assignment the record answers.
    let (status, file) = send(console.get("/api/cases/ZF-2026-0042/file")).await;
    assert_eq!(status, 200, "{file}");
    let items = file["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["inspection", "photo"], "{file}");
    assert_eq!(items[0]["body"]["subject"]["name"], party.as_str());
    assert_eq!(items[0]["body"]["findings"], item.findings.as_str());
    assert_eq!(items[1]["item_id"], receipt.item_id.as_str());
    assert_eq!(items[1]["photo"]["content_type"], "image/jpeg");
    assert!(!strings(&items[1]["photo"]["flags"]).is_empty(), "{file}");
    assert_eq!(file["assignments"][0]["id"], assignment_id.as_str());
    assert_eq!(file["more"], false);
    // Reading the file is one custody event naming both items.
    let (_, record_view) = send(console.get(&format!("/api/items/{}", item.id))).await;
    let actions: Vec<&str> = record_view["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["view_item", "view_item"], "{record_view}");
    let (_, photo_view) = send(console.get(&format!("/api/items/{}", receipt.item_id))).await;
    assert_eq!(
        photo_view["custody"][0]["event_id"], record_view["custody"][0]["event_id"],
        "the file's one event names both"
    );
    // A malformed case id is refused; an unknown one is an empty file.
    let (status, refusal) = send(console.get("/api/cases/%20/file")).await;
    assert_eq!(
        (status, refusal["reason"].as_str()),
        (400, Some("INVALID_FIELD")),
        "{refusal}"
    );
    let (status, empty) = send(console.get("/api/cases/ZF-NONE/file")).await;
    assert_eq!((status, empty["items"].clone()), (200, json!([])), "{empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_layer_is_configured_and_its_origin_alone_is_allowed_for_images() {
    let (_server, base) = start().await;
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (status, map) = send(console.get("/api/map")).await;
    assert_eq!(status, 200);
    assert_eq!(map, json!({"tile_url": null, "attribution": null}));
    let page = console.get("/").send().await.unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("img-src 'self' data:;"), "{policy}");

    let tiles = "https://tiles.example.gov.cn/map/{z}/{x}/{y}.png";
    let server = fieldlink_tests::TestServer::start_with(|config| {
        config.http = Some("127.0.0.1:0".parse().unwrap());
        config.console_map_tiles = Some(tiles.into());
        config.console_map_attribution = Some("© 宁波市天地图".into());
    })
    .await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let console = sign_in(&base, "supervisor-01").await.unwrap();
    let (_, map) = send(console.get("/api/map")).await;
    assert_eq!(map, json!({"tile_url": tiles, "attribution": "© 宁波市天地图"}));
    let page = console.get("/").send().await.unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("img-src 'self' data: https://tiles.example.gov.cn;"),
        "{policy}"
    );
    assert!(policy.contains("script-src 'self';"), "{policy}");
    // A template that would open the policy is refused at start.
    let config = fieldlink_server::config::Config {
        console_map_tiles: Some("https://t.example/{z}/{x}/{y}.png; script-src *".into()),
        ..Default::default()
    };
    let refused = config.check().unwrap_err().to_string();
    assert!(refused.contains("console_map_tiles"), "{refused}");
}
