//! The storage suite: every behaviour the services rely on, run against
//! each backend (SQLite always; PostgreSQL against a scratch database, see
//! [`super::scratch_pg`]).

use fieldlink_protocol::pb;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    AssignmentCommit, AssignmentFilter, CommitOutcome, FeedCursor, ItemIndex, ItemKind, NewAssignmentEvent,
    NewItem, PartialUpload,
};
use crate::directory::{Officer, Role, Team};

use super::incident_suite::{
    a_split_opens_an_incident_and_its_reports_follow,
    changes_of_several_incidents_commit_together_or_not_at_all, concurrent_reports_open_one_incident,
    incident_changes_are_version_checked, monitor_packets_stay_out_of_the_evidence_feed,
    reports_join_by_place_category_and_time,
};
pub use super::suite_backend::{postgres, sqlite, Backend};

pub fn inspection(id: Uuid, body: &[u8], case_id: Option<&str>, started_at_ms: i64) -> NewItem {
    NewItem {
        item_id: id,
        kind: ItemKind::Inspection,
        device_id: "device-001".into(),
        officer_id: "officer-01".into(),
        case_id: case_id.map(str::to_owned),
        sha256: Sha256::digest(body).into(),
        body: body.to_vec(),
        capture: None,
        index: ItemIndex::Inspection {
            matter_code: "ZJ-001".into(),
            outcome: 1,
            started_at_ms,
            latitude: 29.8,
            longitude: 121.5,
            assignment_id: None,
            officer_ids: vec!["officer-01".into()],
            photo_ids: vec![],
        },
    }
}

fn assignment_event(
    assignment_id: &str,
    state: pb::AssignmentState,
    audience: &[&str],
) -> NewAssignmentEvent {
    let event_id = Uuid::now_v7();
    NewAssignmentEvent {
        event_id,
        request_sha256: Sha256::digest(event_id.as_bytes()).into(),
        event: pb::AssignmentEvent {
            kind: pb::AssignmentEventKind::Created as i32,
            at_ms: 1_000,
            assignment: Some(pb::Assignment {
                id: assignment_id.to_owned(),
                state: state as i32,
                assignee: Some(pb::assignment::Assignee::TeamId("team-chengnan".into())),
                due_at_ms: 5_000,
                created_at_ms: 1_000,
                ..Default::default()
            }),
            ..Default::default()
        },
        audience: audience.iter().map(|s| (*s).to_owned()).collect(),
    }
}

pub async fn resend_replays_and_changed_bytes_conflict(b: Backend) {
    let storage = &b.storage;
    let id = Uuid::now_v7();
    let first = storage
        .commit_items(&[inspection(id, b"a", None, 1)], 10)
        .await
        .unwrap();
    let CommitOutcome::Stored(receipt) = &first[0] else {
        panic!("{first:?}")
    };
    let again = storage
        .commit_items(
            &[inspection(id, b"a", None, 1), inspection(id, b"b", None, 1)],
            20,
        )
        .await
        .unwrap();
    assert_eq!(again[0], CommitOutcome::Replayed(receipt.clone()));
    assert_eq!(
        again[1],
        CommitOutcome::Conflict {
            existing_seq: receipt.server_seq
        }
    );
    assert_eq!(storage.item_count().await.unwrap(), 1);
    let stored = storage.item(id).await.unwrap().unwrap();
    assert_eq!(stored.body, b"a");
    assert_eq!(stored.receipt, *receipt);
}

