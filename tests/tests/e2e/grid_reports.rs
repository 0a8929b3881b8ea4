//! Grid workers (网格员, docs/intake.md): a grid worker signs in from a
//! terminal like an officer, reports what they saw with a photo, and the
//! report becomes an incident the supervisor dispatches to a team. Grid
//! workers can do nothing else; officers cannot make grid reports; bad
//! reports are refused with the field and store nothing.

use fieldlink_client::{Error, PhotoUpload};
use fieldlink_protocol::pb::{self, Code, IncidentState};
use fieldlink_tests::{connect, photos, record, TestServer};

fn refusal(error: Error) -> pb::Status {
    match error {
        Error::Rejected(status) => *status,
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

fn report() -> pb::GridReport {
    pb::GridReport {
        id: uuid::Uuid::now_v7().to_string(),
        category: "illegal_dumping".into(),
        place: Some(pb::Place {
            latitude: 29.8712,
            longitude: 121.5523,
            address: "人民路 30 号东侧绿化带".into(),
            accuracy_m: 8.0,
        }),
        description: "绿化带内倾倒建筑垃圾约 2 立方米 About 2 m³ of construction waste dumped in the verge"
            .into(),
        observed_at_ms: fieldlink_client::now_ms() - 120_000,
        photo_ids: Vec::new(),
        matter_code: "SR-002".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_report_becomes_an_incident_and_grid_workers_do_nothing_else() {
    let server = TestServer::start().await;
    let grid = connect(server.addr(), "device-002", "grid-01").await.unwrap();
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let welcome = grid.welcome().await.expect("signed in");
    assert_eq!(welcome.officer.unwrap().role, pb::Role::GridWorker as i32);

    // The report, then its photo.
    let mut seen = report();
    let photo_bytes = photos::jpeg(640, 480, 21);
    let photo_id = uuid::Uuid::now_v7().to_string();
    let photo = PhotoUpload::with_id(
        &photo_id,
        &seen.id,
        "image/jpeg",
        seen.observed_at_ms,
        photo_bytes,
    );
    seen.photo_ids = vec![photo_id];
    let receipt = grid.submit_grid_report(&seen).await.unwrap();
    assert!(!receipt.replayed);
    grid.upload_photo(&photo, |_| {}).await.unwrap();
    let again = grid.submit_grid_report(&seen).await.unwrap();
    assert!(again.replayed, "a resend gets the original receipt");

    let list = supervisor
        .list_incidents(&pb::ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(list.incidents.len(), 1);
    let incident = &list.incidents[0];
    // The place lies in the demo zone 城南: its team is responsible.
    assert_eq!(
        (incident.category.as_str(), incident.team_id.as_str()),
        ("illegal_dumping", "team-chengnan")
    );
    let detail = supervisor.incident(&incident.id).await.unwrap();
    let source = detail.events[0].source.clone().unwrap();
    assert_eq!(
        (source.kind.as_str(), source.source_id.as_str()),
        ("grid_report", "grid-01")
    );
    assert_eq!(source.item_id, seen.id);
    assert_eq!(detail.events[0].by, "grid-01");
    let dispatched = supervisor
        .dispatch_incident(&pb::DispatchIncident {
            incident_id: incident.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        dispatched.incident.unwrap().state,
        IncidentState::Dispatched as i32
    );

    // Outside every zone, no team is known: the supervisor must choose one.
    let mut far = report();
    far.place = Some(pb::Place {
        latitude: 30.5,
        longitude: 120.0,
        address: "镇外 outside the town".into(),
        accuracy_m: 0.0,
    });
    grid.submit_grid_report(&far).await.unwrap();
    let new = supervisor
        .list_incidents(&pb::ListIncidents {
            state: IncidentState::New as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(new.incidents.len(), 1);
    assert_eq!(new.incidents[0].team_id, "");
    let status = refusal(
        supervisor
            .dispatch_incident(&pb::DispatchIncident {
                incident_id: new.incidents[0].id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::InvalidArgument, "team_id")
    );

    // Grid workers report; they do not inspect, triage or work assignments.
    let items = server.item_count().await;
    let status = refusal(grid.submit_inspection(&record("grid-01")).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
    let status = refusal(
        grid.list_incidents(&pb::ListIncidents::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
    let status = refusal(grid.list_assignments(&Default::default()).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
    // Officers inspect; grid reports are not theirs to make.
    let status = refusal(officer.submit_grid_report(&report()).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);

    // Bad reports name the field.
    let mut cases: Vec<(&str, pb::GridReport)> = Vec::new();
    let mut bad = report();
    bad.category = "Illegal Dumping".into();
    cases.push(("category", bad));
    let mut bad = report();
    bad.description = " ".into();
    cases.push(("description", bad));
    let mut bad = report();
    bad.place = None;
    cases.push(("place", bad));
    let mut bad = report();
    bad.observed_at_ms = fieldlink_client::now_ms() + 3_600_000;
    cases.push(("observed_at_ms", bad));
    let mut bad = report();
    bad.photo_ids = vec!["not-a-uuid".into()];
    cases.push(("photo_ids[0]", bad));
    let mut bad = report();
    bad.matter_code = "XX-999".into();
    cases.push(("matter_code", bad));
    let mut bad = report();
    bad.id = "1".into();
    cases.push(("id", bad));
    for (field, bad) in cases {
        let status = refusal(grid.submit_grid_report(&bad).await.unwrap_err());
        assert_eq!(
            (status.code_or_unknown(), status.field.as_str()),
            (Code::InvalidArgument, field),
            "{status:?}"
        );
    }
    assert_eq!(server.item_count().await, items, "nothing refused is stored");
    let all = supervisor
        .list_incidents(&pb::ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(all.incidents.len(), 2);
}
