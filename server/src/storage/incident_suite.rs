//! The incident part of the storage suite (run against each backend by
//! `suite.rs`): joining by place, category and time, idempotent reports,
//! version-checked changes, append-only events that are leaves of the log.

use std::sync::Arc;

use fieldlink_protocol::pb::{self, IncidentEventKind, IncidentState};
use uuid::Uuid;

use super::suite_backend::Backend;
use super::{IncidentCommit, IncidentFilter, IncidentReport, JoinRule};

const RULE: JoinRule = JoinRule {
    radius_m: 100.0,
    window_ms: 3_600_000,
};

fn report(source_id: &str, category: &str, latitude: f64, longitude: f64, at_ms: i64) -> IncidentReport {
    IncidentReport {
        event_id: Uuid::now_v7(),
        new_incident_id: Uuid::now_v7(),
        category: category.into(),
        matter_code: String::new(),
        team_id: "team-a".into(),
        source: pb::IncidentSource {
            kind: "monitor".into(),
            source_id: source_id.into(),
            item_id: Uuid::now_v7().to_string(),
            at_ms,
            place: Some(pb::Place {
                latitude,
                longitude,
                address: String::new(),
                accuracy_m: 0.0,
            }),
            summary: format!("{category} at {source_id}"),
        },
        by: "system".into(),
        at_ms,
    }
}