pub async fn concurrent_commits_of_one_id_store_it_once(b: Backend) {
    let id = Uuid::now_v7();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let storage = b.storage.clone();
        tasks.push(tokio::spawn(async move {
            storage
                .commit_items(&[inspection(id, b"same", None, 1)], 10)
                .await
        }));
    }
    let mut stored = 0;
    let mut replayed = 0;
    for task in tasks {
        // A failed batch (e.g. a deadlock victim) stores nothing and is retried by clients.
        if let Ok(outcomes) = task.await.unwrap() {
            match &outcomes[0] {
                CommitOutcome::Stored(_) => stored += 1,
                CommitOutcome::Replayed(_) => replayed += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(stored, 1, "stored once");
    assert!(replayed >= 1);
    assert_eq!(b.storage.item_count().await.unwrap(), 1);
}

/// A service event of `kind` (1 delivered, 2 confirmed) for `service`.
fn service_step(id: Uuid, service: Uuid, kind: i32, at_ms: i64) -> NewItem {
    let body = format!("{id} {kind} {at_ms}");
    NewItem {
        item_id: id,
        kind: ItemKind::ServiceEvent,
        device_id: "device-001".into(),
        officer_id: "officer-01".into(),
        case_id: None,
        sha256: Sha256::digest(body.as_bytes()).into(),
        body: body.into_bytes(),
        index: ItemIndex::ServiceEvent {
            service_id: service.to_string(),
            kind,
            at_ms,
        },
        capture: None,
    }
}

pub async fn a_service_step_is_stored_once_whoever_reports_it(b: Backend) {
    let service = Uuid::now_v7();
    let served = NewItem {
        kind: ItemKind::Service,
        index: ItemIndex::Service {
            document_type: 1,
            document_number: "城执罚〔2026〕2号".into(),
            document_sha256: [3; 32],
            channel: 1,
            sent_at_ms: 900,
            delivered_at_ms: None,
            confirmed_at_ms: None,
            officer_ids: vec!["officer-01".into()],
        },
        ..inspection(service, b"service", None, 900)
    };
    b.storage.commit_items(&[served], 5).await.unwrap();
    // Eight terminals report the delivery at the same moment, each in its
    // own batch (on PostgreSQL, as if on eight nodes).
    let mut tasks = Vec::new();
    for index in 0..8i64 {
        let storage = b.storage.clone();
        let step = service_step(Uuid::now_v7(), service, 1, 1_000 + index);
        tasks.push(tokio::spawn(async move {
            (step.item_id, storage.commit_items(&[step], 10).await)
        }));
    }
    let (mut stored, mut taken) = (Vec::new(), 0);
    for task in tasks {
        let (id, result) = task.await.unwrap();
        // A failed batch stores nothing; its client tries again.
        if let Ok(outcomes) = result {
            match &outcomes[0] {
                CommitOutcome::Stored(_) => stored.push(id),
                CommitOutcome::StepTaken { .. } => taken += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(stored.len(), 1, "delivered once");
    assert!(taken >= 1);
    // The winner resent is a replay, a ninth report is told the step is taken.
    let winner = stored[0];
    let again = b
        .storage
        .commit_items(&[service_step(winner, service, 1, 0)], 20)
        .await
        .unwrap();
    assert!(
        matches!(
            &again[0],
            CommitOutcome::Replayed(_) | CommitOutcome::Conflict { .. }
        ),
        "{again:?}"
    );
    let late = b
        .storage
        .commit_items(&[service_step(Uuid::now_v7(), service, 1, 5_000)], 20)
        .await
        .unwrap();
    assert!(
        matches!(late[0], CommitOutcome::StepTaken { at_ms } if (1_000..1_008).contains(&at_ms)),
        "{late:?}"
    );
    // Within one batch: the first confirmation wins, a copy of it replays,
    // another report of it is told the step is taken, and other items of the
    // batch are stored as usual.
    let first = service_step(Uuid::now_v7(), service, 2, 6_000);
    let second = service_step(Uuid::now_v7(), service, 2, 6_001);
    let record = inspection(Uuid::now_v7(), b"beside", None, 1);
    let outcomes = b
        .storage
        .commit_items(&[first.clone(), second, record, first], 30)
        .await
        .unwrap();
    assert!(matches!(outcomes[0], CommitOutcome::Stored(_)), "{outcomes:?}");
    assert!(
        matches!(outcomes[1], CommitOutcome::StepTaken { at_ms: 6_000 }),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[2], CommitOutcome::Stored(_)), "{outcomes:?}");
    assert!(matches!(outcomes[3], CommitOutcome::Replayed(_)), "{outcomes:?}");
}

pub async fn evidence_is_append_only_in_the_database(b: Backend) {
    let id = Uuid::now_v7();
    // Two leaves: one stored subtree hash besides the leaves themselves.
    b.storage
        .commit_items(
            &[
                inspection(id, b"a", None, 1),
                inspection(Uuid::now_v7(), b"b", None, 1),
            ],
            10,
        )
        .await
        .unwrap();
    b.storage
        .store_checkpoint(&super::StoredCheckpoint {
            tree_size: 1,
            root: [1; 32],
            note: "n".into(),
            signed_at_ms: 1,
        })
        .await
        .unwrap();
    for sql in [
        "UPDATE items SET kind = 'x'",
        "DELETE FROM items",
        "DELETE FROM inspections",
        "UPDATE inspection_officers SET officer_id = 'x'",
        "UPDATE log_leaves SET item_id = 'x'",
        "DELETE FROM log_leaves",
        "DELETE FROM log_hashes",
        "UPDATE log_hashes SET stored_index = stored_index + 100",
        "DELETE FROM log_checkpoints",
    ] {
        assert!(!b.raw.succeeds(sql).await, "{sql} was allowed");
    }
    if b.raw.is_postgres() {
        for table in ["inspections", "log_leaves", "log_hashes"] {
            assert!(
                !b.raw.succeeds(&format!("TRUNCATE {table} CASCADE")).await,
                "TRUNCATE {table} was allowed"
            );
        }
    }
    assert_eq!(b.storage.item(id).await.unwrap().unwrap().body, b"a");
    // Working state is not evidence: partial uploads come and go.
    assert!(b.raw.succeeds("DELETE FROM partial_uploads").await);
}

pub async fn the_case_view_is_in_time_order(b: Backend) {
    let (late, early) = (Uuid::now_v7(), Uuid::now_v7());
    b.storage
        .commit_items(
            &[
                inspection(late, b"late", Some("CASE-1"), 2_000),
                inspection(early, b"early", Some("CASE-1"), 1_000),
            ],
            10,
        )
        .await
        .unwrap();
    let rows = b
        .storage
        .case_items("CASE-1", &super::CasePage::ALL)
        .await
        .unwrap();
    let order: Vec<Uuid> = rows.iter().map(|r| r.receipt.item_id).collect();
    assert_eq!(order, vec![early, late]);
    assert_eq!(rows[0].occurred_at_ms, 1_000);
    assert!(b
        .storage
        .case_items("CASE-NONE", &super::CasePage::ALL)
        .await
        .unwrap()
        .is_empty());
}

pub async fn cases_are_listed_most_recent_first_and_filtered(b: Backend) {
    let mut by_other = inspection(Uuid::now_v7(), b"c", Some("CASE-B"), 3_000);
    by_other.officer_id = "officer-02".into();
    b.storage
        .commit_items(
            &[
                inspection(Uuid::now_v7(), b"a1", Some("ZF-2026-a_1"), 1_000),
                inspection(Uuid::now_v7(), b"b1", Some("CASE-B"), 1_500),
                inspection(Uuid::now_v7(), b"none", None, 1_600),
                inspection(Uuid::now_v7(), b"a2", Some("ZF-2026-a_1"), 2_000),
                by_other,
            ],
            10,
        )
        .await
        .unwrap();
    let list = |filter: super::CaseFilter| {
        let storage = b.storage.clone();
        async move {
            let cases = storage.case_summaries(&filter).await.unwrap();
            cases
                .into_iter()
                .map(|c| (c.case_id, c.items))
                .collect::<Vec<_>>()
        }
    };
    let all = super::CaseFilter {
        limit: 10,
        ..Default::default()
    };
    // CASE-B's latest item came last; items without a case are no case.
    assert_eq!(
        list(all.clone()).await,
        vec![("CASE-B".to_owned(), 2), ("ZF-2026-a_1".to_owned(), 2)]
    );
    let first = b.storage.case_summaries(&all).await.unwrap();
    assert!(first[0].first_at_ms <= first[0].last_at_ms);
    // Paging: the next page starts below the last case's latest seq.
    let page = super::CaseFilter {
        limit: 1,
        ..all.clone()
    };
    let one = b.storage.case_summaries(&page).await.unwrap();
    assert_eq!(one.len(), 1);
    let next = super::CaseFilter {
        before_seq: Some(one[0].last_seq),
        ..page
    };
    assert_eq!(list(next).await, vec![("ZF-2026-a_1".to_owned(), 2)]);
    // By id, in any case of letters, with LIKE's wildcards taken literally.
    let by_id = |text: &str| super::CaseFilter {
        id_contains: Some(text.to_owned()),
        ..all.clone()
    };
    assert_eq!(list(by_id("zf-2026")).await, vec![("ZF-2026-a_1".to_owned(), 2)]);
    assert_eq!(list(by_id("a_1")).await, vec![("ZF-2026-a_1".to_owned(), 2)]);
    assert_eq!(list(by_id("a%")).await, vec![]);
    assert_eq!(list(by_id("2026_")).await, vec![]);
    // By officer: a case any of them worked on, with all of its items counted.
    let by_officer = super::CaseFilter {
        officer_ids: Some(vec!["officer-02".into()]),
        ..all.clone()
    };
    assert_eq!(list(by_officer).await, vec![("CASE-B".to_owned(), 2)]);
    let nobody = super::CaseFilter {
        officer_ids: Some(vec![]),
        ..all
    };
    assert_eq!(list(nobody).await, vec![]);
}

pub async fn assignment_events_are_version_checked_and_fed_in_order(b: Backend) {
    let storage = &b.storage;
    let id = Uuid::now_v7().to_string();
    let created = assignment_event(
        &id,
        pb::AssignmentState::Dispatched,
        &["officer-01", "officer-02"],
    );
    let AssignmentCommit::Committed { seq: first } =
        storage.commit_assignment_event(None, &created).await.unwrap()
    else {
        panic!("not committed")
    };
    // Creating it again, or updating from a stale version, conflicts.
    let again = assignment_event(&id, pb::AssignmentState::Dispatched, &[]);
    assert_eq!(
        storage.commit_assignment_event(None, &again).await.unwrap(),
        AssignmentCommit::VersionConflict
    );
    let stale = assignment_event(&id, pb::AssignmentState::Accepted, &["officer-01"]);
    assert_eq!(
        storage
            .commit_assignment_event(Some(first + 100), &stale)
            .await
            .unwrap(),
        AssignmentCommit::VersionConflict
    );
    let AssignmentCommit::Committed { seq: second } = storage
        .commit_assignment_event(Some(first), &stale)
        .await
        .unwrap()
    else {
        panic!("not committed")
    };
    assert!(second > first);
    assert_eq!(
        storage
            .commit_assignment_event(Some(second), &stale)
            .await
            .unwrap(),
        AssignmentCommit::DuplicateEventId
    );

    let stored = storage
        .assignment(Uuid::parse_str(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, second);
    assert_eq!(stored.assignment.state, pb::AssignmentState::Accepted as i32);
    let recorded = storage
        .assignment_event_by_id(stale.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.seq, second);

    let for_two: Vec<u64> = storage
        .feed_events(Some("officer-02"), 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(for_two, vec![first]);
    let all: Vec<u64> = storage
        .feed_events(None, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(all, vec![first, second]);
    let with_audience = storage.events_with_audience(0, 100).await.unwrap();
    assert_eq!(
        with_audience[0].1,
        vec!["officer-01".to_owned(), "officer-02".to_owned()]
    );
    assert_eq!(with_audience[1].1, vec!["officer-01".to_owned()]);
    assert_eq!(storage.latest_assignment_seq().await.unwrap(), second);
    assert_eq!(storage.events_with_audience(second, 100).await.unwrap().len(), 0);

    let listed = storage
        .list_assignments(&AssignmentFilter {
            state: Some(pb::AssignmentState::Accepted as i32),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let overdue = storage.overdue_assignments(10_000).await.unwrap();
    assert_eq!(overdue.len(), 1, "due at 5,000, not done, not yet marked");
}

pub async fn concurrent_updates_from_one_version_let_exactly_one_win(b: Backend) {
    let id = Uuid::now_v7().to_string();
    let created = assignment_event(&id, pb::AssignmentState::Dispatched, &[]);
    let AssignmentCommit::Committed { seq } =
        b.storage.commit_assignment_event(None, &created).await.unwrap()
    else {
        panic!("not committed")
    };
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let storage = b.storage.clone();
        let accept = assignment_event(&id, pb::AssignmentState::Accepted, &[]);
        tasks.push(tokio::spawn(async move {
            storage.commit_assignment_event(Some(seq), &accept).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            AssignmentCommit::Committed { .. } => won += 1,
            AssignmentCommit::VersionConflict => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
}

pub async fn feed_cursors_only_move_forward(b: Backend) {
    let storage = &b.storage;
    let cursor = |officer: &str, device: &str, cursor: u64| FeedCursor {
        officer_id: officer.into(),
        device_id: device.into(),
        cursor,
    };
    assert_eq!(storage.feed_cursor("officer-01", "device-001").await.unwrap(), 0);
    storage
        .store_feed_cursors(&[cursor("officer-01", "device-001", 7)], 1)
        .await
        .unwrap();
    storage
        .store_feed_cursors(&[cursor("officer-01", "device-001", 5)], 2)
        .await
        .unwrap();
    assert_eq!(storage.feed_cursor("officer-01", "device-001").await.unwrap(), 7);
    assert_eq!(storage.feed_cursor("officer-01", "device-002").await.unwrap(), 0);
    // One batch: several terminals, one of them twice (the larger wins,
    // whichever comes first), one moving backwards (kept where it was).
    storage
        .store_feed_cursors(
            &[
                cursor("officer-02", "device-002", 12),
                cursor("officer-01", "device-001", 3),
                cursor("officer-02", "device-002", 9),
                cursor("officer-03", "device-003", 4),
            ],
            3,
        )
        .await
        .unwrap();
    assert_eq!(storage.feed_cursor("officer-02", "device-002").await.unwrap(), 12);
    assert_eq!(storage.feed_cursor("officer-01", "device-001").await.unwrap(), 7);
    assert_eq!(storage.feed_cursor("officer-03", "device-003").await.unwrap(), 4);
    // More terminals than one statement holds.
    let many: Vec<FeedCursor> = (0..1_200)
        .map(|i| cursor(&format!("officer-x{i}"), "device-001", i + 1))
        .collect();
    storage.store_feed_cursors(&many, 4).await.unwrap();
    assert_eq!(
        storage.feed_cursor("officer-x1199", "device-001").await.unwrap(),
        1_200
    );
    assert_eq!(storage.feed_cursor("officer-x0", "device-001").await.unwrap(), 1);
}

pub async fn partial_uploads_come_and_go(b: Backend) {
    let storage = &b.storage;
    let id = Uuid::now_v7();
    let upload = PartialUpload {
        evidence_id: id,
        device_id: "device-001".into(),
        officer_id: "officer-01".into(),
        header_sha256: [7; 32],
        size_bytes: 1_000,
        durable_offset: 0,
        created_at_ms: 1,
        updated_at_ms: 1,
    };
    storage.put_partial_upload(&upload).await.unwrap();
    // Replacing it (a restart from 0) keeps one row.
    storage
        .put_partial_upload(&PartialUpload {
            size_bytes: 2_000,
            ..upload.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        storage.partial_bytes_for_device("device-001").await.unwrap(),
        2_000
    );
    assert_eq!(storage.partial_bytes_for_device("device-002").await.unwrap(), 0);
    storage
        .set_partial_offset("device-001", id, 512, 50)
        .await
        .unwrap();
    let held = storage.partial_upload("device-001", id).await.unwrap().unwrap();
    assert_eq!((held.durable_offset, held.updated_at_ms), (512, 50));
    assert!(storage.partial_upload("device-002", id).await.unwrap().is_none());
    assert_eq!(storage.stale_partial_uploads(51).await.unwrap().len(), 1);
    assert_eq!(storage.stale_partial_uploads(50).await.unwrap().len(), 0);
    storage.delete_partial_upload("device-001", id).await.unwrap();
    assert!(storage.partial_upload("device-001", id).await.unwrap().is_none());
}

/// A stored photo's commit ends its upload in the same transaction: the
/// partial upload row and the lease the upload took on the blob (held under
/// the photo's id) go; other uploads and other holders' leases stay. A
/// replay deletes nothing.
pub async fn a_stored_photo_ends_its_upload_and_its_blob_lease(b: Backend) {
    let storage = &b.storage;
    let (photo, other) = (Uuid::now_v7(), Uuid::now_v7());
    let body = b"photo bytes".to_vec();
    let sha256: [u8; 32] = Sha256::digest(&body).into();
    let start_upload = |evidence_id: Uuid, device_id: &str| {
        let row = PartialUpload {
            evidence_id,
            device_id: device_id.into(),
            officer_id: "officer-01".into(),
            header_sha256: sha256,
            size_bytes: 11,
            durable_offset: 0,
            created_at_ms: 1,
            updated_at_ms: 1,
        };
        async move {
            storage.put_partial_upload(&row).await.unwrap();
            storage
                .take_blob_lease(&sha256, &evidence_id.to_string(), i64::MAX)
                .await
                .unwrap();
        }
    };
    let held = |device_id: &'static str, evidence_id: Uuid| async move {
        storage
            .partial_upload(device_id, evidence_id)
            .await
            .unwrap()
            .is_some()
    };
    let leases = |holder: Uuid| {
        b.raw.count_owned(format!(
            "SELECT COUNT(*) FROM blob_leases WHERE holder = '{holder}'"
        ))
    };
    start_upload(photo, "device-001").await;
    start_upload(other, "device-001").await;
    // The same evidence id from another device is another upload.
    storage
        .put_partial_upload(&PartialUpload {
            device_id: "device-002".into(),
            ..storage
                .partial_upload("device-001", photo)
                .await
                .unwrap()
                .unwrap()
        })
        .await
        .unwrap();
    let item = NewItem {
        item_id: photo,
        kind: ItemKind::Photo,
        device_id: "device-001".into(),
        officer_id: "officer-01".into(),
        case_id: None,
        sha256,
        body,
        index: ItemIndex::Photo(super::PhotoIndex {
            record_id: Uuid::now_v7().to_string(),
            size_bytes: 11,
            sm3: [7; 32],
            content_type: "image/jpeg".into(),
            width: 1,
            height: 1,
            captured_at_ms: 900,
            position: None,
            exif_time_ms: None,
            exif_position: None,
            flags: Vec::new(),
            duration_ms: None,
            codecs: None,
            container_time_ms: None,
        }),
        capture: None,
    };
    let outcomes = storage
        .commit_items(std::slice::from_ref(&item), 10)
        .await
        .unwrap();
    assert!(matches!(outcomes[0], CommitOutcome::Stored(_)), "{outcomes:?}");
    assert!(!held("device-001", photo).await);
    assert!(held("device-001", other).await);
    assert!(held("device-002", photo).await);
    assert_eq!((leases(photo).await, leases(other).await), (0, 1));

    // A replay of the stored photo leaves another attempt's rows alone.
    start_upload(photo, "device-001").await;
    let outcomes = storage.commit_items(&[item], 11).await.unwrap();
    assert!(matches!(outcomes[0], CommitOutcome::Replayed(_)), "{outcomes:?}");
    assert!(held("device-001", photo).await);
    assert_eq!(leases(photo).await, 1);
}

pub async fn directory_tokens_and_revocations_round_trip(b: Backend) {
    let storage = &b.storage;
    let team = Team {
        id: "team-x".into(),
        name: "城南中队".into(),
    };
    let officer = Officer {
        id: "officer-x".into(),
        name: "张三".into(),
        team_id: "team-x".into(),
        credential_number: Some("ZJ-0001".into()),
        credential_valid_from: None,
        credential_valid_until: None,
        role: Role::Officer,
        password_hash: "hash".into(),
        enrolled: true,
    };
    storage
        .upsert_directory(&[team], std::slice::from_ref(&officer))
        .await
        .unwrap();
    storage
        .upsert_directory(
            &[],
            &[Officer {
                enrolled: false,
                ..officer
            }],
        )
        .await
        .unwrap();
    let (teams, officers) = storage.load_directory().await.unwrap();
    assert_eq!(teams.len(), 1);
    assert!(!officers[0].enrolled);
    // Credentials keep their history: what was recorded by a time is what
    // the directory held then.
    let first_recorded = storage
        .credentials_recorded_by(&["officer-x".into()], i64::MAX)
        .await
        .unwrap();
    assert_eq!(first_recorded[0].1.credential_number, "ZJ-0001");
    let before_change = crate::clock::system_clock_ms();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    storage
        .upsert_directory(
            &[],
            &[Officer {
                credential_number: Some("ZJ-0002".into()),
                credential_valid_until: Some("2030-12-31".into()),
                ..officers[0].clone()
            }],
        )
        .await
        .unwrap();
    // The same again records nothing new.
    storage
        .upsert_directory(
            &[],
            &[Officer {
                credential_number: Some("ZJ-0002".into()),
                credential_valid_until: Some("2030-12-31".into()),
                ..officers[0].clone()
            }],
        )
        .await
        .unwrap();
    let then = storage
        .credentials_recorded_by(&["officer-x".into(), "nobody".into()], before_change)
        .await
        .unwrap();
    assert_eq!(then.len(), 1);
    assert_eq!(then[0].1.credential_number, "ZJ-0001");
    let now = storage
        .credentials_recorded_by(&["officer-x".into()], i64::MAX)
        .await
        .unwrap();
    assert_eq!(now[0].1.credential_number, "ZJ-0002");
    assert_eq!(now[0].1.valid_until.as_deref(), Some("2030-12-31"));
    assert!(now[0].1.in_force_at(before_change));
    assert!(!now[0]
        .1
        .in_force_at(crate::catalogue::day_start_ms("2031-01-01").unwrap()));
    let (_, reloaded) = storage.load_directory().await.unwrap();
    assert_eq!(reloaded[0].credential_valid_until.as_deref(), Some("2030-12-31"));
    assert!(!b.raw.succeeds("DELETE FROM credential_history").await);
    let officers = reloaded;
    // A directory without someone disables them (enrolled ones only), never deletes.
    let other = |id: &str| Officer {
        id: id.into(),
        enrolled: true,
        ..officers[0].clone()
    };
    storage
        .upsert_directory(&[], &[other("officer-y"), other("officer-z")])
        .await
        .unwrap();
    assert_eq!(
        storage
            .disable_officers_not_in(&["officer-y".into()])
            .await
            .unwrap(),
        ["officer-z"]
    );
    let (_, after) = storage.load_directory().await.unwrap();
    let enrolled: Vec<(&str, bool)> = after.iter().map(|o| (o.id.as_str(), o.enrolled)).collect();
    assert_eq!(
        enrolled,
        [("officer-x", false), ("officer-y", true), ("officer-z", false)]
    );

    let token = super::SessionToken {
        officer_id: "officer-x".into(),
        device_id: "device-001".into(),
        expires_at_ms: 100,
        revoked_at_ms: None,
    };
    storage.insert_session_token(&[1; 32], &token, 1).await.unwrap();
    assert_eq!(storage.session_token(&[1; 32]).await.unwrap(), Some(token));
    assert_eq!(storage.revoke_session_tokens("officer-x", 5).await.unwrap(), 1);
    assert_eq!(storage.tokens_revoked_since(5).await.unwrap(), [vec![1u8; 32]]);
    assert!(storage.tokens_revoked_since(6).await.unwrap().is_empty());
    assert_eq!(
        storage
            .session_token(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(5)
    );

    storage
        .note_device_certificate("device-009", "0a0b", 1)
        .await
        .unwrap();
    storage
        .note_device_certificate("device-009", "0a0b", 2)
        .await
        .unwrap();
    assert_eq!(
        storage
            .record_revocations(&["0a0b".into(), "ffff".into()], 10)
            .await
            .unwrap(),
        vec!["device-009".to_owned()]
    );
    assert!(storage
        .record_revocations(&["0a0b".into()], 20)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(storage.device_revoked_at("device-009").await.unwrap(), Some(10));
    assert_eq!(storage.device_revoked_at("device-001").await.unwrap(), None);
    storage
        .note_device_certificate("device-008", "0c0d", 3)
        .await
        .unwrap();
    let listed: Vec<(String, String, i64, Option<i64>)> = storage
        .devices()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.device_id, d.serial_hex, d.first_seen_ms, d.revoked_at_ms))
        .collect();
    assert_eq!(
        listed,
        [
            ("device-008".into(), "0c0d".into(), 3, None),
            ("device-009".into(), "0a0b".into(), 1, Some(10)),
        ]
    );
}

pub async fn console_lists_recent_items_histories_and_positions(b: Backend) {
    let storage = &b.storage;
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (index, id) in ids.iter().enumerate() {
        storage
            .commit_items(&[inspection(*id, &[index as u8], None, 1_000 + index as i64)], 10)
            .await
            .unwrap();
    }
    let recent = storage.recent_items(None, 2).await.unwrap();
    assert_eq!(
        recent.iter().map(|i| i.receipt.item_id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let older = storage
        .recent_items(Some(recent[1].receipt.server_seq), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].receipt.item_id, ids[0]);
    assert_eq!(older[0].kind, "inspection");
    // The latest record's place is the officer's last position.
    let positions = storage.last_positions().await.unwrap();
    assert_eq!(positions, vec![("officer-01".to_owned(), 29.8, 121.5, 1_002)]);

    let id = Uuid::now_v7();
    let created = assignment_event(&id.to_string(), pb::AssignmentState::Dispatched, &[]);
    let AssignmentCommit::Committed { seq } = storage.commit_assignment_event(None, &created).await.unwrap()
    else {
        panic!("not committed")
    };
    let accepted = assignment_event(&id.to_string(), pb::AssignmentState::Accepted, &[]);
    storage
        .commit_assignment_event(Some(seq), &accepted)
        .await
        .unwrap();
    let history = storage.assignment_history(id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[0].seq < history[1].seq);
    assert!(storage
        .assignment_history(Uuid::now_v7())
        .await
        .unwrap()
        .is_empty());
}

pub async fn presence_is_summed_over_fresh_nodes(b: Backend) {
    let storage = &b.storage;
    storage
        .record_presence(
            "node-a",
            &[("officer-01".into(), 1, 100), ("officer-02".into(), 0, 90)],
            1_000,
        )
        .await
        .unwrap();
    storage
        .record_presence("node-b", &[("officer-01".into(), 2, 150)], 5_000)
        .await
        .unwrap();
    // Both fresh: sessions add up, last seen is the latest.
    let all = storage.presence("node-z", 0).await.unwrap();
    assert_eq!(
        all,
        vec![("officer-01".into(), 3, 150), ("officer-02".into(), 0, 90)]
    );
    // Node A stopped writing: its sessions no longer count.
    let fresh = storage.presence("node-z", 2_000).await.unwrap();
    assert_eq!(fresh[0], ("officer-01".into(), 2, 150));
    // A node's later write replaces its rows.
    storage
        .record_presence("node-b", &[("officer-01".into(), 0, 6_000)], 6_000)
        .await
        .unwrap();
    assert_eq!(
        storage.presence("node-z", 2_000).await.unwrap()[0],
        ("officer-01".into(), 0, 6_000)
    );
    // A node leaves its own rows out (it adds its live counts itself).
    assert_eq!(
        storage.presence("node-b", 0).await.unwrap()[0],
        ("officer-01".into(), 1, 100)
    );
}

/// One test per suite function, per backend.
pub async fn a_batch_of_events_is_checked_in_order_in_one_transaction(b: Backend) {
    let (first, second) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let created = assignment_event(&first, pb::AssignmentState::Dispatched, &["officer-01"]);
    let other = assignment_event(&second, pb::AssignmentState::Dispatched, &["officer-02"]);
    let outcomes = b
        .storage
        .commit_assignment_events(&[(None, &created), (None, &created), (None, &other)])
        .await
        .unwrap();
    let [AssignmentCommit::Committed { seq: one }, AssignmentCommit::DuplicateEventId, AssignmentCommit::Committed { seq: two }] =
        outcomes[..]
    else {
        panic!("{outcomes:?}")
    };
    assert!(two > one, "seq follows the batch's order");
    // Two changes of one assignment from the same version in one batch:
    // the second sees the first's write and conflicts.
    let accepted = assignment_event(&first, pb::AssignmentState::Accepted, &["officer-01"]);
    let rejected = assignment_event(&first, pb::AssignmentState::Rejected, &["officer-01"]);
    let outcomes = b
        .storage
        .commit_assignment_events(&[(Some(one), &accepted), (Some(one), &rejected)])
        .await
        .unwrap();
    assert!(
        matches!(outcomes[0], AssignmentCommit::Committed { .. }),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], AssignmentCommit::VersionConflict);
    let stored = b
        .storage
        .assignment(Uuid::parse_str(&first).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.assignment.state, pb::AssignmentState::Accepted as i32);
    // Every committed event is in the feed of its audience, in seq order.
    let fed = b.storage.feed_events(Some("officer-01"), 0, 10).await.unwrap();
    assert_eq!(fed.len(), 2);
    assert!(fed[0].seq < fed[1].seq);
    assert_eq!(
        b.storage
            .feed_events(Some("officer-02"), 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// One batch of every kind (with a resend and a conflicting copy inside it)
/// indexes each; photos, thumbnails and blob references read back; a stored
/// dimension too large for the type is reported, not narrowed.
pub async fn a_mixed_batch_indexes_every_kind(b: Backend) {
    let storage = &b.storage;
    let (record, photo, service, interview) =
        (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut with_photo = inspection(record, b"record", Some("CASE-M"), 1_000);
    if let ItemIndex::Inspection {
        officer_ids,
        photo_ids,
        ..
    } = &mut with_photo.index
    {
        officer_ids.push("officer-02".into());
        photo_ids.push(photo.to_string());
    }
    let item = |id: Uuid, kind: ItemKind, body: &[u8], index: ItemIndex| NewItem {
        item_id: id,
        kind,
        device_id: "device-001".into(),
        officer_id: "officer-01".into(),
        case_id: Some("CASE-M".into()),
        sha256: Sha256::digest(body).into(),
        body: body.to_vec(),
        index,
        capture: None,
    };
    let photo_index = super::PhotoIndex {
        record_id: record.to_string(),
        size_bytes: 482_113,
        sm3: [7; 32],
        content_type: "image/jpeg".into(),
        width: 4_000,
        height: 3_000,
        captured_at_ms: 900,
        position: Some((29.86, 121.54)),
        exif_time_ms: Some(899),
        exif_position: None,
        flags: vec![pb::EvidenceFlag::ExifGpsMissing as i32],
        duration_ms: None,
        codecs: None,
        container_time_ms: None,
    };
    // The service came with a device capture signature.
    let capture = super::DeviceCapture {
        scheme: 0x0403,
        statement: vec![1; 40],
        signature: vec![2; 70],
        certificate: vec![3; 300],
    };
    let batch = [
        with_photo.clone(),
        item(
            photo,
            ItemKind::Photo,
            b"photo",
            ItemIndex::Photo(photo_index.clone()),
        ),
        super::NewItem {
            capture: Some(capture.clone()),
            ..item(
                service,
                ItemKind::Service,
                b"service",
                ItemIndex::Service {
                    document_type: 1,
                    document_number: "城执罚〔2026〕1号".into(),
                    document_sha256: [3; 32],
                    channel: 1,
                    sent_at_ms: 1_100,
                    delivered_at_ms: None,
                    confirmed_at_ms: None,
                    officer_ids: vec!["officer-02".into(), "officer-01".into()],
                },
            )
        },
        item(
            interview,
            ItemKind::Interview,
            b"interview",
            ItemIndex::Interview {
                started_at_ms: 1_200,
                ended_at_ms: 1_300,
                interviewer_ids: vec!["officer-01".into(), "officer-03".into()],
            },
        ),
        with_photo.clone(),
        inspection(record, b"other bytes", Some("CASE-M"), 1_000),
    ];
    let outcomes = storage.commit_items(&batch, 10).await.unwrap();
    let stored_seq = match &outcomes[0] {
        CommitOutcome::Stored(receipt) => receipt.server_seq,
        other => panic!("{other:?}"),
    };
    assert!(
        outcomes[1..4]
            .iter()
            .all(|o| matches!(o, CommitOutcome::Stored(_))),
        "{outcomes:?}"
    );
    assert!(matches!(&outcomes[4], CommitOutcome::Replayed(r) if r.server_seq == stored_seq));
    assert!(matches!(outcomes[5], CommitOutcome::Conflict { existing_seq } if existing_seq == stored_seq));
    assert_eq!(storage.item_count().await.unwrap(), 4);

    let links = storage.record_links(record).await.unwrap();
    assert_eq!(links.creator, Some(("device-001".into(), "officer-01".into())));
    assert_eq!(links.listed, vec![photo.to_string()]);
    assert_eq!(links.naming.len(), 1);
    let stored = storage.photo(photo).await.unwrap().unwrap();
    assert_eq!(stored.index, photo_index);
    let history = storage.service_history(service).await.unwrap().unwrap();
    assert_eq!(history.officer_ids, ["officer-01", "officer-02"]);
    // The capture signature is stored with the item and is in its leaf.
    assert_eq!(
        storage.item(service).await.unwrap().unwrap().capture,
        Some(capture.clone())
    );
    assert_eq!(storage.item(interview).await.unwrap().unwrap().capture, None);
    let (_, data) = storage.log_leaf(service).await.unwrap().unwrap();
    let leaf = fieldlink_protocol::log::Leaf::decode(&data).unwrap();
    assert_eq!(leaf.capture, Some(capture.leaf_capture()));

    // Custody events: stored with their leaf, found by id and by item.
    let event = pb::CustodyEvent {
        event_id: Uuid::now_v7().to_string(),
        action: "export".into(),
        actor: "clerk-01".into(),
        origin: "test".into(),
        at_ms: 2_000,
        case_id: "CASE-M".into(),
        item_ids: vec![record.to_string(), service.to_string(), record.to_string()],
        ..Default::default()
    };
    let custody = storage.record_custody(&event).await.unwrap();
    assert_eq!(custody.seq, 1);
    let (index, data) = storage
        .log_leaf(Uuid::parse_str(&event.event_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(index, custody.leaf_index);
    let leaf = fieldlink_protocol::log::Leaf::decode(&data).unwrap();
    assert_eq!(leaf.kind, fieldlink_protocol::log::LeafKind::Custody);
    assert_eq!((leaf.officer_id.as_str(), leaf.server_seq), ("clerk-01", 1));
    assert_eq!(
        storage
            .custody_event(Uuid::parse_str(&event.event_id).unwrap())
            .await
            .unwrap(),
        Some(custody.clone())
    );
    assert_eq!(
        storage.item_custody(record, None, 10).await.unwrap(),
        vec![custody.clone()]
    );
    assert_eq!(storage.item_custody(photo, None, 10).await.unwrap(), vec![]);
    // Filtered by action: only that action's events.
    assert_eq!(
        storage.item_custody(record, Some("export"), 10).await.unwrap(),
        vec![custody.clone()]
    );
    assert_eq!(
        storage
            .item_custody(record, Some("review_flag"), 10)
            .await
            .unwrap(),
        vec![]
    );
    // Append-only, like the evidence.
    assert!(
        !b.raw
            .succeeds("UPDATE custody_events SET actor = 'someone else'")
            .await
    );
    assert!(!b.raw.succeeds("DELETE FROM device_captures").await);
    let kinds: Vec<String> = storage
        .case_items("CASE-M", &super::CasePage::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.kind)
        .collect();
    assert_eq!(kinds, ["photo", "inspection", "service", "interview"]);

    let thumbnail: [u8; 32] = Sha256::digest(b"thumbnail").into();
    storage
        .insert_thumbnail(photo, &thumbnail, 320, 240, 20)
        .await
        .unwrap();
    storage.insert_thumbnail(photo, &[1; 32], 1, 1, 30).await.unwrap();
    assert_eq!(storage.thumbnail(photo).await.unwrap(), Some(thumbnail));
    assert_eq!(storage.thumbnail(record).await.unwrap(), None);
    assert!(storage.blob_is_referenced(&stored.receipt.sha256).await.unwrap());
    assert!(storage.blob_is_referenced(&thumbnail).await.unwrap());
    assert!(!storage.blob_is_referenced(&[9; 32]).await.unwrap());

    // A width no u32 holds, written behind the storage's back.
    let wide = Uuid::now_v7();
    storage
        .commit_items(&[inspection(wide, b"wide", None, 1)], 40)
        .await
        .unwrap();
    assert!(
        b.raw
            .succeeds(&format!(
                "INSERT INTO photos (item_id, record_id, size_bytes, sha256, sm3, content_type, width, height, \
                 captured_at_ms, flags) SELECT item_id, 'r', 1, sha256, sha256, 'image/jpeg', 5000000000, 1, 1, '' \
                 FROM items WHERE item_id = '{wide}'"
            ))
            .await
    );
    match storage.photo(wide).await {
        Err(super::StorageError::Corrupt(detail)) => assert!(detail.contains("width"), "{detail}"),
        other => panic!("expected a corrupt width, got {other:?}"),
    }
}

/// Every commit appends its leaves in order; roots, inclusion and
/// consistency proofs served from the stored hashes check out at the sizes
/// that matter (1, 2, 3, 7, 8, 1,000), against RFC 9162's definition of the
/// root computed here from the leaves themselves.
pub async fn the_log_grows_with_every_commit_and_proves_each_leaf(b: Backend) {
    use crate::transparency;
    use fieldlink_protocol::log::{self, Checkpoint};
    let storage = b.storage.as_ref();
    fn root_of(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => log::leaf_hash(&leaves[0]),
            n => {
                let k = n.next_power_of_two() / 2;
                log::node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
            }
        }
    }
    let head = |size: u64, root: [u8; 32]| Checkpoint {
        origin: "t".into(),
        size,
        root,
        note: String::new(),
    };
    assert_eq!(storage.log_size().await.unwrap(), 0);
    assert_eq!(transparency::root_at(storage, 0).await.unwrap(), root_of(&[]));
    let mut previous: Option<Checkpoint> = None;
    for (batch, size) in [(1, 1), (1, 2), (1, 3), (4, 7), (1, 8), (992, 1000)] {
        let items: Vec<NewItem> = (0..batch)
            .map(|i| inspection(Uuid::now_v7(), format!("{size}-{i}").as_bytes(), None, 1))
            .collect();
        let outcomes = storage.commit_items(&items, 5).await.unwrap();
        for (offset, outcome) in outcomes.iter().enumerate() {
            let CommitOutcome::Stored(receipt) = outcome else {
                panic!("{outcome:?}")
            };
            let leaf = receipt.leaf.expect("a stored item has a leaf");
            assert_eq!(leaf.index, (size - batch + offset) as u64);
        }
        assert_eq!(storage.log_size().await.unwrap(), size as u64);
        let leaves: Vec<Vec<u8>> = storage
            .log_leaves(0, 2_000)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, data)| data)
            .collect();
        assert_eq!(leaves.len(), size);
        let root = transparency::root_at(storage, size as u64).await.unwrap();
        assert_eq!(root, root_of(&leaves), "root at {size}");
        let checkpoint = head(size as u64, root);
        for index in (0..size).filter(|i| size < 20 || i % 111 == 0 || *i == size - 1) {
            let proof = transparency::inclusion_proof(storage, index as u64, size as u64)
                .await
                .unwrap();
            let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
            log::verify_inclusion(&leaves[index], index as u64, &proof, &checkpoint).unwrap();
        }
        if let Some(older) = previous.replace(checkpoint.clone()) {
            let proof = transparency::consistency_proof(storage, older.size, checkpoint.size)
                .await
                .unwrap();
            let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
            log::verify_consistency(&older, &checkpoint, &proof).unwrap();
        }
    }
    // A resend adds no leaf; an assignment event adds one.
    let resent = storage
        .commit_items(&[inspection(Uuid::now_v7(), b"x", None, 1)], 6)
        .await
        .unwrap();
    let CommitOutcome::Stored(stored) = &resent[0] else {
        panic!()
    };
    let again = storage
        .commit_items(&[inspection(stored.item_id, b"x", None, 1)], 7)
        .await
        .unwrap();
    assert!(matches!(&again[0], CommitOutcome::Replayed(r) if r.leaf == stored.leaf));
    assert_eq!(storage.log_size().await.unwrap(), 1001);
    let event = assignment_event("asg-log", pb::AssignmentState::Dispatched, &["officer-01"]);
    storage.commit_assignment_events(&[(None, &event)]).await.unwrap();
    let (index, data) = storage.log_leaf(event.event_id).await.unwrap().unwrap();
    assert_eq!(index, 1001);
    let leaf = log::Leaf::decode(&data).unwrap();
    assert_eq!(leaf.kind, log::LeafKind::AssignmentEvent);
    // Checkpoints keep one row per size; the newest is the largest.
    for size in [3, 1002, 3] {
        storage
            .store_checkpoint(&super::StoredCheckpoint {
                tree_size: size,
                root: [size as u8; 32],
                note: format!("note {size}"),
                signed_at_ms: 1,
            })
            .await
            .unwrap();
    }
    assert_eq!(
        storage.latest_checkpoint().await.unwrap().unwrap().tree_size,
        1002
    );
    assert_eq!(storage.checkpoint_at(3).await.unwrap().unwrap().note, "note 3");
    assert!(storage.checkpoint_at(4).await.unwrap().is_none());
}

pub async fn position_tracks_keep_one_point_per_time_list_in_order_and_prune(b: Backend) {
    let storage = &b.storage;
    let fix = |officer: &str, at_ms: i64, latitude: f64| super::PositionFix {
        officer_id: officer.into(),
        device_id: "device-001".into(),
        latitude,
        longitude: 121.5,
        accuracy_m: 5.0,
        speed_mps: 1.5,
        at_ms,
        received_at_ms: at_ms + 10,
    };
    storage.record_track(&[]).await.unwrap();
    storage
        .record_track(&[
            fix("officer-01", 2_000, 29.2),
            fix("officer-01", 1_000, 29.1),
            fix("officer-02", 1_500, 30.0),
        ])
        .await
        .unwrap();
    // The same officer and time again: the first is kept.
    storage
        .record_track(&[fix("officer-01", 2_000, 99.0)])
        .await
        .unwrap();
    let track = storage.track("officer-01", 0, 10_000, 100).await.unwrap();
    assert_eq!(track.iter().map(|p| p.latitude).collect::<Vec<_>>(), [29.1, 29.2]);
    assert_eq!(track[0], fix("officer-01", 1_000, 29.1));
    assert_eq!(
        storage
            .track("officer-01", 1_500, 10_000, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(storage.track("officer-01", 0, 10_000, 1).await.unwrap().len(), 1);
    let mut latest = storage.latest_track_points(0).await.unwrap();
    latest.sort_by(|a, b| a.officer_id.cmp(&b.officer_id));
    assert_eq!(
        latest,
        [fix("officer-01", 2_000, 29.2), fix("officer-02", 1_500, 30.0)]
    );
    // Only the points received from `since_ms` on (officer-02's was at 1,510).
    assert_eq!(
        storage.latest_track_points(1_600).await.unwrap(),
        [fix("officer-01", 2_000, 29.2)]
    );
    // Received before 1,600: officer-01's first point and officer-02's.
    assert_eq!(storage.prune_track(1_600).await.unwrap(), 2);
    assert_eq!(
        storage.latest_track_points(0).await.unwrap(),
        [fix("officer-01", 2_000, 29.2)]
    );
}

macro_rules! backend_suite {
    ($backend:ident) => {
        mod $backend {
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        if let Some(backend) = super::$backend().await {
                            super::$name(backend).await;
                        }
                    }
                };
            }
            case!(resend_replays_and_changed_bytes_conflict);
            case!(concurrent_commits_of_one_id_store_it_once);
            case!(a_service_step_is_stored_once_whoever_reports_it);
            case!(evidence_is_append_only_in_the_database);
            case!(the_case_view_is_in_time_order);
            case!(cases_are_listed_most_recent_first_and_filtered);
            case!(assignment_events_are_version_checked_and_fed_in_order);
            case!(concurrent_updates_from_one_version_let_exactly_one_win);
            case!(a_batch_of_events_is_checked_in_order_in_one_transaction);
            case!(feed_cursors_only_move_forward);
            case!(partial_uploads_come_and_go);
            case!(a_stored_photo_ends_its_upload_and_its_blob_lease);
            case!(directory_tokens_and_revocations_round_trip);
            case!(console_lists_recent_items_histories_and_positions);
            case!(presence_is_summed_over_fresh_nodes);
            case!(position_tracks_keep_one_point_per_time_list_in_order_and_prune);
            case!(a_mixed_batch_indexes_every_kind);
            case!(the_log_grows_with_every_commit_and_proves_each_leaf);
            case!(reports_join_by_place_category_and_time);
            case!(incident_changes_are_version_checked);
            case!(concurrent_reports_open_one_incident);
            case!(monitor_packets_stay_out_of_the_evidence_feed);
            case!(changes_of_several_incidents_commit_together_or_not_at_all);
            case!(a_split_opens_an_incident_and_its_reports_follow);
        }
    };
}

backend_suite!(sqlite);
backend_suite!(postgres);
