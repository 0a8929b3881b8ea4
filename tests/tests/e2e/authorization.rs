//! The authorization matrix: every operation on a resource of officer-01's
//! (device-001, team 城南 chengnan) tried by its owner, by a team-mate on
//! another device (officer-02 on device-002) and by an officer of another
//! team (officer-05 on device-003, team 城北 chengbei). Wherever a caller
//! may not see the resource, the answer must be exactly the answer for an id
//! that does not exist: no existence oracle (the deliberate exceptions are
//! listed with the table).

use fieldlink_client::{Client, Error, PhotoUpload};
use fieldlink_protocol::pb::{self, ServiceEventKind};
use fieldlink_protocol::service::example_service;
use fieldlink_tests::{assignment_for, connect, photos, record, TestServer};
use uuid::Uuid;

/// What a caller got, normalised for comparison: "ok" (with what it saw,
/// where that matters) or the status code, reason and field.
fn outcome<T>(result: Result<T, Error>, seen: impl FnOnce(&T) -> String) -> String {
    match result {
        Ok(value) => {
            let seen = seen(&value);
            if seen.is_empty() {
                "ok".into()
            } else {
                format!("ok {seen}")
            }
        }
        Err(Error::Rejected(status)) => {
            let code = pb::Code::try_from(status.code)
                .map(|c| c.as_str_name().to_owned())
                .unwrap_or_else(|_| status.code.to_string());
            format!("{code} {} {}", status.reason, status.field)
                .trim_end()
                .to_owned()
        }
        Err(other) => format!("transport error: {other}"),
    }
}

fn nothing<T>(_: &T) -> String {
    String::new()
}

fn service_event(service_id: &str) -> pb::ServiceEvent {
    pb::ServiceEvent {
        id: Uuid::now_v7().to_string(),
        service_id: service_id.to_owned(),
        kind: ServiceEventKind::Confirmed as i32,
        at_ms: fieldlink_client::now_ms(),
        confirmation_method: pb::ConfirmationMethod::ReplyCode as i32,
        confirmation_reference: "8841".into(),
        ..Default::default()
    }
}

fn photo_for(record_id: &str, seed: u64) -> PhotoUpload {
    PhotoUpload::new(
        record_id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        photos::jpeg(64, 48, seed),
    )
}

