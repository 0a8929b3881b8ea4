//! SubmitGridReport (网格上报): a grid worker reports what they saw; the
//! report is stored byte-exact as an item and a leaf, then opens or joins an
//! incident the command room triages (docs/intake.md).

use fieldlink_protocol::grid_report::GridReport;
use fieldlink_protocol::log::LeafKind;
use fieldlink_protocol::{pb, validate, FieldError};
use uuid::Uuid;

use crate::directory::Role;
use crate::error::ServiceError;
use crate::services::{capture_check, commit};
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{IncidentReport, ItemIndex, ItemKind, NewItem};

pub use fieldlink_protocol::grid_report::{DESCRIPTION_BYTES_MAX, PHOTOS_MAX};

/// Stores a grid report, reports it as an incident, answers with the receipt.
pub async fn submit(
    state: &AppState,
    session: &Session,
    report: pb::GridReport,
    body_bytes: &[u8],
    capture: Option<&pb::CaptureSignature>,
) -> Result<pb::Receipt, ServiceError> {
    if session.officer.role != Role::GridWorker {
        return Err(ServiceError::PermissionDenied {
            field: String::new(),
            message: "grid reports are made by grid workers (网格员)".into(),
        });
    }
    let (item_id, sha256) = commit::arrive(&report.id, body_bytes)?;
    let checked = check(state, session, &report, sha256, body_bytes)
        .and_then(|item| capture_check::attach(session, capture, LeafKind::GridReport, item));
    let receipt = commit::commit_checked(state, item_id, &sha256, checked).await?;
    // The report is durable; its incident is reported now (a resend reports
    // again, which finds the incident it joined and changes nothing).
    let place = report.place.clone().unwrap_or_default();
    let incident = IncidentReport {
        event_id: Uuid::now_v7(),
        new_incident_id: Uuid::now_v7(),
        category: report.category.clone(),
        matter_code: report.matter_code.clone(),
        // Grid workers belong to a grid, not an enforcement team: the team
        // is the zone's, else the supervisor chooses one at dispatch.
        team_id: crate::intake::routing::team_for(state, ["", ""], &place),
        source: pb::IncidentSource {
            kind: "grid_report".into(),
            source_id: session.officer.id.clone(),
            item_id: item_id.to_string(),
            at_ms: report.observed_at_ms,
            place: Some(place),
            summary: summary(&report.description),
        },
        by: session.officer.id.clone(),
        at_ms: (state.clock)(),
    };
    crate::intake::incident_report::report(state, &incident).await?;
    Ok(receipt)
}

/// Incidents followed through merges, at most (a merge chain longer than
/// this is not made by people).
const MERGE_HOPS_MAX: usize = 16;

/// Grid workers: their reports, newest first, each with its incident's
/// state now (我的上报): a dismissal and its reason reach the reporter here;
/// an approval reaches their feed as well.
pub async fn my_reports(
    state: &AppState,
    session: &Session,
    request: pb::ListMyReports,
) -> Result<pb::GridReportList, ServiceError> {
    if session.officer.role != Role::GridWorker {
        return Err(ServiceError::PermissionDenied {
            field: String::new(),
            message: "only grid workers (网格员) have grid reports".into(),
        });
    }
    let page = crate::services::paging::Page::parse(request.limit, &request.after)?;
    let rows = state
        .storage
        .grid_reports_of(
            &session.officer.id,
            &crate::storage::IncidentFilter {
                state: None,
                limit: page.limit,
                before_id: page.before_id.clone(),
            },
        )
        .await?;
    let next_after = page.next_after(rows.len(), rows.last().map(|row| row.report_id.as_str()));
    let mut reports = Vec::with_capacity(rows.len());
    let mut updated: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for row in rows {
        let item_id = Uuid::parse_str(&row.report_id).map_err(|_| ServiceError::StorageUnavailable)?;
        let mut outcome = pb::GridReportOutcome {
            report_id: row.report_id,
            category: row.category,
            observed_at_ms: row.observed_at_ms,
            ..Default::default()
        };
        let mut incident = state.storage.incident_of_item(item_id).await?.map(|s| s.incident);
        // A merged incident carries on as the one it was merged into.
        for _ in 0..MERGE_HOPS_MAX {
            let Some(into) = incident
                .as_ref()
                .and_then(|i| Uuid::parse_str(&i.merged_into).ok())
            else {
                break;
            };
            match state.storage.incident(into).await? {
                Some(next) => incident = Some(next.incident),
                None => break,
            }
        }
        if let Some(incident) = incident {
            // Reports that joined one incident share its last change: read once.
            outcome.updated_at_ms = match updated.get(&incident.id) {
                Some(at_ms) => *at_ms,
                None => {
                    let id = Uuid::parse_str(&incident.id).map_err(|_| ServiceError::StorageUnavailable)?;
                    let at_ms = state
                        .storage
                        .incident_history(id)
                        .await?
                        .last()
                        .map_or(incident.opened_at_ms, |event| event.at_ms);
                    updated.insert(incident.id.clone(), at_ms);
                    at_ms
                }
            };
            outcome.incident_id = incident.id;
            outcome.state = incident.state;
            outcome.reason = incident.dismiss_reason;
        }
        reports.push(outcome);
    }
    Ok(pb::GridReportList { reports, next_after })
}

fn check(
    state: &AppState,
    session: &Session,
    report: &pb::GridReport,
    sha256: [u8; 32],
    body_bytes: &[u8],
) -> Result<NewItem, ServiceError> {
    let checked = GridReport::parse(report, &state.validation_context())?;
    if let Some(code) = &checked.matter_code {
        if state.catalogue.get().matter(code).is_none() {
            return Err(FieldError::new(
                "matter_code",
                format!("{code} is not in the enforcement-matters catalogue"),
            )
            .into());
        }
    }
    Ok(NewItem {
        item_id: validate::item_id("id", &report.id)?,
        kind: ItemKind::GridReport,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: None,
        sha256,
        body: body_bytes.to_vec(),
        capture: None,
        index: ItemIndex::GridReport {
            category: report.category.clone(),
            observed_at_ms: checked.observed_at_ms,
            latitude: checked.place.latitude,
            longitude: checked.place.longitude,
        },
    })
}

/// The incident's one line: the description's first 200 bytes.
fn summary(description: &str) -> String {
    format!(
        "网格上报 grid report: {}",
        validate::prefix_within(description, 200)
    )
}
