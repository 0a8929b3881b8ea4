//! Reference data on the terminal (docs/protocol.md §10d): the Welcome names
//! the catalogue's and the roster's revisions; the SDK fetches the
//! catalogue (every version, paged) and the roster, keeps them in the
//! outbox's file, refreshes them when the server's revision moves on, and
//! checks records against them before they are stored.

use fieldlink_client::outbox::{Outbox, OutboxConfig, OutboxError};
use fieldlink_protocol::pb::{self, Outcome};
use fieldlink_tests::{connect, record, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_keeps_the_catalogue_and_roster_and_checks_records_offline() {
    // The demo catalogue, as a file the server can reload.
    let dir = tempfile::tempdir().unwrap();
    let catalogue_file = dir.path().join("catalogue.json");
    let demo = include_str!("../../../server/data/demo-catalogue.json");
    std::fs::write(&catalogue_file, demo).unwrap();
    let path = catalogue_file.clone();
    let server = TestServer::start_with(|config| config.catalogue = Some(path)).await;
    let state = server.server.state().clone();
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let welcome = client.welcome().await.unwrap();
    assert_eq!(welcome.catalogue_revision, state.catalogue.get().revision());
    assert!(!welcome.roster_revision.is_empty());

    // The whole catalogue: every version and matter the server holds.
    let copy = client.catalogue("").await.unwrap().expect("a first fetch");
    let held = state.catalogue.get();
    assert_eq!(copy.versions.len(), held.versions().len());
    for (mine, theirs) in copy.versions.iter().zip(held.versions()) {
        let codes: Vec<&str> = mine.matters.iter().map(|m| m.code.as_str()).collect();
        let expected: Vec<&str> = theirs.matters().map(|m| m.code.as_str()).collect();
        assert_eq!(codes, expected, "{}", mine.version);
        assert_eq!(mine.effective_from_ms, theirs.effective_from_ms);
    }
    assert_eq!(copy.domains.len(), 16);
    assert!(
        client.catalogue(&copy.revision).await.unwrap().is_none(),
        "current: nothing sent"
    );

    // The roster: the caller's team, enrolled, credential or not, no numbers.
    let roster = client.roster("").await.unwrap().unwrap();
    assert_eq!(roster.team_id, "team-chengnan");
    let members: Vec<(&str, bool)> = roster
        .members
        .iter()
        .map(|m| (m.officer_id.as_str(), m.holds_credential))
        .collect();
    assert_eq!(
        members,
        [
            ("officer-01", true),
            ("officer-02", true),
            ("officer-03", true),
            ("officer-04", true),
            ("supervisor-01", false)
        ]
    );
    assert_eq!(roster.revision, welcome.roster_revision);
    assert!(client.roster(&roster.revision).await.unwrap().is_none());

    // The outbox keeps both, once.
    let outbox_dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(OutboxConfig::new(outbox_dir.path().join("outbox.sqlite")))
        .await
        .unwrap();
    assert!(outbox.catalogue().await.unwrap().is_none());
    let refreshed = outbox.refresh_reference(&client).await.unwrap();
    assert!(refreshed.catalogue && refreshed.roster);
    let again = outbox.refresh_reference(&client).await.unwrap();
    assert!(
        !again.catalogue && !again.roster,
        "current copies are not fetched again"
    );
    assert_eq!(outbox.catalogue().await.unwrap().unwrap(), copy);

    // Records are checked against them before they are stored.
    let refused_field = |result: Result<String, OutboxError>| match result {
        Err(OutboxError::Invalid(error)) => error.field,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let july = copy.versions[1].effective_from_ms;
    let mut left = record("officer-01");
    left.matter_code = "FG-004".into();
    assert_eq!(
        refused_field(outbox.enqueue_inspection(&left).await),
        "matter_code"
    );
    let mut before = left.clone();
    before.id = uuid::Uuid::now_v7().to_string();
    before.started_at_ms = july - 3_600_000;
    before.ended_at_ms = july - 1_800_000;
    outbox
        .enqueue_inspection(&before)
        .await
        .expect("in force when captured");
    let mut measure = record("officer-01");
    measure.outcome = Outcome::EnforcementMeasure as i32;
    measure.officer_ids.push("officer-02".into());
    assert_eq!(
        refused_field(outbox.enqueue_inspection(&measure).await),
        "outcome"
    );
    let mut uncredentialed = record("officer-01");
    uncredentialed.outcome = Outcome::OrderToRectify as i32;
    uncredentialed.officer_ids.push("supervisor-01".into());
    assert_eq!(
        refused_field(outbox.enqueue_inspection(&uncredentialed).await),
        "officer_ids[1]"
    );
    assert_eq!(
        outbox.items().await.unwrap().len(),
        1,
        "only the good record is stored"
    );

    // A new version on the server: the next session's Welcome names another
    // revision, and the kept copy is refreshed.
    let mut file: serde_json::Value = serde_json::from_str(demo).unwrap();
    let mut next = file["versions"][1].clone();
    next["version"] = "2099-01".into();
    next["effective_from"] = "2099-01-01".into();
    file["versions"].as_array_mut().unwrap().push(next);
    std::fs::write(&catalogue_file, file.to_string()).unwrap();
    fieldlink_server::reload::reload_catalogue(&state).await.unwrap();
    client.close().await;
    let client = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let welcome = client.welcome().await.unwrap();
    assert_ne!(welcome.catalogue_revision, copy.revision);
    let refreshed = outbox.refresh_reference(&client).await.unwrap();
    assert!(refreshed.catalogue && !refreshed.roster);
    let kept = outbox.catalogue().await.unwrap().unwrap();
    assert_eq!(kept.versions.len(), 3);
    assert_eq!(kept.revision, welcome.catalogue_revision);

    // A cursor that names no version is a typed refusal.
    let refused = client
        .catalogue_page(&pb::CatalogueQuery {
            after_version: "1999-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, fieldlink_client::Error::Rejected(status) if status.field == "after_version"),
        "{refused:?}"
    );
    client.close().await;

    // Grid workers fetch the catalogue too (their reports may name a matter).
    let grid = connect(server.addr(), "device-002", "grid-01").await.unwrap();
    assert!(grid.catalogue("").await.unwrap().is_some());
    grid.close().await;
}