/// One operation, run by `caller` on a resource id.
async fn run(operation: &str, caller: &Client, officer: &str, id: &str, seed: u64) -> String {
    match operation {
        "record_photos" => outcome(caller.record_photos(id).await, |r| {
            format!(
                "stored={} present={} unlisted={}",
                r.record_stored,
                r.present.len(),
                r.unlisted.len()
            )
        }),
        "upload_photo_linked_to_record" => {
            outcome(caller.upload_photo(&photo_for(id, seed), |_| {}).await, nothing)
        }
        "upload_status" => outcome(caller.upload_status(id).await, |s| {
            format!("complete={} offset={}", s.complete, s.durable_offset)
        }),
        "service_event" => outcome(caller.submit_service_event(&service_event(id)).await, nothing),
        "case_items" => outcome(caller.case_items(id).await, |c| {
            format!("{} items", c.items.len())
        }),
        "accept_assignment" => outcome(caller.accept_assignment(id).await, nothing),
        "en_route" => outcome(caller.en_route(id).await, nothing),
        "cancel_assignment" => outcome(caller.cancel_assignment(id, "取消 cancelled").await, nothing),
        "reassign_assignment" => outcome(
            caller
                .reassign_assignment(
                    id,
                    pb::reassign_assignment::Assignee::OfficerId("officer-03".into()),
                    "改派 reassigned",
                )
                .await,
            nothing,
        ),
        "create_assignment" => outcome(caller.create_assignment(&assignment_for(officer)).await, nothing),
        "submit_in_owners_name" => outcome(caller.submit_inspection(&record("officer-01")).await, nothing),
        other => panic!("no operation {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_by_owner_team_mate_and_stranger_has_the_right_outcome_and_no_oracle() {
    let server = TestServer::start().await;
    let owner = connect(server.addr(), "device-001", "officer-01").await.unwrap();
    let mate = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let stranger = connect(server.addr(), "device-003", "officer-05").await.unwrap();
    let supervisor = connect(server.addr(), "device-003", "supervisor-01")
        .await
        .unwrap();

    // The owner's resources.
    let case_id = "CASE-AUTHZ-1";
    let mut owned_record = record("officer-01");
    owned_record.case_id = case_id.to_owned();
    owner.submit_inspection(&owned_record).await.unwrap();
    let photo = photo_for(&owned_record.id, 1).in_case(case_id);
    owner.upload_photo(&photo, |_| {}).await.unwrap();
    let service = example_service("officer-01", case_id, fieldlink_client::now_ms());
    owner.submit_service(&service).await.unwrap();
    let assignment = assignment_for("officer-01");
    supervisor.create_assignment(&assignment).await.unwrap();
    let assignment_b = assignment_for("officer-01");
    supervisor.create_assignment(&assignment_b).await.unwrap();

    let resource = |operation: &str| -> String {
        match operation {
            "record_photos" | "upload_photo_linked_to_record" => owned_record.id.clone(),
            "upload_status" => photo.evidence_id().to_owned(),
            "service_event" => service.id.clone(),
            "case_items" => case_id.to_owned(),
            "accept_assignment" | "en_route" => assignment.id.clone(),
            _ => assignment_b.id.clone(),
        }
    };
    let unknown = |operation: &str| -> String {
        match operation {
            "case_items" => "CASE-NOBODY-HAS".to_owned(),
            _ => Uuid::now_v7().to_string(),
        }
    };

    // (operation, owner, team-mate, other team). "same as unknown" is checked
    // separately for every refusal of the last two columns.
    let table: &[(&str, &str, &str, &str)] = &[
        (
            "record_photos",
            "ok stored=true present=0 unlisted=1",
            "ok stored=false present=0 unlisted=0",
            "ok stored=false present=0 unlisted=0",
        ),
        (
            "upload_photo_linked_to_record",
            "ok",
            "CODE_PERMISSION_DENIED NOT_PERMITTED record_id",
            "CODE_PERMISSION_DENIED NOT_PERMITTED record_id",
        ),
        (
            "upload_status",
            "ok complete=true offset=SIZE",
            "ok complete=false offset=0",
            "ok complete=false offset=0",
        ),
        (
            "service_event",
            "ok",
            "CODE_INVALID_ARGUMENT INVALID_FIELD service_id",
            "CODE_INVALID_ARGUMENT INVALID_FIELD service_id",
        ),
        ("case_items", "ok 4 items", "ok 4 items", "ok 0 items"),
        (
            "accept_assignment",
            "ok",
            "CODE_PERMISSION_DENIED NOT_PERMITTED assignment_id",
            "CODE_NOT_FOUND NOT_FOUND assignment_id",
        ),
        (
            "en_route",
            "ok",
            "CODE_PERMISSION_DENIED NOT_PERMITTED assignment_id",
            "CODE_NOT_FOUND NOT_FOUND assignment_id",
        ),
        (
            "cancel_assignment",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
        ),
        (
            "reassign_assignment",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
        ),
        (
            "create_assignment",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
            "CODE_PERMISSION_DENIED NOT_PERMITTED",
        ),
        (
            "submit_in_owners_name",
            "ok",
            "CODE_PERMISSION_DENIED NOT_PERMITTED officer_ids",
            "CODE_PERMISSION_DENIED NOT_PERMITTED officer_ids",
        ),
    ];
    // Where the caller may not see the resource, the answer for it must be
    // the answer for an id nobody holds. Exceptions, each deliberate:
    // - a team-mate sees the team's assignments and cases (they are listed
    //   to it), so its answers tell it nothing new;
    // - a photo naming someone else's stored record is refused (integrity
    //   first: a photo must never hang off another officer's record), while
    //   an unknown record id is accepted because photos may arrive before
    //   their record. That answer reveals only whether a UUIDv7 the caller
    //   already holds exists; such ids carry 74 random bits and cannot be
    //   enumerated.
    // - supervisor operations are refused to every officer before any lookup;
    // - submitting in another officer's name is refused before any lookup.
    let oracle_checked = |operation: &str, caller: &str| match operation {
        "accept_assignment" | "en_route" | "case_items" => caller == "officer-05",
        "upload_photo_linked_to_record"
        | "cancel_assignment"
        | "reassign_assignment"
        | "create_assignment"
        | "submit_in_owners_name" => false,
        _ => true,
    };
    let callers = [(&mate, "officer-02"), (&stranger, "officer-05")];
    let mut seed = 10;
    let mut mismatches = Vec::new();
    for (operation, own, team, other) in table {
        // The others first: the owner's own attempt may change the resource.
        for ((caller, officer), expected) in callers.iter().zip([team, other]) {
            seed += 1;
            let got = run(operation, caller, officer, &resource(operation), seed).await;
            if got != *expected {
                mismatches.push(format!(
                    "{operation} by {officer}: got `{got}`, expected `{expected}`"
                ));
            }
            if oracle_checked(operation, officer) {
                seed += 1;
                let for_unknown = run(operation, caller, officer, &unknown(operation), seed).await;
                if for_unknown != got {
                    mismatches.push(format!(
                        "{operation} by {officer}: `{got}` for a real id but `{for_unknown}` for an unknown one (an existence oracle)"
                    ));
                }
            }
        }
        seed += 1;
        let got = run(operation, &owner, "officer-01", &resource(operation), seed).await;
        let own = own.replace("SIZE", &photo.size_bytes().to_string());
        if got != own {
            mismatches.push(format!("{operation} by the owner: got `{got}`, expected `{own}`"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "authorization matrix:\n{}",
        mismatches.join("\n")
    );
    // Nothing the refused callers tried was stored: the owner's items only.
    let stored = supervisor.case_items(case_id).await.unwrap().items.len();
    assert_eq!(stored, 4, "record, photo, service and the owner's service event");
}
