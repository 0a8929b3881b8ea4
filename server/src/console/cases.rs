//! Cases as the command room reads them.
//!
//! - `GET /api/cases?q=&team=&before=&limit=`: cases, the most recently
//!   active first, each with its subject (当事人, from its first record that
//!   names one), item count, first and last activity and who worked on it.
//!   `q` matches the case id (anywhere in it, any case of letters) or the
//!   subject's name; `team` keeps cases one of the team's officers worked on.
//! - `GET /api/cases/{id}/file`: the case file — every item in time order
//!   with its decoded content, media facts and flags, service state, and the
//!   assignments its records answer. Reading it is one custody event naming
//!   every item shown.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;
use fieldlink_protocol::pb;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{ApiQuery, PathId};
use super::item_view::decode_body;
use super::request::{accessor, uuid_param};
use super::views::media_summary;
use super::{service_session, supervisor, ApiError, ConsoleState};
use crate::custody::{self, Action};
use crate::services;
use crate::storage::{CaseFilter, CaseSummary};

/// Cases per page, by default and at most.
const CASES_PAGE_DEFAULT: u32 = 50;
const CASES_PAGE_MAX: u32 = 200;

/// A subject search reads the subjects of at most this many of the most
/// recently active cases (an id search has no such bound: it is a query).
const SUBJECT_SEARCH_CASES_MAX: u32 = 1_000;

/// Longest search text, in bytes.
const SEARCH_BYTES_MAX: usize = 100;

/// Items a case file shows at most (the case's `/api/cases/{id}` pages on).
const FILE_ITEMS_MAX: u32 = 500;

/// The case list's query string.
#[derive(Deserialize, Default)]
pub struct CaseListQuery {
    q: Option<String>,
    team: Option<String>,
    before: Option<u64>,
    limit: Option<u32>,
}

/// The case list.
pub async fn list_cases(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CaseListQuery>,
) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let limit = query.limit.unwrap_or(CASES_PAGE_DEFAULT);
    if !(1..=CASES_PAGE_MAX).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            &format!("must be 1 to {CASES_PAGE_MAX}"),
        ));
    }
    if query.before.is_some_and(|before| i64::try_from(before).is_err()) {
        return Err(ApiError::invalid("before", "is not a next_before of this list"));
    }
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.len() > SEARCH_BYTES_MAX) {
        return Err(ApiError::invalid(
            "q",
            &format!("must be at most {SEARCH_BYTES_MAX} bytes"),
        ));
    }
    let officer_ids = match query.team.as_deref().filter(|t| !t.is_empty()) {
        Some(team) if state.app.directory.get().team(team).is_none() => {
            return Err(ApiError::invalid("team", "is not a team of the directory"))
        }
        Some(team) => Some(state.app.directory.get().team_members(team)),
        None => None,
    };
    let filter = CaseFilter {
        id_contains: None,
        officer_ids,
        before_seq: query.before,
        limit,
    };
    let found = match search {
        None => described(&state, state.app.storage.case_summaries(&filter).await?).await?,
        Some(text) => search_cases(&state, filter, text).await?,
    };
    let next_before = (found.len() == limit as usize)
        .then(|| found.last().map(|(summary, _)| summary.last_seq))
        .flatten();
    let cases: Vec<Value> = found
        .into_iter()
        .map(|(summary, about)| {
            json!({
                "case_id": summary.case_id,
                "items": summary.items,
                "first_at_ms": summary.first_at_ms,
                "last_at_ms": summary.last_at_ms,
                "last_seq": summary.last_seq,
                "subject": about.subject,
                "officers": about.officers,
            })
        })
        .collect();
    Ok(Json(json!({ "cases": cases, "next_before": next_before })))
}

/// What a list says of a case beyond its counts.
#[derive(Debug, Default)]
struct About {
    subject: Option<String>,
    officers: BTreeSet<String>,
}

/// Cases whose id or subject contains `text`: ids by the database, subjects
/// among the most recently active cases; merged, most recent first.
async fn search_cases(
    state: &ConsoleState,
    filter: CaseFilter,
    text: &str,
) -> Result<Vec<(CaseSummary, About)>, ApiError> {
    let limit = filter.limit as usize;
    let by_id = CaseFilter {
        id_contains: Some(text.to_owned()),
        ..filter.clone()
    };
    let mut found = described(state, state.app.storage.case_summaries(&by_id).await?).await?;
    let wanted = text.to_lowercase();
    let recent = CaseFilter {
        limit: SUBJECT_SEARCH_CASES_MAX,
        ..filter
    };
    for (summary, about) in described(state, state.app.storage.case_summaries(&recent).await?).await? {
        let subject_matches = about
            .subject
            .as_deref()
            .is_some_and(|s| s.to_lowercase().contains(&wanted));
        if subject_matches && !found.iter().any(|(s, _)| s.case_id == summary.case_id) {
            found.push((summary, about));
        }
    }
    found.sort_by_key(|(summary, _)| std::cmp::Reverse(summary.last_seq));
    found.truncate(limit);
    Ok(found)
}

