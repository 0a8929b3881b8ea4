//! The loop closes (docs/intake.md): an HJ 212 alarm becomes an incident,
//! a supervisor dispatches it to the zone's team, an officer's terminal
//! receives it, works it and completes it with its own record; the review
//! returns it once, the officer completes it again, the review approves it
//! and the incident closes — every step an event with who and when. Bad
//! input at each step gets a typed refusal and changes nothing.

use fieldlink_client::Error;
use fieldlink_protocol::pb::{
    self, AssignmentEventKind as Kind, AssignmentState as State, Code, IncidentEventKind, IncidentState,
};
use fieldlink_tests::{connect, events_until, record};

use crate::hj212_intake::{now_ms, send_readings, start, MonitorConnection, BARBECUE, NOODLES};

fn refusal(error: Error) -> pb::Status {
    match error {
        Error::Rejected(status) => *status,
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_is_dispatched_worked_returned_approved_and_closed() {
    let (server, hj212) = start(|_| {}).await;
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let colleague = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let mut feed = officer.assignments();

    // The alarm: three readings over the limit.
    let mut monitor = MonitorConnection::open(hj212).await;
    send_readings(&mut monitor, NOODLES, &[2.4, 2.6, 2.9], now_ms() - 600_000).await;
    let list = supervisor
        .list_incidents(&pb::ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(list.incidents.len(), 1);
    let incident = list.incidents[0].clone();
    assert_eq!(incident.state, IncidentState::New as i32);

    // Officers do not triage.
    let status = refusal(
        officer
            .list_incidents(&pb::ListIncidents::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);

    // Dispatched to the monitor's team (the default), with its matter.
    let detail = supervisor
        .dispatch_incident(&pb::DispatchIncident {
            incident_id: incident.id.clone(),
            instructions: "核查油烟净化设施运行情况 Check the fume purifier".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let dispatched = detail.incident.unwrap();
    assert_eq!(dispatched.state, IncidentState::Dispatched as i32);
    assert_eq!(dispatched.team_id, "team-chengnan");
    let a_id = dispatched.assignment_id.clone();
    let created = events_until(&mut feed, |e| {
        e.kind == Kind::Created as i32 && e.assignment.as_ref().is_some_and(|a| a.id == a_id)
    })
    .await
    .pop()
    .unwrap();
    let assignment = created.assignment.unwrap();
    assert_eq!(assignment.incident_id, incident.id);
    assert_eq!(assignment.matter_code, "HB-002");
    assert!(assignment.place.is_some());

    // A second dispatch of the same incident is refused.
    let status = refusal(
        supervisor
            .dispatch_incident(&pb::DispatchIncident {
                incident_id: incident.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);

    officer.accept_assignment(&a_id).await.unwrap();
    officer.on_site(&a_id).await.unwrap();

    // Completion needs a record made for this assignment by this officer.
    let unrelated = record("officer-01");
    officer.submit_inspection(&unrelated).await.unwrap();
    let status = refusal(
        officer
            .complete_assignment(&a_id, std::slice::from_ref(&unrelated.id))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::FailedPrecondition, "record_ids[0]")
    );
    let mut theirs = record("officer-02");
    theirs.assignment_id = a_id.clone();
    colleague.submit_inspection(&theirs).await.unwrap();
    let status = refusal(
        officer
            .complete_assignment(&a_id, std::slice::from_ref(&theirs.id))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    assert!(status.message.contains("someone else"), "{}", status.message);
    let mut mine = record("officer-01");
    mine.assignment_id = a_id.clone();
    officer.submit_inspection(&mine).await.unwrap();
    let done = officer
        .complete_assignment(&a_id, std::slice::from_ref(&mine.id))
        .await
        .unwrap();
    assert_eq!(done.assignment.unwrap().state, State::PendingReview as i32);
    let now = supervisor.incident(&incident.id).await.unwrap().incident.unwrap();
    assert_eq!(now.state, IncidentState::PendingReview as i32);

    // Only supervisors review; a return needs a reason.
    let status = refusal(officer.review_assignment(&a_id, true, "").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
    let status = refusal(supervisor.review_assignment(&a_id, false, " ").await.unwrap_err());
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::InvalidArgument, "reason")
    );

    // Returned: back on the officer's feed; the incident is dispatched again.
    let returned = supervisor
        .review_assignment(&a_id, false, "缺少整改前后对比照片 Before/after photos missing")
        .await
        .unwrap();
    assert_eq!(returned.assignment.unwrap().state, State::Returned as i32);
    let event = events_until(&mut feed, |e| {
        e.kind == Kind::Returned as i32 && e.assignment.as_ref().is_some_and(|a| a.id == a_id)
    })
    .await
    .pop()
    .unwrap();
    assert!(event.reason.contains("photos missing"));
    let now = supervisor.incident(&incident.id).await.unwrap().incident.unwrap();
    assert_eq!(now.state, IncidentState::Dispatched as i32);
    // Approval of work not pending review is refused.
    let status = refusal(supervisor.review_assignment(&a_id, true, "").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);

    // Completed again, approved: the incident closes.
    let again = officer
        .complete_assignment(&a_id, std::slice::from_ref(&mine.id))
        .await
        .unwrap();
    assert_eq!(again.assignment.unwrap().state, State::PendingReview as i32);
    let approved = supervisor.review_assignment(&a_id, true, "").await.unwrap();
    assert_eq!(approved.assignment.unwrap().state, State::Completed as i32);
    let detail = supervisor.incident(&incident.id).await.unwrap();
    assert_eq!(
        detail.incident.as_ref().unwrap().state,
        IncidentState::Closed as i32
    );
    let kinds: Vec<i32> = detail.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            IncidentEventKind::Opened,
            IncidentEventKind::Dispatched,
            IncidentEventKind::PendingReview,
            IncidentEventKind::Returned,
            IncidentEventKind::PendingReview,
            IncidentEventKind::Closed,
        ]
        .map(|k| k as i32)
    );
    assert!(detail
        .events
        .iter()
        .skip(1)
        .all(|e| !e.by.is_empty() && e.at_ms > 0));
    // Each event is a leaf of the log.
    for event in &detail.events {
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

    // A closed incident is neither dispatched nor dismissed; unknown ones are not found.
    let status = refusal(
        supervisor
            .dispatch_incident(&pb::DispatchIncident {
                incident_id: incident.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    let status = refusal(
        supervisor
            .dismiss_incident(&incident.id, "重复")
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = refusal(supervisor.incident(&unknown).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::NotFound);
    let status = refusal(supervisor.dismiss_incident(&unknown, "误报").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::NotFound);

    // Another alarm, dismissed with a reason (a reason is required).
    let mut other = MonitorConnection::open(hj212).await;
    send_readings(&mut other, BARBECUE, &[4.0, 4.0, 4.0], now_ms() - 300_000).await;
    let new = supervisor
        .list_incidents(&pb::ListIncidents {
            state: IncidentState::New as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(new.incidents.len(), 1);
    let second = &new.incidents[0].id;
    let status = refusal(supervisor.dismiss_incident(second, "").await.unwrap_err());
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::InvalidArgument, "reason")
    );
    let dismissed = supervisor
        .dismiss_incident(second, "设备调试期间的误报 false alarm during commissioning")
        .await
        .unwrap();
    let dismissed = dismissed.incident.unwrap();
    assert_eq!(dismissed.state, IncidentState::Dismissed as i32);
    assert!(dismissed.dismiss_reason.contains("false alarm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_to_rectify_schedules_one_follow_up_inspection_for_the_same_team() {
    let server = fieldlink_tests::TestServer::start().await;
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut team_feed = connect(server.addr(), "device-002", "officer-02")
        .await
        .unwrap()
        .assignments();
    let first = supervisor
        .create_assignment(&fieldlink_tests::assignment_for_team("team-chengnan"))
        .await
        .unwrap()
        .assignment
        .unwrap();
    officer.accept_assignment(&first.id).await.unwrap();
    officer.on_site(&first.id).await.unwrap();

    // A rectification date needs the order, and a sane date.
    let mut order = record("officer-01");
    order.assignment_id = first.id.clone();
    order.officer_ids = vec!["officer-01".into(), "officer-02".into()];
    order.outcome = pb::Outcome::OrderToRectify as i32;
    let mut wrong = order.clone();
    wrong.outcome = pb::Outcome::Advised as i32;
    wrong.rectify_by_ms = order.started_at_ms + 86_400_000;
    let status = refusal(officer.submit_inspection(&wrong).await.unwrap_err());
    assert_eq!(status.field, "rectify_by_ms");
    let mut early = order.clone();
    early.rectify_by_ms = order.started_at_ms - 1;
    assert_eq!(
        refusal(officer.submit_inspection(&early).await.unwrap_err()).field,
        "rectify_by_ms"
    );

    order.rectify_by_ms = order.started_at_ms + 7 * 86_400_000;
    officer.submit_inspection(&order).await.unwrap();
    let created = events_until(&mut team_feed, |e| {
        e.kind == Kind::Created as i32
            && e.assignment
                .as_ref()
                .is_some_and(|a| a.follow_up_record_id == order.id)
    })
    .await
    .pop()
    .unwrap();
    let follow_up = created.assignment.unwrap();
    assert_eq!(follow_up.follow_up_of, first.id);
    assert_eq!(follow_up.due_at_ms, order.rectify_by_ms);
    assert_eq!(follow_up.state, State::Dispatched as i32);
    assert_eq!(follow_up.assignee, first.assignee, "the same team");
    assert_eq!(follow_up.place, order.place, "the same place");
    assert_eq!(created.by, "system");
    assert!(follow_up.title.starts_with("复查"));

    // The record sent again schedules nothing more.
    assert!(officer.submit_inspection(&order).await.unwrap().replayed);
    let all = supervisor.list_assignments(&Default::default()).await.unwrap();
    let follow_ups = all
        .assignments
        .iter()
        .filter(|a| a.follow_up_record_id == order.id)
        .count();
    assert_eq!(follow_ups, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_assignment_nobody_accepts_is_escalated_once() {
    let server = fieldlink_tests::TestServer::start_with(|config| {
        config.acceptance_timeout_ms = 300;
        config.acceptance_timeout_urgent_ms = 300;
        config.overdue_check_interval_ms = 100;
    })
    .await;
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let mut watch = supervisor.assignments();
    let team = supervisor
        .create_assignment(&fieldlink_tests::assignment_for_team("team-chengnan"))
        .await
        .unwrap()
        .assignment
        .unwrap();
    let own = supervisor
        .create_assignment(&fieldlink_tests::assignment_for("officer-01"))
        .await
        .unwrap()
        .assignment
        .unwrap();
    let escalated = events_until(&mut watch, |e| {
        e.kind == Kind::Escalated as i32 && e.assignment.as_ref().is_some_and(|a| a.id == team.id)
    })
    .await
    .pop()
    .unwrap();
    let assignment = escalated.assignment.unwrap();
    assert!(assignment.escalated);
    assert_eq!(
        assignment.state,
        State::Dispatched as i32,
        "the state is unchanged"
    );
    assert_eq!(escalated.by, "system");
    // Given time for more sweeps: still escalated once, and an officer's own
    // assignment is never escalated (it is theirs already).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let history_kinds = |id: &str| {
        let id = uuid::Uuid::parse_str(id).unwrap();
        let storage = std::sync::Arc::clone(&server.server.state().storage);
        async move {
            storage
                .assignment_history(id)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    let kinds = history_kinds(&team.id).await;
    assert_eq!(
        kinds.iter().filter(|k| **k == Kind::Escalated as i32).count(),
        1,
        "{kinds:?}"
    );
    assert!(!history_kinds(&own.id).await.contains(&(Kind::Escalated as i32)));
    // Accepting still works after the escalation.
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    officer.accept_assignment(&team.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_merges_one_incident_into_another() {
    let (server, hj212) = start(|_| {}).await;
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    // Two monitors 700 m apart: two incidents about what turns out to be one smell.
    let mut noodles = MonitorConnection::open(hj212).await;
    send_readings(&mut noodles, NOODLES, &[2.4, 2.6, 2.9], now_ms() - 600_000).await;
    let mut barbecue = MonitorConnection::open(hj212).await;
    send_readings(&mut barbecue, BARBECUE, &[3.4, 3.6, 3.9], now_ms() - 500_000).await;
    let list = supervisor
        .list_incidents(&pb::ListIncidents::default())
        .await
        .unwrap();
    assert_eq!(list.incidents.len(), 2);
    let (newer, older) = (list.incidents[0].id.clone(), list.incidents[1].id.clone());

    // Bad merges change nothing.
    let status = refusal(supervisor.merge_incidents(&newer, &newer, "").await.unwrap_err());
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::InvalidArgument, "into_incident_id")
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = refusal(
        supervisor
            .merge_incidents(&newer, &unknown, "")
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::NotFound, "into_incident_id")
    );
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let status = refusal(officer.merge_incidents(&newer, &older, "").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);

    let detail = supervisor
        .merge_incidents(&newer, &older, "同一油烟源 one source")
        .await
        .unwrap();
    let kept = detail.incident.unwrap();
    assert_eq!((kept.id.as_str(), kept.report_count), (older.as_str(), 2));
    assert_eq!(kept.merged_ids, vec![newer.clone()]);
    assert_eq!(
        detail.events.last().unwrap().kind,
        IncidentEventKind::Absorbed as i32
    );
    let away = supervisor.incident(&newer).await.unwrap();
    let merged = away.incident.unwrap();
    assert_eq!(
        (merged.state, merged.merged_into.as_str()),
        (IncidentState::Merged as i32, older.as_str())
    );
    assert_eq!(away.events.last().unwrap().kind, IncidentEventKind::Merged as i32);
    // A merged incident is final: not merged again, dispatched or dismissed.
    let status = refusal(supervisor.merge_incidents(&newer, &older, "").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    let status = refusal(supervisor.dismiss_incident(&newer, "x").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    // Only the incident that carries on is still waiting for triage.
    let new = supervisor
        .list_incidents(&pb::ListIncidents {
            state: IncidentState::New as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(new.incidents.len(), 1);
    assert_eq!(new.incidents[0].id, older);
}
