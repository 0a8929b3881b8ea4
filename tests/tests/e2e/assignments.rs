//! Assignments end to end: dispatch, exactly-once push, the field lifecycle.

use std::collections::HashSet;
use std::time::Duration;

use fieldlink_client::Error;
use fieldlink_protocol::pb::{self, AssignmentEventKind as Kind, AssignmentState as State, Code};
use fieldlink_tests::{
    assignment_for, assignment_for_team, connect, directory_file, events_until, next_event, record,
    TestServer,
};

fn kind(event: &pb::AssignmentEvent) -> Kind {
    Kind::try_from(event.kind).unwrap()
}

fn id_of(event: &pb::AssignmentEvent) -> &str {
    &event.assignment.as_ref().unwrap().id
}

fn refusal(error: Error) -> pb::Status {
    match error {
        Error::Rejected(status) => *status,
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

async fn supervisor(server: &TestServer) -> fieldlink_client::Client {
    connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_terminal_gets_all_twenty_in_order_once_and_acked_events_never_again() {
    let server = TestServer::start().await;
    let dispatcher = supervisor(&server).await;
    // The supervisor's feed sees every event, DELIVERED marks included.
    let mut watching = dispatcher.assignments();
    let mut created = Vec::new();
    for _ in 0..20 {
        let result = dispatcher
            .create_assignment(&assignment_for("officer-01"))
            .await
            .unwrap();
        created.push(result.assignment.unwrap().id);
    }

    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut feed = terminal.assignments();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let event = next_event(&mut feed).await;
        assert_eq!(kind(&event), Kind::Created);
        seen.push(event);
    }
    assert_eq!(
        seen.iter().map(|e| id_of(e).to_owned()).collect::<Vec<_>>(),
        created,
        "in order"
    );
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    let last = seen.last().unwrap().seq;
    // Acknowledged: the server stores the cursor and marks each DELIVERED.
    let storage = &server.server.state().storage;
    for _ in 0..600 {
        if storage.feed_cursor("officer-01", "device-001").await.unwrap() >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(storage.feed_cursor("officer-01", "device-001").await.unwrap() >= last);
    drop(feed);
    terminal.close().await;

    // Reconnect (a new app start: cursor from the server) and dispatch one more.
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut feed = terminal.assignments();
    let fresh = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let fresh_id = fresh.assignment.unwrap().id;
    let after = events_until(&mut feed, |e| kind(e) == Kind::Created && id_of(e) == fresh_id).await;
    for event in &after {
        assert!(event.seq > last, "event {} was acknowledged before", event.seq);
        assert!(
            kind(event) != Kind::Created || id_of(event) == fresh_id,
            "a created event came twice"
        );
    }
    // DELIVERED marks are for supervisors: the terminal that acknowledged is
    // not sent them back.
    let delivered: Vec<&str> = after
        .iter()
        .filter(|e| kind(e) == Kind::Delivered)
        .map(id_of)
        .collect();
    assert!(
        delivered.is_empty(),
        "DELIVERED pushed to the officer: {delivered:?}"
    );
    let marked = events_until(&mut watching, {
        let mut left: HashSet<String> = created.iter().cloned().collect();
        move |e| {
            if kind(e) == Kind::Delivered {
                left.remove(id_of(e));
            }
            left.is_empty()
        }
    })
    .await;
    // (The fresh assignment's own mark may come among them: the 20 are
    // marked as the first feed winds down, while the second one runs.)
    let marks: Vec<(&str, u64)> = marked
        .iter()
        .filter(|e| kind(e) == Kind::Delivered && created.iter().any(|id| id == id_of(e)))
        .map(|e| (id_of(e), e.seq))
        .collect();
    assert_eq!(
        marks.len(),
        20,
        "the supervisor's feed sees each of the 20 marked DELIVERED once: {marks:?}"
    );
    assert!(
        marked
            .iter()
            .filter(|e| kind(e) == Kind::Delivered && id_of(e) == fresh_id)
            .count()
            <= 1,
        "the fresh one marked twice"
    );
    // Every one of the 20 is DELIVERED now (the fresh one may be too: the
    // second feed acknowledged it; it is not counted).
    let delivered_of_the_20 = || async {
        dispatcher
            .list_assignments(&pb::ListAssignments {
                officer_id: "officer-01".into(),
                state: State::Delivered as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .assignments
            .iter()
            .filter(|a| created.contains(&a.id))
            .count()
    };
    let mut delivered_count = delivered_of_the_20().await;
    for _ in 0..600 {
        if delivered_count >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        delivered_count = delivered_of_the_20().await;
    }
    assert_eq!(delivered_count, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_assignments_over_fifty_terminals_reach_exactly_their_own() {
    let officers: Vec<(String, String)> = (0..50)
        .map(|i| (format!("officer-{i:02}"), format!("team-{}", i % 5)))
        .collect();
    let directory = directory_file(&officers);
    let path = directory.path().to_path_buf();
    let server = TestServer::start_with(move |config| config.directory = Some(path)).await;
    let dispatcher = supervisor(&server).await;
    let devices = ["device-001", "device-002", "device-003"];
    let mut feeds = Vec::new();
    for (index, (officer, _)) in officers.iter().enumerate() {
        let terminal = connect(server.addr(), devices[index % 3], officer).await.unwrap();
        feeds.push((officer.clone(), terminal.assignments(), terminal));
    }
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); 50];
    for round in 0..3 {
        for (index, (officer, _)) in officers.iter().enumerate() {
            // Two real assignments each, then a sentinel that closes the check.
            let _ = round;
            let created = dispatcher
                .create_assignment(&assignment_for(officer))
                .await
                .unwrap();
            expected[index].push(created.assignment.unwrap().id);
        }
    }
    let mut tasks = Vec::new();
    for ((officer, mut feed, terminal), expected) in feeds.into_iter().zip(expected) {
        tasks.push(tokio::spawn(async move {
            let sentinel = expected.last().unwrap().clone();
            let events = events_until(&mut feed, |e| kind(e) == Kind::Created && id_of(e) == sentinel).await;
            let created: Vec<String> = events
                .iter()
                .filter(|e| kind(e) == Kind::Created)
                .map(|e| id_of(e).to_owned())
                .collect();
            for event in &events {
                let assignee = event.assignment.as_ref().unwrap().assignee.clone();
                assert_eq!(
                    assignee,
                    Some(pb::assignment::Assignee::OfficerId(officer.clone())),
                    "{officer} received someone else's assignment"
                );
            }
            assert_eq!(created, expected, "{officer}: its own, in order, once");
            drop(terminal);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_officers_accept_a_team_assignment_at_once_and_exactly_one_wins() {
    let officers: Vec<(String, String)> = (0..10)
        .map(|i| (format!("member-{i}"), "team-ten".to_owned()))
        .collect();
    let directory = directory_file(&officers);
    let path = directory.path().to_path_buf();
    let server = TestServer::start_with(move |config| config.directory = Some(path)).await;
    let dispatcher = supervisor(&server).await;
    let mut members = Vec::new();
    for (index, (officer, _)) in officers.iter().enumerate() {
        let terminal = connect(
            server.addr(),
            ["device-001", "device-002", "device-003"][index % 3],
            officer,
        )
        .await
        .unwrap();
        let feed = terminal.assignments();
        members.push((officer.clone(), terminal, feed));
    }
    let created = dispatcher
        .create_assignment(&assignment_for_team("team-ten"))
        .await
        .unwrap();
    let id = created.assignment.unwrap().id;
    for (_, _, feed) in &mut members {
        let event = events_until(feed, |e| kind(e) == Kind::Created)
            .await
            .pop()
            .unwrap();
        assert_eq!(id_of(&event), id);
    }
    // Let the deliveries the feeds caused land first, then hold the event
    // writer so that all ten acceptances read the same version and are in
    // flight at once: on a loaded machine they would otherwise arrive one
    // after another and the race would never happen.
    let state = server.server.state();
    let assignment_id = uuid::Uuid::parse_str(&id).unwrap();
    for _ in 0..600 {
        let stored = state.storage.assignment(assignment_id).await.unwrap().unwrap();
        if stored.assignment.state == State::Delivered as i32 && state.events.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hold = state.events.hold().await;
    let mut attempts = Vec::new();
    for (officer, terminal, _) in &members {
        let (terminal, id, officer) = (terminal.clone(), id.clone(), officer.clone());
        attempts.push(tokio::spawn(async move {
            (officer, terminal.accept_assignment(&id).await)
        }));
    }
    for _ in 0..1_200 {
        if state.events.in_flight() >= members.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        state.events.in_flight(),
        members.len(),
        "all ten acceptances in flight"
    );
    drop(hold);
    let mut winners = Vec::new();
    for attempt in attempts {
        let (officer, result) = attempt.await.unwrap();
        match result {
            Ok(result) => {
                assert_eq!(result.assignment.unwrap().accepted_by, officer);
                winners.push(officer);
            }
            Err(error) => {
                let status = refusal(error);
                assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
                assert!(status.message.contains("ASSIGNMENT_STATE_ACCEPTED"), "{status}");
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one acceptance wins");
    // Every member's terminal is told who took it.
    for (_, _, feed) in &mut members {
        let told = events_until(feed, |e| kind(e) == Kind::Accepted)
            .await
            .pop()
            .unwrap();
        assert_eq!(told.assignment.unwrap().accepted_by, winners[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_and_reassignment_reach_terminals_and_the_rules_hold() {
    let server = TestServer::start().await;
    let dispatcher = supervisor(&server).await;
    let first = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let second = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let stranger = connect(server.addr(), "device-003", "officer-05").await.unwrap();
    let mut first_feed = first.assignments();
    let mut second_feed = second.assignments();

    // Terminals cannot dispatch.
    let status = refusal(
        first
            .create_assignment(&assignment_for("officer-01"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);

    let a = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let a_id = a.assignment.unwrap().id;
    events_until(&mut first_feed, |e| id_of(e) == a_id && kind(e) == Kind::Created).await;

    // Illegal transitions are refused, naming the state.
    let status = refusal(first.complete_assignment(&a_id, &[]).await.unwrap_err());
    assert_eq!(status.field, "record_ids");
    let status = refusal(first.on_site(&a_id).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);
    assert!(status.message.contains("ASSIGNMENT_STATE_"), "{status}");
    // A team-mate's assignment is visible but not theirs to act on...
    let status = refusal(second.accept_assignment(&a_id).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::PermissionDenied);
    // ...and another team's looks like none at all.
    let status = refusal(stranger.accept_assignment(&a_id).await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::NotFound);

    // Reassigned to officer-02: both terminals are told.
    dispatcher
        .reassign_assignment(
            &a_id,
            pb::reassign_assignment::Assignee::OfficerId("officer-02".into()),
            "closer",
        )
        .await
        .unwrap();
    events_until(&mut first_feed, |e| {
        id_of(e) == a_id && kind(e) == Kind::Reassigned
    })
    .await;
    let given = events_until(&mut second_feed, |e| {
        id_of(e) == a_id && kind(e) == Kind::Reassigned
    })
    .await
    .pop()
    .unwrap();
    assert_eq!(given.assignment.unwrap().state, State::Dispatched as i32);
    assert_eq!(
        refusal(first.accept_assignment(&a_id).await.unwrap_err()).code_or_unknown(),
        Code::PermissionDenied
    );

    // The new assignee works it through; completion needs a stored record.
    second.accept_assignment(&a_id).await.unwrap();
    second.en_route(&a_id).await.unwrap();
    second.on_site(&a_id).await.unwrap();
    let missing = uuid::Uuid::now_v7().to_string();
    let status = refusal(second.complete_assignment(&a_id, &[missing]).await.unwrap_err());
    assert_eq!(status.field, "record_ids[0]");
    let mut inspection = record("officer-02");
    inspection.assignment_id = a_id.clone();
    second.submit_inspection(&inspection).await.unwrap();
    let done = second
        .complete_assignment(&a_id, &[inspection.id.clone()])
        .await
        .unwrap();
    let done = done.assignment.unwrap();
    assert_eq!(done.state, State::PendingReview as i32);
    assert_eq!(done.closing_record_ids, vec![inspection.id]);
    // The review approves it: completed, which is final — no cancellation.
    let approved = dispatcher.review_assignment(&a_id, true, "").await.unwrap();
    assert_eq!(approved.assignment.unwrap().state, State::Completed as i32);
    let status = refusal(dispatcher.cancel_assignment(&a_id, "too late").await.unwrap_err());
    assert_eq!(status.code_or_unknown(), Code::FailedPrecondition);

    // A cancellation reaches the terminal.
    let b = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let b_id = b.assignment.unwrap().id;
    dispatcher
        .cancel_assignment(&b_id, "duplicate report")
        .await
        .unwrap();
    let cancelled = events_until(&mut first_feed, |e| {
        id_of(e) == b_id && kind(e) == Kind::Cancelled
    })
    .await
    .pop()
    .unwrap();
    assert_eq!(cancelled.reason, "duplicate report");

    // Officers see their own and their team's work, never another team's.
    let mine = first
        .list_assignments(&pb::ListAssignments::default())
        .await
        .unwrap();
    assert_eq!(mine.assignments.len(), 2, "team-chengnan's two");
    let theirs = stranger
        .list_assignments(&pb::ListAssignments::default())
        .await
        .unwrap();
    assert!(theirs.assignments.is_empty(), "officer-05 is in another team");
    let all = dispatcher
        .list_assignments(&pb::ListAssignments::default())
        .await
        .unwrap();
    assert_eq!(all.assignments.len(), 2);
    let cancelled_only = dispatcher
        .list_assignments(&pb::ListAssignments {
            state: State::Cancelled as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cancelled_only.assignments.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignments_past_due_are_marked_overdue_and_the_assignee_is_reminded() {
    let server = TestServer::start_with(|config| config.overdue_check_interval_ms = 100).await;
    let dispatcher = supervisor(&server).await;
    let terminal = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut feed = terminal.assignments();
    let mut due_soon = assignment_for("officer-01");
    due_soon.due_at_ms = fieldlink_client::now_ms() + 500;
    let created = dispatcher.create_assignment(&due_soon).await.unwrap();
    let id = created.assignment.unwrap().id;
    let reminder = events_until(&mut feed, |e| id_of(e) == id && kind(e) == Kind::Overdue)
        .await
        .pop()
        .unwrap();
    assert!(reminder.assignment.unwrap().overdue);
    let overdue = dispatcher
        .list_assignments(&pb::ListAssignments {
            overdue_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(overdue.assignments.len(), 1);
    assert_eq!(overdue.assignments[0].id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_and_states_survive_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = || fieldlink_tests::dev_config(data_dir.path());
    let server = fieldlink_tests::start_server(config()).await.unwrap();
    let dispatcher = connect(server.local_addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let terminal = connect(server.local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let mut feed = terminal.assignments();
    let a = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let a_id = a.assignment.unwrap().id;
    let first = events_until(&mut feed, |e| id_of(e) == a_id).await.pop().unwrap();
    terminal.accept_assignment(&a_id).await.unwrap();
    let accepted = events_until(&mut feed, |e| kind(e) == Kind::Accepted)
        .await
        .pop()
        .unwrap();
    for _ in 0..600 {
        if server
            .state()
            .storage
            .feed_cursor("officer-01", "device-001")
            .await
            .unwrap()
            >= accepted.seq
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(feed);
    terminal.close().await;
    dispatcher.close().await;
    server.shutdown().await;

    let server = fieldlink_tests::start_server(config()).await.unwrap();
    let dispatcher = connect(server.local_addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    let listed = dispatcher
        .list_assignments(&pb::ListAssignments::default())
        .await
        .unwrap();
    assert_eq!(listed.assignments[0].state, State::Accepted as i32);
    assert_eq!(listed.assignments[0].accepted_by, "officer-01");
    let terminal = connect(server.local_addr(), "device-001", "officer-01")
        .await
        .unwrap();
    let mut feed = terminal.assignments();
    let b = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let b_id = b.assignment.unwrap().id;
    let after = events_until(&mut feed, |e| id_of(e) == b_id).await;
    assert!(
        after.iter().all(|e| e.seq > accepted.seq && e.seq > first.seq),
        "nothing acknowledged came again"
    );
    terminal.en_route(&a_id).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_watches_every_team_live() {
    let server = TestServer::start().await;
    let dispatcher = supervisor(&server).await;
    let mut watch = dispatcher.assignments();
    let a = dispatcher
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let b = dispatcher
        .create_assignment(&assignment_for("officer-05"))
        .await
        .unwrap();
    let (a_id, b_id) = (a.assignment.unwrap().id, b.assignment.unwrap().id);
    let terminal = connect(server.addr(), "device-002", "officer-05").await.unwrap();
    terminal.accept_assignment(&b_id).await.unwrap();
    let seen = events_until(&mut watch, |e| id_of(e) == b_id && kind(e) == Kind::Accepted).await;
    assert!(seen.iter().any(|e| id_of(e) == a_id && kind(e) == Kind::Created));
    assert!(seen.iter().any(|e| id_of(e) == b_id && kind(e) == Kind::Created));
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
}

/// The feed as an officer's app uses it: a `Stream`, without the officer's
/// own steps, and cancel-safe — `next()` cut short by a timeout again and
/// again while events arrive loses none and repeats none, and a feed opened
/// again later starts after the last one taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_a_cancel_safe_stream_that_can_leave_out_the_officers_own_steps() {
    use futures::StreamExt;
    let server = TestServer::start().await;
    let supervisor = supervisor(&server).await;
    let officer = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut feed = officer.assignments().without_own_steps();

    let first = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let first_id = first.assignment.unwrap().id;
    let created = tokio::time::timeout(Duration::from_secs(60), feed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (kind(&created), id_of(&created)),
        (Kind::Created, first_id.as_str())
    );
    // Accepting (the officer's own step) and the DELIVERED mark are left
    // out: the next event seen is the supervisor's cancellation.
    officer.accept_assignment(&first_id).await.unwrap();
    supervisor
        .cancel_assignment(&first_id, "重复派单 duplicate")
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(60), feed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(kind(&next), Kind::Cancelled, "{next:?}");
    // A step the state does not allow names the state, and no field the
    // helper's caller never gave.
    let Err(Error::Rejected(status)) = officer.on_site(&first_id).await else {
        panic!("a cancelled assignment cannot be reached on site");
    };
    assert_eq!(
        (status.reason.as_str(), status.field.as_str()),
        ("INVALID_STATE", ""),
        "{status:?}"
    );
    assert!(status.message.contains("CANCELLED"), "{status:?}");

    // Ten more, taken through `next()` futures that a 1 ms timeout keeps
    // dropping: each arrives exactly once, in order.
    let mut sent = Vec::new();
    for _ in 0..10 {
        let result = supervisor
            .create_assignment(&assignment_for("officer-01"))
            .await
            .unwrap();
        sent.push(result.assignment.unwrap().id);
    }
    let mut taken = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while taken.len() < sent.len() && tokio::time::Instant::now() < deadline {
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(1), feed.next()).await {
            let event = event.unwrap();
            assert_eq!(kind(&event), Kind::Created, "{event:?}");
            taken.push(id_of(&event).to_owned());
        }
    }
    assert_eq!(
        taken, sent,
        "every event once, in order, despite the cancelled calls"
    );

    // As a Stream, after a reconnect: the server resumes after the last
    // event taken (acknowledged), so the next one is new.
    drop(feed);
    let last = supervisor
        .create_assignment(&assignment_for("officer-01"))
        .await
        .unwrap();
    let last_id = last.assignment.unwrap().id;
    let mut stream = officer.assignments().without_own_steps();
    let event = tokio::time::timeout(Duration::from_secs(60), StreamExt::next(&mut stream))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(id_of(&event), last_id, "nothing taken before is sent again");
}