/// Each case with its subject and officers, from its first items.
async fn described(
    state: &ConsoleState,
    cases: Vec<CaseSummary>,
) -> Result<Vec<(CaseSummary, About)>, ApiError> {
    /// Items read per case to find its subject and officers.
    const ITEMS_READ: u32 = 20;
    let mut out = Vec::with_capacity(cases.len());
    for summary in cases {
        let page = crate::storage::CasePage {
            after: None,
            limit: Some(ITEMS_READ),
        };
        let rows = state.app.storage.case_items(&summary.case_id, &page).await?;
        let mut about = About::default();
        for row in rows {
            about.officers.insert(row.officer_id.clone());
            if about.subject.is_none() && matches!(row.kind.as_str(), "inspection" | "service" | "interview")
            {
                if let Some(item) = state.app.storage.item(row.receipt.item_id).await? {
                    about.subject = subject_of(&row.kind, &item.body);
                }
            }
        }
        out.push((summary, about));
    }
    Ok(out)
}

/// The party a record names: an inspection's subject, the party served or
/// interviewed.
fn subject_of(kind: &str, body: &[u8]) -> Option<String> {
    use prost::Message;
    let name = match kind {
        "inspection" => pb::InspectionRecord::decode(body).ok()?.subject?.name,
        "service" => {
            let recipient = pb::ServiceConfirmation::decode(body).ok()?.recipient?;
            (recipient.role == pb::RecipientRole::Party as i32).then_some(recipient.name)?
        }
        "interview" => {
            let interviewee = pb::InterviewRecord::decode(body).ok()?.interviewee?;
            (interviewee.role == pb::IntervieweeRole::Party as i32).then_some(interviewee.name)?
        }
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

/// The case file.
pub async fn case_file(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let query = pb::CaseItemsQuery {
        case_id: id,
        limit: FILE_ITEMS_MAX,
        after: String::new(),
    };
    let listed = services::case_view::query(&state.app, &service_session(&session), query).await?;
    let storage = state.app.storage.as_ref();
    let mut items = Vec::with_capacity(listed.items.len());
    let mut assignment_ids = BTreeSet::new();
    for entry in &listed.items {
        let item_id = uuid_param("item_id", &entry.item_id)?;
        let Some(item) = storage.item(item_id).await? else {
            continue;
        };
        let body = decode_body(&item.kind, &item.body);
        if let Some(assignment) = body.get("assignmentId").and_then(Value::as_str) {
            assignment_ids.insert(assignment.to_owned());
        }
        let mut value = json!({
            "item_id": entry.item_id,
            "kind": entry.kind,
            "occurred_at_ms": entry.occurred_at_ms,
            "received_at_ms": entry.received_at_ms,
            "server_seq": entry.server_seq,
            "officer_id": entry.officer_id,
            "device_id": entry.device_id,
            "sha256": hex::encode(&entry.sha256),
            "device_signed": item.capture.is_some(),
            "body": body,
        });
        if entry.service_state != 0 {
            value["service_state"] = json!(pb::ServiceState::try_from(entry.service_state)
                .map(|s| s.as_str_name())
                .unwrap_or("SERVICE_STATE_UNSPECIFIED"));
        }
        if let Some(photo) = storage.photo(item_id).await? {
            value["photo"] = media_summary(storage, &photo).await?;
        }
        items.push(value);
    }
    let mut assignments = Vec::new();
    for id in &assignment_ids {
        let Ok(id) = uuid::Uuid::parse_str(id) else {
            continue;
        };
        if let Some(stored) = state.app.storage.assignment(id).await? {
            assignments.push(stored.assignment);
        }
    }
    // Reading the file is reading every item in it: one custody event.
    if !items.is_empty() {
        let shown = items
            .iter()
            .filter_map(|i| i["item_id"].as_str().map(str::to_owned))
            .collect();
        custody::record(
            storage,
            &accessor(&session, peer),
            Action::ViewItem,
            &listed.case_id,
            shown,
        )
        .await?;
    }
    Ok(Json(json!({
        "case_id": listed.case_id,
        "items": items,
        "more": !listed.next_after.is_empty(),
        "assignments": assignments,
    })))
}
