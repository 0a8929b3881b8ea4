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
