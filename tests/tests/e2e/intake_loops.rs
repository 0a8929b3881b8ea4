//! The loop from the other two sources (docs/intake.md): a grid worker's
//! report and a camera's signed alert each become an incident that is
//! dispatched, worked, returned once, completed again, approved and closed;
//! the grid worker's feed carries the approval and their report list the
//! outcome. A supervisor splits an incident whose reports are about two
//! things; a dismissal reaches the reporter with its reason.

use fieldlink_client::{Client, Error};
use fieldlink_protocol::pb::{
    self, AssignmentEventKind as Kind, AssignmentState as State, Code, IncidentEventKind, IncidentState,
};
use fieldlink_server::intake::alert_sources::{DEMO_SECRET, DEMO_SOURCE};
use fieldlink_tests::{connect, events_until, record, TestServer};

use crate::camera_alerts::{alert, post};

fn refusal(error: Error) -> pb::Status {
    match error {
        Error::Rejected(status) => *status,
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

/// A grid report of `category` at a place in the demo zone 城南.
fn grid_report(category: &str, longitude: f64) -> pb::GridReport {
    pb::GridReport {
        id: uuid::Uuid::now_v7().to_string(),
        category: category.into(),
        place: Some(pb::Place {
            latitude: 29.8712,
            longitude,
            address: "人民路 30 号 30 Renmin Road".into(),
            accuracy_m: 8.0,
        }),
        description: "门前堆放杂物 Goods piled outside the shop".into(),
        observed_at_ms: fieldlink_client::now_ms() - 60_000,
        photo_ids: Vec::new(),
        matter_code: String::new(),
    }
}

/// Dispatches the incident to its team; officer-01 works it, the review
/// returns it once, the officer completes it again, the review approves it.
/// Returns the assignment id.
async fn work_round_the_loop(supervisor: &Client, officer: &Client, incident_id: &str) -> String {
    let mut feed = officer.assignments();
    let detail = supervisor
        .dispatch_incident(&pb::DispatchIncident {
            incident_id: incident_id.to_owned(),
            matter_code: "ZJ-001".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let a_id = detail.incident.unwrap().assignment_id;
    events_until(&mut feed, |e| {
        e.kind == Kind::Created as i32 && e.assignment.as_ref().is_some_and(|a| a.id == a_id)
    })
    .await;
    officer.accept_assignment(&a_id).await.unwrap();
    officer.on_site(&a_id).await.unwrap();
    let mut mine = record("officer-01");
    mine.assignment_id = a_id.clone();
    officer.submit_inspection(&mine).await.unwrap();
    let done = officer
        .complete_assignment(&a_id, std::slice::from_ref(&mine.id))
        .await
        .unwrap();
    assert_eq!(done.assignment.unwrap().state, State::PendingReview as i32);
    supervisor
        .review_assignment(&a_id, false, "缺少整改后照片 After photo missing")
        .await
        .unwrap();
    events_until(&mut feed, |e| {
        e.kind == Kind::Returned as i32 && e.assignment.as_ref().is_some_and(|a| a.id == a_id)
    })
    .await;
    let state = supervisor
        .incident(incident_id)
        .await
        .unwrap()
        .incident
        .unwrap()
        .state;
    assert_eq!(
        state,
        IncidentState::Dispatched as i32,
        "returned work is in hand again"
    );
    officer
        .complete_assignment(&a_id, std::slice::from_ref(&mine.id))
        .await
        .unwrap();
    let approved = supervisor.review_assignment(&a_id, true, "").await.unwrap();
    assert_eq!(approved.assignment.unwrap().state, State::Completed as i32);
    a_id
}

/// The incident's history as event kinds.
async fn kinds(supervisor: &Client, incident_id: &str) -> Vec<i32> {
    let detail = supervisor.incident(incident_id).await.unwrap();
    assert_eq!(detail.incident.unwrap().state, IncidentState::Closed as i32);
    detail.events.iter().map(|e| e.kind).collect()
}

const WORKED: [IncidentEventKind; 5] = [
    IncidentEventKind::Dispatched,
    IncidentEventKind::PendingReview,
    IncidentEventKind::Returned,
    IncidentEventKind::PendingReview,
    IncidentEventKind::Closed,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_report_goes_round_the_loop_and_its_reporter_hears_the_outcome() {
    let server = TestServer::start().await;
    let grid = connect(server.addr(), "device-002", "grid-01").await.unwrap();
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let mut reporter_feed = grid.assignments();

    let report = grid_report("street_vending", 121.5523);
    grid.submit_grid_report(&report).await.unwrap();
    let mine = grid.my_reports(&Default::default()).await.unwrap();
    assert_eq!(mine.reports.len(), 1);
    let outcome = &mine.reports[0];
    assert_eq!(
        (outcome.report_id.as_str(), outcome.state),
        (report.id.as_str(), IncidentState::New as i32)
    );
    let incident_id = outcome.incident_id.clone();

    let a_id = work_round_the_loop(&supervisor, &officer, &incident_id).await;
    let mut expected = vec![IncidentEventKind::Opened as i32];
    expected.extend(WORKED.map(|k| k as i32));
    assert_eq!(kinds(&supervisor, &incident_id).await, expected);

    // The approval reaches the reporter's feed; their list says CLOSED.
    let told = events_until(&mut reporter_feed, |e| {
        e.kind == Kind::Approved as i32 && e.assignment.as_ref().is_some_and(|a| a.id == a_id)
    })
    .await
    .pop()
    .unwrap();
    assert_eq!(told.assignment.unwrap().incident_id, incident_id);
    let mine = grid.my_reports(&Default::default()).await.unwrap();
    assert_eq!(mine.reports[0].state, IncidentState::Closed as i32);
    assert!(mine.reports[0].updated_at_ms > 0);

    // Only grid workers have reports.
    let status = refusal(officer.my_reports(&Default::default()).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_alert_goes_round_the_loop() {
    let server = TestServer::start_with(|config| config.http = Some("127.0.0.1:0".parse().unwrap())).await;
    let base = format!("http://{}", server.server.console_addr().unwrap());
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let body = serde_json::to_vec(&alert("evt-loop-1", 29.8700)).unwrap();
    let (status, receipt) = post(&base, DEMO_SOURCE, DEMO_SECRET, fieldlink_client::now_ms(), &body).await;
    assert_eq!(status, 200, "{receipt}");
    let incident_id = receipt["incident_id"].as_str().unwrap().to_owned();
    work_round_the_loop(&supervisor, &officer, &incident_id).await;
    let mut expected = vec![IncidentEventKind::Opened as i32];
    expected.extend(WORKED.map(|k| k as i32));
    assert_eq!(kinds(&supervisor, &incident_id).await, expected);
    let detail = supervisor.incident(&incident_id).await.unwrap();
    assert_eq!(detail.sources.len(), 1);
    assert_eq!(detail.sources[0].kind, "camera");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_splits_an_incident_and_each_reporter_follows_their_report() {
    let server = TestServer::start().await;
    let grid = connect(server.addr(), "device-002", "grid-01").await.unwrap();
    let other_grid = connect(server.addr(), "device-003", "grid-02").await.unwrap();
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();

    // Three reports at one place join one incident; one of them is really
    // about a shop's sign, not the goods on the pavement.
    let first = grid_report("street_vending", 121.5523);
    let second = grid_report("street_vending", 121.55232);
    let sign = grid_report("street_vending", 121.55234);
    grid.submit_grid_report(&first).await.unwrap();
    grid.submit_grid_report(&second).await.unwrap();
    other_grid.submit_grid_report(&sign).await.unwrap();
    let list = supervisor
        .list_incidents(&pb::ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(list.incidents.len(), 1);
    let joined = list.incidents[0].clone();
    assert_eq!(joined.report_count, 3);
    let detail = supervisor.incident(&joined.id).await.unwrap();
    let ids: Vec<&str> = detail.sources.iter().map(|s| s.item_id.as_str()).collect();
    assert_eq!(ids, [&first.id, &second.id, &sign.id].map(String::as_str));

    // Refusals first: each names its field and changes nothing.
    let split = |item_ids: Vec<String>, incident_id: &str| pb::SplitIncident {
        update_id: uuid::Uuid::now_v7().to_string(),
        incident_id: incident_id.to_owned(),
        new_incident_id: uuid::Uuid::now_v7().to_string(),
        item_ids,
        category: "unlicensed_sign".into(),
        reason: "招牌问题另案处理 The sign is another matter".into(),
    };
    let everything = vec![first.id.clone(), second.id.clone(), sign.id.clone()];
    let unknown = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(pb::SplitIncident, Code, &str)> = vec![
        (split(Vec::new(), &joined.id), Code::InvalidArgument, "item_ids"),
        (split(everything, &joined.id), Code::InvalidArgument, "item_ids"),
        (
            split(vec![sign.id.clone(), sign.id.clone()], &joined.id),
            Code::InvalidArgument,
            "item_ids[1]",
        ),
        (
            split(vec![unknown.clone()], &joined.id),
            Code::FailedPrecondition,
            "item_ids[0]",
        ),
        (
            split(vec!["x".into()], &joined.id),
            Code::InvalidArgument,
            "item_ids[0]",
        ),
        (
            split(vec![sign.id.clone()], &unknown),
            Code::NotFound,
            "incident_id",
        ),
        (
            pb::SplitIncident {
                category: "Signs!".into(),
                ..split(vec![sign.id.clone()], &joined.id)
            },
            Code::InvalidArgument,
            "category",
        ),
    ];
    for (request, code, field) in cases {
        let refused = supervisor
            .split_incident(
                &request.incident_id,
                &request.item_ids,
                &request.category,
                &request.reason,
            )
            .await;
        let status = refusal(refused.unwrap_err());
        assert_eq!(
            (status.code_or_unknown(), status.field.as_str()),
            (code, field),
            "{status:?}"
        );
    }
    let status = refusal(
        officer
            .split_incident(&joined.id, std::slice::from_ref(&sign.id), "", "")
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
    let unchanged = supervisor.incident(&joined.id).await.unwrap();
    assert_eq!(unchanged.events.len(), 3, "refusals changed nothing");

    // The split: the sign report moves to a new incident of its own category.
    let request = split(vec![sign.id.clone()], &joined.id);
    let new = supervisor
        .split_incident(&joined.id, &request.item_ids, &request.category, &request.reason)
        .await
        .unwrap();
    let opened = new.incident.clone().unwrap();
    assert_eq!(
        (opened.state, opened.category.as_str(), opened.report_count),
        (IncidentState::New as i32, "unlicensed_sign", 1)
    );
    assert_eq!(new.sources.len(), 1);
    assert_eq!(new.sources[0].item_id, sign.id);
    assert_eq!(new.events[0].kind, IncidentEventKind::SplitOff as i32);
    let kept = supervisor.incident(&joined.id).await.unwrap();
    assert_eq!(kept.incident.as_ref().unwrap().report_count, 2);
    let ids: Vec<&str> = kept.sources.iter().map(|s| s.item_id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    let last = kept.events.last().unwrap();
    assert_eq!(last.kind, IncidentEventKind::Split as i32);
    assert_eq!(last.moved.len(), 1);
    // Both events are leaves of the log.
    for event in [last, &new.events[0]] {
        let id = uuid::Uuid::parse_str(&event.event_id).unwrap();
        assert!(server
            .server
            .state()
            .storage
            .log_leaf(id)
            .await
            .unwrap()
            .is_some());
    }
    // A resend of the report answers the incident it is in now.
    let resent = other_grid.submit_grid_report(&sign).await.unwrap();
    assert!(resent.replayed);
    let incidents = supervisor
        .list_incidents(&pb::ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(incidents.incidents.len(), 2, "a resend opens nothing");

    // The split-off incident is dismissed; its reporter sees why.
    supervisor
        .dismiss_incident(&opened.id, "招牌已取得设置许可 The sign is licensed")
        .await
        .unwrap();
    let theirs = other_grid.my_reports(&Default::default()).await.unwrap();
    assert_eq!(theirs.reports.len(), 1);
    let outcome = &theirs.reports[0];
    assert_eq!(
        (
            outcome.report_id.as_str(),
            outcome.incident_id.as_str(),
            outcome.state
        ),
        (
            sign.id.as_str(),
            opened.id.as_str(),
            IncidentState::Dismissed as i32
        )
    );
    assert!(outcome.reason.contains("licensed"));
    // The other reporter's two reports are still in hand, newest first, a page at a time.
    let page = grid
        .my_reports(&pb::ListMyReports {
            limit: 1,
            after: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(page.reports.len(), 1);
    assert_eq!(page.reports[0].report_id, second.id);
    let rest = grid
        .my_reports(&pb::ListMyReports {
            limit: 1,
            after: page.next_after.clone(),
        })
        .await
        .unwrap();
    assert_eq!(rest.reports[0].report_id, first.id);
    assert!(rest
        .reports
        .iter()
        .chain(&page.reports)
        .all(|r| r.state == IncidentState::New as i32 && r.incident_id == joined.id));

    // Only a NEW incident is split.
    let status = refusal(
        supervisor
            .split_incident(&opened.id, std::slice::from_ref(&sign.id), "", "")
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
}