pub async fn reports_join_by_place_category_and_time(b: Backend) {
    let storage = Arc::clone(&b.storage);
    let first = report("MN-1", "lampblack_exceedance", 31.2304, 121.4737, 1_000);
    let opened = storage.report_incident(&first, &RULE).await.unwrap();
    assert!(!opened.joined && !opened.replayed);
    assert_eq!(opened.incident.report_count, 1);
    assert_eq!(opened.incident.state, IncidentState::New as i32);

    // 50 m away, same category, within the window: joins.
    let near = report("MN-2", "lampblack_exceedance", 31.23085, 121.4737, 2_000);
    let joined = storage.report_incident(&near, &RULE).await.unwrap();
    assert!(joined.joined);
    assert_eq!(joined.incident.id, opened.incident.id);
    assert_eq!(joined.incident.report_count, 2);
    assert_eq!(joined.incident.last_report_at_ms, 2_000);

    // The same report again changes nothing.
    let again = storage.report_incident(&near, &RULE).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.incident.report_count, 2);

    // Another category, 500 m away, or after the window: new incidents.
    let other_kind = report("MN-2", "monitor_fault", 31.23085, 121.4737, 2_500);
    let far = report("MN-3", "lampblack_exceedance", 31.2349, 121.4737, 3_000);
    let late = report(
        "MN-1",
        "lampblack_exceedance",
        31.2304,
        121.4737,
        2_000 + RULE.window_ms + 1,
    );
    for separate in [&other_kind, &far, &late] {
        let outcome = storage.report_incident(separate, &RULE).await.unwrap();
        assert!(!outcome.joined, "{}", separate.source.summary);
        assert_ne!(outcome.incident.id, opened.incident.id);
    }
    let id = Uuid::parse_str(&opened.incident.id).unwrap();
    let history = storage.incident_history(id).await.unwrap();
    let kinds: Vec<i32> = history.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [IncidentEventKind::Opened as i32, IncidentEventKind::Joined as i32]
    );
    assert_eq!(history[1].source.as_ref().unwrap().source_id, "MN-2");

    // Each event is a leaf of the log, its digests of the stored bytes.
    let event_id = Uuid::parse_str(&history[1].event_id).unwrap();
    let (index, data) = storage.log_leaf(event_id).await.unwrap().unwrap();
    let leaf = fieldlink_protocol::log::Leaf::decode(&data).unwrap();
    assert_eq!(leaf.kind, fieldlink_protocol::log::LeafKind::IncidentEvent);
    assert_eq!(leaf.device_id, "MN-2");
    let (seq, bytes) = storage.incident_event(event_id).await.unwrap().unwrap();
    assert_eq!(leaf.server_seq, seq);
    assert_eq!(crate::storage::incident_leaf(seq, &bytes).unwrap(), leaf);
    assert!(index < storage.log_size().await.unwrap());

    let all = storage
        .list_incidents(&IncidentFilter {
            state: Some(IncidentState::New as i32),
            limit: 10,
            before_id: None,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(all
        .windows(2)
        .all(|pair| pair[0].incident.id > pair[1].incident.id));

    // Append-only.
    assert!(!b.raw.succeeds("UPDATE incident_events SET kind = 4").await);
    assert!(!b.raw.succeeds("DELETE FROM incident_sources").await);
}

pub async fn incident_changes_are_version_checked(b: Backend) {
    let storage = Arc::clone(&b.storage);
    let opened = storage
        .report_incident(&report("MN-9", "lampblack_exceedance", 30.0, 120.0, 5_000), &RULE)
        .await
        .unwrap();
    let id = Uuid::parse_str(&opened.incident.id).unwrap();
    let stored = storage.incident(id).await.unwrap().unwrap();
    let mut dismissed = stored.incident.clone();
    dismissed.state = IncidentState::Dismissed as i32;
    dismissed.dismiss_reason = "误报 false alarm".into();
    let event = pb::IncidentEvent {
        event_id: Uuid::now_v7().to_string(),
        incident_id: opened.incident.id.clone(),
        kind: IncidentEventKind::Dismissed as i32,
        by: "sup-01".into(),
        at_ms: 6_000,
        reason: dismissed.dismiss_reason.clone(),
        source: None,
        incident: Some(dismissed),
        moved: Vec::new(),
    };
    assert!(matches!(
        storage.change_incident(stored.version, &event).await.unwrap(),
        IncidentCommit::Committed { .. }
    ));
    let mut stale = event.clone();
    stale.event_id = Uuid::now_v7().to_string();
    assert_eq!(
        storage.change_incident(stored.version, &stale).await.unwrap(),
        IncidentCommit::VersionConflict
    );
    assert_eq!(storage.incident_history(id).await.unwrap().len(), 2);
    let now = storage.incident(id).await.unwrap().unwrap();
    assert_eq!(now.incident.state, IncidentState::Dismissed as i32);
    assert!(now.version > stored.version);
    // A dismissed incident takes no more reports: a new one opens.
    let after = storage
        .report_incident(&report("MN-9", "lampblack_exceedance", 30.0, 120.0, 7_000), &RULE)
        .await
        .unwrap();
    assert!(!after.joined);
    assert!(storage.incident(Uuid::now_v7()).await.unwrap().is_none());
}

pub async fn concurrent_reports_open_one_incident(b: Backend) {
    let storage = Arc::clone(&b.storage);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let storage = Arc::clone(&storage);
            tokio::spawn(async move {
                let at = report(
                    &format!("MN-{i}"),
                    "lampblack_exceedance",
                    31.0,
                    121.0 + f64::from(i) * 0.0001,
                    10_000,
                );
                storage.report_incident(&at, &RULE).await.unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().incident.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = Uuid::parse_str(&ids[0]).unwrap();
    assert_eq!(
        storage.incident(id).await.unwrap().unwrap().incident.report_count,
        8
    );
}

pub async fn monitor_packets_stay_out_of_the_evidence_feed(b: Backend) {
    use sha2::{Digest, Sha256};
    let storage = Arc::clone(&b.storage);
    let packet = b"##0010QN=1;CP=&&&&0000\r\n".to_vec();
    let record = super::NewItem {
        item_id: Uuid::now_v7(),
        kind: super::ItemKind::Inspection,
        device_id: "device-001".into(),
        officer_id: "officer-01".into(),
        case_id: None,
        sha256: Sha256::digest(b"a record").into(),
        body: b"a record".to_vec(),
        index: super::ItemIndex::Inspection {
            matter_code: "ZJ-001".into(),
            outcome: 1,
            started_at_ms: 1_000,
            latitude: 29.8,
            longitude: 121.5,
            assignment_id: None,
            officer_ids: vec!["officer-01".into()],
            photo_ids: Vec::new(),
        },
        capture: None,
    };
    let item = super::NewItem {
        item_id: Uuid::now_v7(),
        kind: super::ItemKind::MonitorPacket,
        device_id: "hj212:M1".into(),
        officer_id: String::new(),
        case_id: None,
        sha256: Sha256::digest(&packet).into(),
        body: packet,
        index: super::ItemIndex::MonitorPacket {
            mn: "M1".into(),
            cn: "2011".into(),
            data_time_ms: Some(1_000),
        },
        capture: None,
    };
    let packet_id = item.item_id;
    storage
        .commit_items(&[record.clone(), item], 2_000)
        .await
        .unwrap();
    let stored = storage.item(packet_id).await.unwrap().unwrap();
    assert_eq!(stored.kind, "monitor_packet");
    assert!(storage.log_leaf(packet_id).await.unwrap().is_some());
    let recent = storage.recent_items(None, 10).await.unwrap();
    let ids: Vec<Uuid> = recent.iter().map(|item| item.receipt.item_id).collect();
    assert_eq!(ids, [record.item_id]);
    assert!(!b.raw.succeeds("DELETE FROM monitor_packets").await);
}

pub async fn changes_of_several_incidents_commit_together_or_not_at_all(b: Backend) {
    let storage = Arc::clone(&b.storage);
    let a = storage
        .report_incident(&report("A", "x", 30.0, 120.0, 1_000), &RULE)
        .await
        .unwrap();
    let c = storage
        .report_incident(&report("C", "x", 31.0, 121.0, 1_000), &RULE)
        .await
        .unwrap();
    let stored = |id: &str| {
        let storage = Arc::clone(&storage);
        let id = Uuid::parse_str(id).unwrap();
        async move { storage.incident(id).await.unwrap().unwrap() }
    };
    let (a_now, c_now) = (stored(&a.incident.id).await, stored(&c.incident.id).await);
    let change = |incident: &pb::Incident, kind: IncidentEventKind| {
        let mut changed = incident.clone();
        changed.state = IncidentState::Merged as i32;
        pb::IncidentEvent {
            event_id: Uuid::now_v7().to_string(),
            incident_id: changed.id.clone(),
            kind: kind as i32,
            by: "sup-01".into(),
            at_ms: 2_000,
            reason: String::new(),
            source: None,
            incident: Some(changed),
            moved: Vec::new(),
        }
    };
    let first = change(&a_now.incident, IncidentEventKind::Merged);
    let second = change(&c_now.incident, IncidentEventKind::Absorbed);
    // The second's version is stale: neither commits.
    let outcome = storage
        .change_incidents(&[(Some(a_now.version), &first), (Some(c_now.version + 99), &second)])
        .await
        .unwrap();
    assert_eq!(outcome, IncidentCommit::VersionConflict);
    assert_eq!(stored(&a.incident.id).await, a_now);
    assert!(storage
        .incident_event(Uuid::parse_str(&first.event_id).unwrap())
        .await
        .unwrap()
        .is_none());
    // Both current: both commit.
    let outcome = storage
        .change_incidents(&[(Some(a_now.version), &first), (Some(c_now.version), &second)])
        .await
        .unwrap();
    assert!(matches!(outcome, IncidentCommit::Committed { .. }));
    assert_eq!(
        stored(&a.incident.id).await.incident.state,
        IncidentState::Merged as i32
    );
    assert_eq!(
        stored(&c.incident.id).await.incident.state,
        IncidentState::Merged as i32
    );
}

pub async fn a_split_opens_an_incident_and_its_reports_follow(b: Backend) {
    let storage = Arc::clone(&b.storage);
    let before = storage.latest_incident_seq().await.unwrap();
    let first = report("A", "x", 30.0, 120.0, 1_000);
    let second = report("B", "x", 30.0, 120.0, 1_100);
    let opened = storage.report_incident(&first, &RULE).await.unwrap();
    storage.report_incident(&second, &RULE).await.unwrap();
    let from_id = Uuid::parse_str(&opened.incident.id).unwrap();
    let from = storage.incident(from_id).await.unwrap().unwrap();
    let new_id = Uuid::now_v7();
    let moved = vec![second.source.clone()];
    let mut kept = from.incident.clone();
    kept.report_count = 1;
    let new_incident = pb::Incident {
        id: new_id.to_string(),
        category: "y".into(),
        state: IncidentState::New as i32,
        report_count: 1,
        place: second.source.place.clone(),
        ..Default::default()
    };
    let event = |incident: pb::Incident, kind: IncidentEventKind| pb::IncidentEvent {
        event_id: Uuid::now_v7().to_string(),
        incident_id: incident.id.clone(),
        kind: kind as i32,
        by: "sup-01".into(),
        at_ms: 2_000,
        reason: String::new(),
        source: None,
        incident: Some(incident),
        moved: moved.clone(),
    };
    let split = event(kept, IncidentEventKind::Split);
    let split_off = event(new_incident, IncidentEventKind::SplitOff);
    // Opening an incident that exists is refused with the rest.
    let taken = pb::IncidentEvent {
        incident: Some(pb::Incident {
            id: opened.incident.id.clone(),
            ..split_off.incident.clone().unwrap()
        }),
        ..split_off.clone()
    };
    assert!(storage
        .change_incidents(&[(Some(from.version), &split), (None, &taken)])
        .await
        .is_err());
    assert_eq!(storage.incident(from_id).await.unwrap().unwrap(), from);
    let outcome = storage
        .change_incidents(&[(Some(from.version), &split), (None, &split_off)])
        .await
        .unwrap();
    assert!(matches!(outcome, IncidentCommit::Committed { .. }));
    let made = storage.incident(new_id).await.unwrap().unwrap();
    assert_eq!(made.incident.category, "y");
    // Each report's incident now: the moved one's is the new incident, and
    // a resend of it answers that incident, opening and joining nothing.
    let item = |r: &IncidentReport| Uuid::parse_str(&r.source.item_id).unwrap();
    let of = |r: &IncidentReport| {
        let storage = Arc::clone(&storage);
        let id = item(r);
        async move { storage.incident_of_item(id).await.unwrap().unwrap().incident.id }
    };
    assert_eq!(of(&first).await, opened.incident.id);
    assert_eq!(of(&second).await, new_id.to_string());
    let resent = storage.report_incident(&second, &RULE).await.unwrap();
    assert!(resent.replayed);
    assert_eq!(resent.incident.id, new_id.to_string());
    assert!(storage.incident_of_item(Uuid::now_v7()).await.unwrap().is_none());
    // Every event since `before`, in order, for the console's live triage.
    let events = storage.incident_events_after(before, 100).await.unwrap();
    let kinds: Vec<i32> = events.iter().map(|(_, e)| e.kind).collect();
    assert_eq!(
        kinds,
        [
            IncidentEventKind::Opened,
            IncidentEventKind::Joined,
            IncidentEventKind::Split,
            IncidentEventKind::SplitOff
        ]
        .map(|k| k as i32)
    );
    let seqs: Vec<u64> = events.iter().map(|(seq, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(
        storage.latest_incident_seq().await.unwrap(),
        *seqs.last().unwrap()
    );
    let page = storage.incident_events_after(seqs[1], 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, seqs[2]);
    // The moves are append-only too.
    assert!(!b.raw.succeeds("DELETE FROM incident_sources").await);
}
