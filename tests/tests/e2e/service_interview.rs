//! Electronic service, its events, remote interviews, and the case view.

use fieldlink_client::Error;
use fieldlink_protocol::interview::example_interview;
use fieldlink_protocol::pb::{self, Code, ServiceEventKind, ServiceState};
use fieldlink_protocol::service::example_service;
use fieldlink_tests::{connect, record, TestServer};
use uuid::Uuid;

/// A broken rule: the field it names, how to break it, the code expected.
type RuleCase<T> = (&'static str, Box<dyn Fn(&mut T)>, Code);

fn now() -> i64 {
    fieldlink_client::now_ms()
}

fn refusal(error: Error) -> pb::Status {
    match error {
        Error::Rejected(status) => *status,
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

fn event(service_id: &str, kind: ServiceEventKind, at_ms: i64) -> pb::ServiceEvent {
    let confirmed = kind == ServiceEventKind::Confirmed;
    pb::ServiceEvent {
        id: Uuid::now_v7().to_string(),
        service_id: service_id.to_owned(),
        kind: kind as i32,
        at_ms,
        confirmation_method: if confirmed {
            pb::ConfirmationMethod::ReplyCode as i32
        } else {
            0
        },
        confirmation_reference: if confirmed { "8841".into() } else { String::new() },
        signature_evidence_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_stored_idempotently_and_its_rules_reach_the_terminal() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let service = example_service("officer-01", "CASE-S1", now());
    let first = client.submit_service(&service).await.unwrap();
    let again = client.submit_service(&service).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.server_seq, first.server_seq);
    let mut changed = service.clone();
    changed.recipient.as_mut().unwrap().contact = "someone else".into();
    let status = refusal(client.submit_service(&changed).await.unwrap_err());
    assert_eq!(
        (status.code_or_unknown(), status.conflicting_seq),
        (Code::AlreadyExists, first.server_seq)
    );

    let cases: Vec<RuleCase<pb::ServiceConfirmation>> = vec![
        ("consent", Box::new(|s| s.consent = None), Code::InvalidArgument),
        (
            "consent.signed_at_ms",
            Box::new(|s| s.consent.as_mut().unwrap().signed_at_ms = s.sent_at_ms + 1),
            Code::InvalidArgument,
        ),
        (
            "delivered_at_ms",
            Box::new(|s| s.delivered_at_ms = s.sent_at_ms - 1),
            Code::InvalidArgument,
        ),
        ("channel", Box::new(|s| s.channel = 42), Code::InvalidArgument),
        (
            "document.sha256",
            Box::new(|s| s.document.as_mut().unwrap().sha256 = vec![1; 8]),
            Code::InvalidArgument,
        ),
        (
            "officer_ids[1]",
            Box::new(|s| s.officer_ids.push("officer-99".into())),
            Code::InvalidArgument,
        ),
        (
            "officer_ids",
            Box::new(|s| s.officer_ids = vec!["officer-02".into()]),
            Code::PermissionDenied,
        ),
    ];
    for (field, break_rule, code) in cases {
        let mut service = example_service("officer-01", "CASE-S1", now());
        break_rule(&mut service);
        let status = refusal(client.submit_service(&service).await.unwrap_err());
        assert_eq!(
            (status.code_or_unknown(), status.field.as_str()),
            (code, field),
            "{status}"
        );
    }
    assert_eq!(server.item_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_events_append_in_order_and_never_overwrite() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mut service = example_service("officer-01", "CASE-S2", now());
    service.delivered_at_ms = 0;
    client.submit_service(&service).await.unwrap();
    let state = |items: pb::CaseItems| {
        items
            .items
            .iter()
            .find(|i| i.kind == "service")
            .map(|i| ServiceState::try_from(i.service_state).unwrap())
    };
    assert_eq!(
        state(client.case_items("CASE-S2").await.unwrap()),
        Some(ServiceState::Sent)
    );

    // Confirmed before delivered: refused, naming the state.
    let early = refusal(
        client
            .submit_service_event(&event(&service.id, ServiceEventKind::Confirmed, now() - 1000))
            .await
            .unwrap_err(),
    );
    assert_eq!(early.code_or_unknown(), Code::FailedPrecondition);
    // Delivery before sending: refused.
    let before = refusal(
        client
            .submit_service_event(&event(
                &service.id,
                ServiceEventKind::Delivered,
                service.sent_at_ms - 1,
            ))
            .await
            .unwrap_err(),
    );
    assert_eq!(before.field, "at_ms");

    let delivered_at = now() - 30_000;
    let delivered = event(&service.id, ServiceEventKind::Delivered, delivered_at);
    client.submit_service_event(&delivered).await.unwrap();
    assert!(client.submit_service_event(&delivered).await.unwrap().replayed);
    assert_eq!(
        state(client.case_items("CASE-S2").await.unwrap()),
        Some(ServiceState::Delivered)
    );

    // A second delivery would overwrite the first: refused.
    let twice = refusal(
        client
            .submit_service_event(&event(&service.id, ServiceEventKind::Delivered, now()))
            .await
            .unwrap_err(),
    );
    assert_eq!(twice.code_or_unknown(), Code::FailedPrecondition);
    assert!(twice.message.contains("already delivered"), "{twice}");
    // Confirmation before delivery time: refused; after: accepted.
    let status = refusal(
        client
            .submit_service_event(&event(&service.id, ServiceEventKind::Confirmed, delivered_at - 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.field, "at_ms");
    client
        .submit_service_event(&event(&service.id, ServiceEventKind::Confirmed, now()))
        .await
        .unwrap();
    assert_eq!(
        state(client.case_items("CASE-S2").await.unwrap()),
        Some(ServiceState::Confirmed)
    );

    // The original confirmation is stored exactly as sent.
    let stored = server
        .server
        .state()
        .storage
        .item(Uuid::parse_str(&service.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.body, prost::Message::encode_to_vec(&service));

    // Someone who did not serve it, and an unknown service, get the same answer.
    let other = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let foreign = refusal(
        other
            .submit_service_event(&event(&service.id, ServiceEventKind::Confirmed, now()))
            .await
            .unwrap_err(),
    );
    let unknown = refusal(
        other
            .submit_service_event(&event(
                &Uuid::now_v7().to_string(),
                ServiceEventKind::Delivered,
                now(),
            ))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (foreign.code, foreign.field.clone(), foreign.message.clone()),
        (unknown.code, unknown.field, unknown.message)
    );
    assert_eq!(server.item_count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interview_needs_two_credentialed_interviewers_including_the_sender() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let interview = example_interview(["officer-01", "officer-02"], "CASE-I1", now());
    let first = client.submit_interview(&interview).await.unwrap();
    assert!(client.submit_interview(&interview).await.unwrap().replayed);
    let mut changed = interview.clone();
    changed.platform_session_ref = "other".into();
    assert_eq!(
        refusal(client.submit_interview(&changed).await.unwrap_err()).conflicting_seq,
        first.server_seq
    );

    let cases: Vec<RuleCase<pb::InterviewRecord>> = vec![
        (
            "interviewer_ids",
            Box::new(|r| r.interviewer_ids.truncate(1)),
            Code::InvalidArgument,
        ),
        (
            "ended_at_ms",
            Box::new(|r| r.ended_at_ms = r.started_at_ms - 1),
            Code::InvalidArgument,
        ),
        (
            "rights_notice_at_ms",
            Box::new(|r| r.rights_notice_at_ms = r.started_at_ms + 1),
            Code::InvalidArgument,
        ),
        (
            "transcript_sha256",
            Box::new(|r| r.transcript_sha256 = vec![0; 3]),
            Code::InvalidArgument,
        ),
        (
            "interviewer_ids[1]",
            Box::new(|r| r.interviewer_ids[1] = "supervisor-01".into()),
            Code::InvalidArgument,
        ),
        (
            "interviewer_ids[1]",
            Box::new(|r| r.interviewer_ids[1] = "officer-99".into()),
            Code::InvalidArgument,
        ),
        (
            "interviewer_ids",
            Box::new(|r| r.interviewer_ids = vec!["officer-02".into(), "officer-03".into()]),
            Code::PermissionDenied,
        ),
    ];
    for (field, break_rule, code) in cases {
        let mut record = example_interview(["officer-01", "officer-02"], "CASE-I1", now());
        break_rule(&mut record);
        let status = refusal(client.submit_interview(&record).await.unwrap_err());
        assert_eq!(
            (status.code_or_unknown(), status.field.as_str()),
            (code, field),
            "{status}"
        );
    }
    assert_eq!(server.item_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_view_lists_every_kind_in_time_order_for_the_team_and_supervisors() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let case = "CASE-2026-0042";
    let t = now();
    let mut inspection = record("officer-01");
    inspection.case_id = case.into();
    inspection.started_at_ms = t - 5 * 3600 * 1000;
    inspection.ended_at_ms = t - 4 * 3600 * 1000;
    let mut service = example_service("officer-01", case, t);
    service.sent_at_ms = t - 3 * 3600 * 1000;
    service.consent.as_mut().unwrap().signed_at_ms = t - 4 * 3600 * 1000;
    service.delivered_at_ms = 0;
    let interview = example_interview(["officer-01", "officer-02"], case, t); // started t - 1 h
                                                                              // Submitted out of time order on purpose.
    client.submit_interview(&interview).await.unwrap();
    client.submit_service(&service).await.unwrap();
    client.submit_inspection(&inspection).await.unwrap();
    client
        .submit_service_event(&event(
            &service.id,
            ServiceEventKind::Delivered,
            t - 2 * 3600 * 1000,
        ))
        .await
        .unwrap();
    let jpeg = {
        let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut out)
            .encode_image(&image)
            .unwrap();
        out
    };
    let photo = fieldlink_client::PhotoUpload::new(&inspection.id, "image/jpeg", t - 270 * 60 * 1000, jpeg)
        .in_case(case);
    client.upload_photo(&photo, |_| {}).await.unwrap();
    // Another case's item does not show.
    client
        .submit_service(&example_service("officer-01", "OTHER-CASE", t))
        .await
        .unwrap();

    let items = client.case_items(case).await.unwrap().items;
    let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["inspection", "photo", "service", "service_event", "interview"]
    );
    assert!(items
        .windows(2)
        .all(|w| w[0].occurred_at_ms <= w[1].occurred_at_ms));
    assert!(items.iter().all(|i| i.sha256.len() == 32 && i.server_seq > 0));
    assert_eq!(
        ServiceState::try_from(items[2].service_state).unwrap(),
        ServiceState::Delivered
    );

    // A team-mate sees it; another team's officer does not; the supervisor does.
    let mate = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    assert_eq!(mate.case_items(case).await.unwrap().items.len(), 5);
    let stranger = connect(server.addr(), "device-003", "officer-05").await.unwrap();
    assert!(stranger.case_items(case).await.unwrap().items.is_empty());
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();
    assert_eq!(supervisor.case_items(case).await.unwrap().items.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_case_is_listed_a_page_at_a_time() {
    let server = TestServer::start().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let case = "CASE-BIG";
    const ITEMS: usize = 1_203;
    let mut submitted = Vec::with_capacity(ITEMS);
    for _ in 0..ITEMS {
        let mut item = record("officer-01");
        item.case_id = case.into();
        client.submit_inspection(&item).await.unwrap();
        submitted.push(item.id);
    }
    // Pages of 500 walk the whole case, in order, each item once.
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut query = pb::CaseItemsQuery {
        case_id: case.into(),
        limit: 500,
        after: String::new(),
    };
    loop {
        let page = client.case_items_page(&query).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 500);
        seen.extend(page.items);
        if page.next_after.is_empty() {
            break;
        }
        query.after = page.next_after;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), ITEMS);
    let order: Vec<(i64, u64)> = seen.iter().map(|i| (i.occurred_at_ms, i.server_seq)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in time order, no repeats");
    let mut ids: Vec<&String> = seen.iter().map(|i| &i.item_id).collect();
    ids.sort();
    let mut expected: Vec<&String> = submitted.iter().collect();
    expected.sort();
    assert_eq!(ids, expected);
    // The SDK's whole-case call pages by itself.
    assert_eq!(client.case_items(case).await.unwrap().items.len(), ITEMS);
    // Bad paging is refused with the field.
    for (limit, after, field) in [(1_001, "", "limit"), (10, "x", "after"), (10, "1.x", "after")] {
        let query = pb::CaseItemsQuery {
            case_id: case.into(),
            limit,
            after: after.into(),
        };
        match client.case_items_page(&query).await {
            Err(Error::Rejected(status)) => assert_eq!(
                (status.code_or_unknown(), status.field.as_str()),
                (Code::InvalidArgument, field)
            ),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_officers_reporting_one_delivery_at_once_store_it_once() {
    let server = TestServer::start().await;
    let lead = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mate = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    // Twenty services served by both; each delivery reported by both
    // terminals at the same moment (both pass the check before the commit,
    // and their reports often share one batch).
    let mut won_by_both = 0;
    for round in 0..20 {
        let mut service = example_service("officer-01", "CASE-RACE", now());
        service.officer_ids = vec!["officer-01".into(), "officer-02".into()];
        service.delivered_at_ms = 0;
        lead.submit_service(&service).await.unwrap();
        let ours = event(&service.id, ServiceEventKind::Delivered, now() - 20_000 - round);
        let theirs = event(&service.id, ServiceEventKind::Delivered, now() - 10_000 - round);
        let (a, b) = tokio::join!(
            lead.submit_service_event(&ours),
            mate.submit_service_event(&theirs)
        );
        match (a, b) {
            (Ok(_), Err(error)) | (Err(error), Ok(_)) => {
                let status = refusal(error);
                assert_eq!(
                    (status.code_or_unknown(), status.field.as_str()),
                    (Code::FailedPrecondition, "kind")
                );
            }
            (Ok(_), Ok(_)) => won_by_both += 1,
            (Err(a), Err(b)) => panic!("both refused: {a:?} / {b:?}"),
        }
    }
    assert_eq!(won_by_both, 0, "a delivery stored twice");
    // Each service is delivered once in the case view.
    let items = lead.case_items("CASE-RACE").await.unwrap();
    let events = items.items.iter().filter(|i| i.kind == "service_event").count();
    assert_eq!(events, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_team_that_opened_a_case_adds_to_it() {
    let server = TestServer::start().await;
    let opener = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mate = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let outsider = connect(server.addr(), "device-003", "officer-05").await.unwrap();
    // officer-01 opens the case with a record; officer-02 (same team) adds
    // a service to it.
    let mut first = record("officer-01");
    first.case_id = "CASE-TEAM-1".into();
    opener.submit_inspection(&first).await.unwrap();
    let service = example_service("officer-02", "CASE-TEAM-1", now());
    mate.submit_service(&service).await.unwrap();
    // officer-05 (another team) may not: a record, an interview or a photo.
    let mut theirs = record("officer-05");
    theirs.case_id = "CASE-TEAM-1".into();
    let status = refusal(outsider.submit_inspection(&theirs).await.unwrap_err());
    assert_eq!(
        (status.code_or_unknown(), status.field.as_str()),
        (Code::PermissionDenied, "case_id")
    );
    let interview = example_interview(["officer-05", "officer-03"], "CASE-TEAM-1", now());
    let status = refusal(outsider.submit_interview(&interview).await.unwrap_err());
    assert_eq!(status.field, "case_id");
    let photo = fieldlink_client::PhotoUpload::new(
        &Uuid::now_v7().to_string(),
        "image/jpeg",
        now() - 60_000,
        fieldlink_tests::photos::jpeg(64, 48, 3),
    )
    .in_case("CASE-TEAM-1");
    let status = refusal(outsider.upload_photo(&photo, |_| {}).await.unwrap_err());
    assert_eq!(status.field, "case_id");
    // Their own case is theirs to open.
    theirs.case_id = "CASE-CHENGBEI-7".into();
    outsider.submit_inspection(&theirs).await.unwrap();
    // The case holds the opener's and the team-mate's items only.
    let items = opener.case_items("CASE-TEAM-1").await.unwrap();
    assert_eq!(items.items.len(), 2);
    // A resend of an item stored before is still answered from storage.
    assert!(opener.submit_inspection(&first).await.unwrap().replayed);
}
