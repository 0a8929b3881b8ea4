//! The console's JSON routes. Bodies and answers of assignment routes use
//! the protocol's messages in the proto3 JSON mapping (lowerCamelCase names,
//! 64-bit integers as strings), so integrators share one vocabulary with the
//! terminal protocol; errors are `{code, reason, message, field, …}` with the
//! protocol's codes and reasons.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldlink_protocol::pb::{self, Code};
use fieldlink_protocol::status::reason;
use prost::Message;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::extract::{ApiQuery, PathId};
use super::request::{accessor, json_body, uuid_param};
use super::views::evidence_summaries;
use super::{service_session, supervisor, ApiError, ConsoleState, OPENAPI, PAGE};
use crate::custody::{self, Action};
use crate::directory::Role;
use crate::services;

/// Largest JSON body the API reads.
const BODY_BYTES_MAX: usize = 64 * 1024;

/// Every route.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/console.js", get(script))
        .route("/console.css", get(styles))
        .route("/api/openapi.json", get(openapi))
        .route("/api/session", post(sign_in).get(whoami).delete(sign_out))
        .route("/api/assignments", get(list_assignments).post(create_assignment))
        .route("/api/assignments/{id}", get(one_assignment))
        .route("/api/assignments/{id}/cancel", post(cancel_assignment))
        .route("/api/assignments/{id}/reassign", post(reassign_assignment))
        .route("/api/assignments/{id}/review", post(review_assignment))
        .route("/api/incidents", get(list_incidents))
        .route("/api/incidents/{id}", get(one_incident))
        .route("/api/incidents/{id}/dispatch", post(dispatch_incident))
        .route("/api/incidents/{id}/dismiss", post(dismiss_incident))
        .route("/api/incidents/{id}/merge", post(merge_incident))
        .route("/api/incidents/{id}/split", post(split_incident))
        .route(
            "/api/incidents/{id}/evidence",
            get(super::incident_evidence::incident_evidence),
        )
        .route(
            "/api/camera-alerts/{id}/thumbnail",
            get(super::incident_evidence::camera_alert_thumbnail),
        )
        .route(
            "/api/intake/alerts",
            post(intake_alert).layer(axum::extract::DefaultBodyLimit::max(
                crate::intake::camera_alerts::ALERT_BYTES_MAX,
            )),
        )
        .route("/api/officers", get(officers))
        .route("/api/officers/nearest", get(super::positions::nearest))
        .route("/api/officers/{officer_id}/track", get(super::positions::track))
        .route("/api/matters", get(matters))
        .route("/api/map", get(super::map_tiles::map_settings))
        .route("/api/stats", get(super::stats::stats))
        .route("/api/admin/reload", post(super::admin::reload))
        .route("/api/evidence", get(recent_evidence))
        .route("/api/items/{id}", get(super::item_view::one_item))
        .route(
            "/api/items/{id}/flag-reviews",
            post(super::item_view::review_flag),
        )
        .route("/api/cases", get(super::cases::list_cases))
        .route("/api/cases/{id}", get(case))
        .route("/api/cases/{id}/file", get(super::cases::case_file))
        .route("/api/cases/{id}/export", post(export_case))
        .route("/api/alerts", get(alerts))
        .route("/api/photos/{id}/original", get(photo_original))
        .route("/api/photos/{id}/thumbnail", get(photo_thumbnail))
        .route("/api/events", get(super::events::stream))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

async fn page(State(state): State<ConsoleState>) -> Response {
    let policy = super::map_tiles::content_security_policy(state.app.config.console_map_tiles.as_deref());
    (
        [(header::CONTENT_SECURITY_POLICY, policy)],
        [(header::X_FRAME_OPTIONS, "DENY")],
        Html(PAGE),
    )
        .into_response()
}

async fn script() -> Response {
    // The translation table goes in front of the script, once.
    static WITH_TERMS: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("const TERMS = {};\n{}", super::TERMS, super::SCRIPT));
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        WITH_TERMS.as_str(),
    )
        .into_response()
}

async fn styles() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], super::STYLES).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such route")
}

#[derive(Deserialize)]
struct SignIn {
    officer_id: String,
    password: String,
}

async fn sign_in(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form: SignIn = json_body(&body)?;
    if form.officer_id.len() > 64 || form.password.len() > fieldlink_protocol::limits::PASSWORD_BYTES_MAX {
        return Err(ApiError::unauthenticated());
    }
    let source = peer.ip().to_string();
    crate::sign_in_guard::check(&state.app, &form.officer_id, &source)?;
    let officer = state
        .app
        .directory
        .get()
        .enrolled_officer(&form.officer_id)
        .cloned();
    let hash = officer
        .as_ref()
        .map(|o| o.password_hash.clone())
        .unwrap_or_else(|| crate::auth::decoy_hash().to_owned());
    let verified = state
        .app
        .password_checks
        .verify(form.password, hash)
        .await
        .ok_or(crate::error::ServiceError::PasswordChecksBusy {
            retry_after_ms: crate::password_checks::BUSY_RETRY_AFTER_MS,
        })?;
    // An officer with the right password gets the same answer as a wrong
    // password: the console must not tell anyone whose password they guessed.
    let Some(officer) = officer.filter(|officer| verified && officer.role == Role::Supervisor) else {
        crate::sign_in_guard::failed(&state.app, &form.officer_id, &source);
        return Err(ApiError::unauthenticated());
    };
    crate::sign_in_guard::succeeded(&state.app, &officer.id, &source);
    let ttl_ms = state.app.config.session_token_ttl_ms;
    let (id, session) = state.sessions.open(officer, (state.app.clock)(), ttl_ms);
    let cookie = super::sessions::set_cookie(&id, ttl_ms / 1000, state.secure_cookies);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({
            "officer_id": session.officer.id,
            "name": session.officer.name,
            "csrf_token": session.csrf_token,
            "expires_at_ms": session.expires_at_ms,
        })),
    )
        .into_response())
}

async fn whoami(State(state): State<ConsoleState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    Ok(Json(json!({
        "officer_id": session.officer.id,
        "name": session.officer.name,
        "csrf_token": session.csrf_token,
        "expires_at_ms": session.expires_at_ms,
    })))
}

async fn sign_out(State(state): State<ConsoleState>, headers: HeaderMap) -> Result<Response, ApiError> {
    supervisor(&state, &headers, true)?;
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(super::sessions::cookie_value)
    {
        state.sessions.close(id);
    }
    let cookie = super::sessions::set_cookie("", 0, state.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize, Default)]
struct AssignmentQuery {
    state: Option<String>,
    team: Option<String>,
    officer: Option<String>,
    overdue: Option<bool>,
    created_from: Option<i64>,
    created_before: Option<i64>,
    limit: Option<u32>,
    after: Option<String>,
}

async fn list_assignments(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AssignmentQuery>,
) -> Result<Json<pb::AssignmentList>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let wanted_state = match query.state.as_deref() {
        None | Some("") => 0,
        Some(name) => pb::AssignmentState::from_str_name(name)
            .or_else(|| {
                pb::AssignmentState::from_str_name(&format!("ASSIGNMENT_STATE_{}", name.to_uppercase()))
            })
            .ok_or_else(|| ApiError::invalid("state", "not an assignment state"))?
            as i32,
    };
    let request = pb::ListAssignments {
        state: wanted_state,
        team_id: query.team.unwrap_or_default(),
        officer_id: query.officer.unwrap_or_default(),
        overdue_only: query.overdue.unwrap_or(false),
        limit: query.limit.unwrap_or(100),
        after: query.after.unwrap_or_default(),
        created_from_ms: query.created_from.unwrap_or(0),
        created_before_ms: query.created_before.unwrap_or(0),
    };
    Ok(Json(
        services::assignment::list(&state.app, &service_session(&session), request).await?,
    ))
}

async fn create_assignment(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<pb::AssignmentResult>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let assignment: pb::Assignment = json_body(&body)?;
    let request = pb::CreateAssignment {
        assignment: Some(assignment),
    };
    let bytes = request.encode_to_vec();
    Ok(Json(
        services::assignment::create(&state.app, &service_session(&session), request, &bytes).await?,
    ))
}

#[derive(Deserialize)]
struct Cancel {
    update_id: String,
    #[serde(default)]
    reason: String,
}

async fn cancel_assignment(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::AssignmentResult>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: Cancel = json_body(&body)?;
    let request = pb::CancelAssignment {
        update_id: form.update_id,
        assignment_id: id,
        reason: form.reason,
    };
    let bytes = request.encode_to_vec();
    Ok(Json(
        services::assignment::cancel(&state.app, &service_session(&session), request, &bytes).await?,
    ))
}

#[derive(Deserialize)]
struct Reassign {
    update_id: String,
    officer_id: Option<String>,
    team_id: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn reassign_assignment(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::AssignmentResult>, ApiError> {
    use pb::reassign_assignment::Assignee;
    let session = supervisor(&state, &headers, true)?;
    let form: Reassign = json_body(&body)?;
    let assignee = match (form.officer_id, form.team_id) {
        (Some(officer), None) => Assignee::OfficerId(officer),
        (None, Some(team)) => Assignee::TeamId(team),
        _ => {
            return Err(ApiError::invalid(
                "officer_id",
                "give exactly one of officer_id and team_id",
            ))
        }
    };
    let request = pb::ReassignAssignment {
        update_id: form.update_id,
        assignment_id: id,
        assignee: Some(assignee),
        reason: form.reason,
    };
    let bytes = request.encode_to_vec();
    Ok(Json(
        services::assignment::reassign(&state.app, &service_session(&session), request, &bytes).await?,
    ))
}

#[derive(Deserialize)]
struct Review {
    update_id: String,
    approve: bool,
    #[serde(default)]
    reason: String,
}

async fn review_assignment(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::AssignmentResult>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: Review = json_body(&body)?;
    let request = pb::ReviewAssignment {
        update_id: form.update_id,
        assignment_id: id,
        approve: form.approve,
        reason: form.reason,
    };
    let bytes = request.encode_to_vec();
    Ok(Json(
        services::assignment::review(&state.app, &service_session(&session), request, &bytes).await?,
    ))
}

#[derive(Deserialize)]
struct IncidentQuery {
    /// `new`, `dispatched`, `pending_review`, `closed`, `dismissed`.
    state: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

async fn list_incidents(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<IncidentQuery>,
) -> Result<Json<pb::IncidentList>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let state_filter = match query.state.as_deref() {
        None | Some("") => 0,
        Some(name) => pb::IncidentState::from_str_name(&format!(
            "INCIDENT_STATE_{}",
            name.to_uppercase().replace('-', "_")
        ))
        .map(|state| state as i32)
        .ok_or_else(|| {
            ApiError::invalid(
                "state",
                "must be new, dispatched, pending_review, closed or dismissed",
            )
        })?,
    };
    let request = pb::ListIncidents {
        state: state_filter,
        limit: query.limit.unwrap_or(100),
        after: query.after.unwrap_or_default(),
    };
    Ok(Json(
        services::incidents::list(&state.app, &service_session(&session), request).await?,
    ))
}

async fn one_incident(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<pb::IncidentDetail>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let request = pb::IncidentQuery { incident_id: id };
    Ok(Json(
        services::incidents::show(&state.app, &service_session(&session), request).await?,
    ))
}

#[derive(Deserialize)]
struct Dispatch {
    assignment_id: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    matter_code: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    due_at_ms: i64,
    #[serde(default)]
    urgent: bool,
}

async fn dispatch_incident(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::IncidentDetail>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: Dispatch = json_body(&body)?;
    let priority = if form.urgent {
        pb::Priority::Urgent
    } else {
        pb::Priority::Normal
    };
    let request = pb::DispatchIncident {
        incident_id: id,
        assignment_id: form.assignment_id,
        team_id: form.team_id,
        matter_code: form.matter_code,
        instructions: form.instructions,
        due_at_ms: form.due_at_ms,
        priority: priority as i32,
    };
    let bytes = request.encode_to_vec();
    Ok(Json(
        services::incidents::dispatch(&state.app, &service_session(&session), request, &bytes).await?,
    ))
}

async fn dismiss_incident(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::IncidentDetail>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: Cancel = json_body(&body)?;
    let request = pb::DismissIncident {
        incident_id: id,
        update_id: form.update_id,
        reason: form.reason,
    };
    Ok(Json(
        services::incidents::dismiss(&state.app, &service_session(&session), request).await?,
    ))
}

/// AI-video alerts: authenticated by the source's HMAC signature, not by a
/// console session (docs/intake.md).
async fn intake_alert(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<crate::intake::camera_alerts::AlertReceipt>, ApiError> {
    use crate::intake::camera_alerts::{authenticate, receive, AlertError};
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let outcome = match authenticate(
        &state.app.alert_sources,
        header("x-fieldlink-source"),
        header("x-fieldlink-timestamp"),
        header("x-fieldlink-signature"),
        &body,
        (state.app.clock)(),
    ) {
        Ok(source) => receive(&state.app, source, &body).await,
        Err(error) => Err(error),
    };
    state.app.metrics.request(
        "intake_alert",
        match &outcome {
            Ok(_) => "ok".into(),
            Err(AlertError::Unauthenticated(_)) => "unauthenticated".into(),
            Err(AlertError::Invalid(..)) => "invalid".into(),
            Err(AlertError::Conflict) => "conflict".into(),
            Err(AlertError::Unavailable) => "unavailable".into(),
        },
    );
    outcome.map(Json).map_err(|error| match error {
        AlertError::Unauthenticated(why) => {
            ApiError::new(Code::Unauthenticated, reason::UNAUTHENTICATED, why)
        }
        AlertError::Invalid(field, why) => ApiError::invalid(field, &format!("{field}: {why}")),
        AlertError::Conflict => ApiError::new(Code::AlreadyExists, reason::ID_CONFLICT, &error.to_string()),
        AlertError::Unavailable => ApiError::new(
            Code::Unavailable,
            reason::STORAGE_UNAVAILABLE,
            "storage unavailable; retry",
        ),
    })
}

#[derive(Deserialize)]
struct Merge {
    update_id: String,
    into_incident_id: String,
    #[serde(default)]
    reason: String,
}

async fn merge_incident(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::IncidentDetail>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: Merge = json_body(&body)?;
    let request = pb::MergeIncidents {
        update_id: form.update_id,
        incident_id: id,
        into_incident_id: form.into_incident_id,
        reason: form.reason,
    };
    Ok(Json(
        services::incidents::merge(&state.app, &service_session(&session), request).await?,
    ))
}

#[derive(Deserialize)]
struct Split {
    update_id: String,
    new_incident_id: String,
    item_ids: Vec<String>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    reason: String,
}

async fn split_incident(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    body: Bytes,
) -> Result<Json<pb::IncidentDetail>, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let form: Split = json_body(&body)?;
    let request = pb::SplitIncident {
        update_id: form.update_id,
        incident_id: id,
        new_incident_id: form.new_incident_id,
        item_ids: form.item_ids,
        category: form.category,
        reason: form.reason,
    };
    Ok(Json(
        services::incident_split::split(&state.app, &service_session(&session), request).await?,
    ))
}

async fn one_assignment(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let id = uuid_param("assignment_id", &id)?;
    let stored = state
        .app
        .storage
        .assignment(id)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such assignment"))?;
    let events = state.app.storage.assignment_history(id).await?;
    Ok(Json(json!({ "assignment": stored.assignment, "events": events })))
}

/// The enforcement-matters catalogue (事项目录) in force now, with the
/// sixteen domains, for the dispatch picker.
async fn matters(State(state): State<ConsoleState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let catalogue = state.app.catalogue.get();
    let current = catalogue.current();
    let matters: Vec<&crate::catalogue::Matter> = catalogue.matters().collect();
    Ok(Json(json!({
        "version": current.map(|v| v.version.as_str()),
        "effective_from": current.map(|v| v.effective_from.as_str()),
        "domains": crate::catalogue::DOMAINS,
        "matters": matters,
    })))
}

async fn officers(State(state): State<ConsoleState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let presence = state.app.online_now().await;
    let positions: HashMap<String, (f64, f64, i64)> = state
        .app
        .storage
        .last_positions()
        .await?
        .into_iter()
        .map(|(officer, latitude, longitude, at_ms)| (officer, (latitude, longitude, at_ms)))
        .collect();
    let live = super::positions::newest_positions(&state).await?;
    let now_ms = (state.app.clock)();
    let list: Vec<Value> = state
        .app
        .directory
        .get()
        .officers()
        .iter()
        .filter(|o| o.enrolled)
        .map(|o| {
            let seen = presence.get(&o.id);
            json!({
                "officer_id": o.id,
                "name": o.name,
                "team_id": o.team_id,
                "team_name": state.app.directory.get().team(&o.team_id).map(|t| t.name.clone()),
                "role": o.role.as_str(),
                "online": seen.is_some_and(|p| p.sessions > 0),
                "last_seen_ms": seen.map(|p| p.last_seen_ms),
                "last_position": positions.get(&o.id).map(|(latitude, longitude, at_ms)| json!({
                    "latitude": latitude, "longitude": longitude, "at_ms": at_ms,
                })),
                // Where the terminal last said it was (position datagrams).
                "live_position": live.get(&o.id).map(|fix| super::positions::fix_json(fix, now_ms)),
            })
        })
        .collect();
    Ok(Json(json!({ "officers": list })))
}

#[derive(Deserialize, Default)]
struct EvidenceQuery {
    before: Option<u64>,
    limit: Option<u32>,
}

async fn recent_evidence(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EvidenceQuery>,
) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 200"));
    }
    if query.before.is_some_and(|before| i64::try_from(before).is_err()) {
        return Err(ApiError::invalid("before", "is not a server_seq"));
    }
    let items = state.app.storage.recent_items(query.before, limit).await?;
    Ok(Json(json!({ "items": evidence_summaries(&state, items).await? })))
}

#[derive(Deserialize)]
struct CasePageQuery {
    limit: Option<u32>,
    after: Option<String>,
}

async fn case(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
    ApiQuery(page): ApiQuery<CasePageQuery>,
) -> Result<Json<pb::CaseItems>, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let query = pb::CaseItemsQuery {
        case_id: id,
        limit: page.limit.unwrap_or(0),
        after: page.after.unwrap_or_default(),
    };
    Ok(Json(
        services::case_view::query(&state.app, &service_session(&session), query).await?,
    ))
}

async fn photo_bytes(state: &ConsoleState, id: &str, thumbnail: bool) -> Result<Response, ApiError> {
    let id = uuid_param("evidence_id", id)?;
    let photo = state
        .app
        .storage
        .photo(id)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such photo"))?;
    let unavailable = || {
        ApiError::new(
            Code::Unavailable,
            reason::STORAGE_UNAVAILABLE,
            "evidence store unavailable",
        )
    };
    let blobs = state.app.evidence.blobs.clone();
    if thumbnail {
        let sha = state
            .app
            .storage
            .thumbnail(id)
            .await?
            .ok_or_else(|| ApiError::new(Code::NotFound, reason::NOT_FOUND, "no thumbnail yet"))?;
        let bytes = tokio::task::spawn_blocking(move || blobs.read(&sha))
            .await
            .map_err(|_| unavailable())?
            .map_err(|_| unavailable())?;
        return Ok(evidence_response(
            "image/jpeg".to_owned(),
            None,
            axum::body::Body::from(bytes),
        ));
    }
    // The original streams from the store a piece at a time: a video is
    // never held whole in memory.
    let sha256 = photo.receipt.sha256;
    let reader = tokio::task::spawn_blocking(move || blobs.reader(&sha256))
        .await
        .map_err(|_| unavailable())?
        .map_err(|_| unavailable())?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        loop {
            let mut buffer = vec![0u8; 256 * 1024];
            match std::io::Read::read(&mut reader, &mut buffer) {
                Ok(0) => return,
                Ok(read) => {
                    buffer.truncate(read);
                    if sender.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            }
        }
    });
    let chunks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok(evidence_response(
        photo.index.content_type.clone(),
        Some(photo.index.size_bytes),
        axum::body::Body::from_stream(chunks),
    ))
}

/// An evidence file's response: its own type, never sniffed, cached
/// (content-addressed bytes do not change).
fn evidence_response(content_type: String, length: Option<u64>, body: axum::body::Body) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                "private, max-age=86400, immutable".to_owned(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response();
    if let Some(length) = length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    }
    response
}

async fn photo_original(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let session = supervisor(&state, &headers, false)?;
    let evidence_id = uuid_param("evidence_id", &id)?;
    if state.app.storage.photo(evidence_id).await?.is_none() {
        return Err(ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such photo"));
    }
    let case_id = state
        .app
        .storage
        .item(evidence_id)
        .await?
        .and_then(|item| item.case_id)
        .unwrap_or_default();
    custody::record(
        state.app.storage.as_ref(),
        &accessor(&session, peer),
        Action::DownloadOriginal,
        &case_id,
        vec![evidence_id.to_string()],
    )
    .await?;
    photo_bytes(&state, &id, false).await
}

/// The case export package (docs/evidence-export.md), made now and sent as
/// a download; the export is a custody event naming the supervisor.
async fn export_case(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let session = supervisor(&state, &headers, true)?;
    let app = &state.app;
    let mut witnesses = crate::witness_client::endpoints(&app.config.witnesses)
        .map_err(|detail| ApiError::new(Code::FailedPrecondition, reason::INVALID_STATE, &detail))?;
    let ca_pem = match app.config.tls_files() {
        Ok(files) => tokio::fs::read(files.ca).await.ok(),
        Err(_) => None,
    };
    let dir = app.config.data_dir.join("exports");
    tokio::fs::create_dir_all(&dir).await.map_err(|_| unavailable())?;
    let file = dir.join(format!("{}.tar", Uuid::now_v7()));
    let made = crate::export::export_case(
        app.storage.as_ref(),
        &app.evidence.blobs,
        &app.log_signer,
        &mut witnesses,
        &id,
        &accessor(&session, peer),
        ca_pem.as_deref(),
        &file,
    )
    .await;
    let summary = match made {
        Ok(summary) => summary,
        Err(crate::export::ExportError::BadCaseId(error)) => {
            return Err(crate::error::ServiceError::from(error).into())
        }
        Err(crate::export::ExportError::EmptyCase(case)) => {
            return Err(ApiError::new(
                Code::NotFound,
                reason::NOT_FOUND,
                &format!("no items are stored for case {case}"),
            ))
        }
        Err(error) => {
            tracing::error!(%error, case = %id, "console export failed");
            return Err(ApiError::new(
                Code::FailedPrecondition,
                reason::INVALID_STATE,
                &error.to_string(),
            ));
        }
    };
    // Sent from an open file that is already unlinked: nothing is left
    // behind whether or not the download completes.
    let opened = tokio::fs::File::open(&file).await.map_err(|_| unavailable());
    let _ = tokio::fs::remove_file(&file).await;
    let stream = tokio_util::io::ReaderStream::new(opened?);
    let name = format!(
        "{}.tar",
        summary
            .case_id
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_LENGTH, summary.bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn unavailable() -> ApiError {
    ApiError::new(
        Code::Unavailable,
        reason::STORAGE_UNAVAILABLE,
        "evidence store unavailable",
    )
}

/// What needs a person now: problems the newest evidence scrub found and
/// checkpoints witnesses refused (the console shows a banner).
async fn alerts(State(state): State<ConsoleState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    use std::sync::atomic::Ordering;
    supervisor(&state, &headers, false)?;
    let metrics = &state.app.metrics;
    Ok(Json(json!({
        "evidence_problems": metrics.evidence_problems.load(Ordering::Relaxed),
        "evidence_scrubs": metrics.scrubs.load(Ordering::Relaxed),
        "witness_refusals": metrics.witness_refusals.load(Ordering::Relaxed),
    })))
}

async fn photo_thumbnail(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    supervisor(&state, &headers, false)?;
    photo_bytes(&state, &id, true).await
}

/// Health, readiness and metrics answer only loopback peers.
fn loopback_only(peer: SocketAddr) -> Result<(), ApiError> {
    if peer.ip().is_loopback() {
        Ok(())
    } else {
        Err(ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such route"))
    }
}

async fn healthz(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Result<&'static str, ApiError> {
    loopback_only(peer)?;
    Ok("ok\n")
}

async fn readyz(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<&'static str, ApiError> {
    loopback_only(peer)?;
    // Ready when the database answers and the server is not shutting down.
    if state.app.shutdown.is_cancelled() {
        return Err(ApiError::new(
            Code::Unavailable,
            reason::SHUTTING_DOWN,
            "shutting down",
        ));
    }
    state.app.storage.latest_assignment_seq().await?;
    Ok("ready\n")
}

async fn metrics(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    use std::sync::atomic::Ordering::Relaxed;
    loopback_only(peer)?;
    let app = &state.app;
    let stats = &app.commit_stats;
    let text = crate::metrics::render(&crate::metrics::Snapshot {
        metrics: &app.metrics,
        connections: app.live.len() as u64,
        tcp_connections: app.live.tcp_len() as u64,
        sessions: app.presence.sessions(),
        handshakes_pending: u64::from(app.handshakes.pending()),
        commits: (
            stats.batches.load(Relaxed),
            stats.items.load(Relaxed),
            stats.largest_batch_items.load(Relaxed),
            stats.commit_micros_total.load(Relaxed),
        ),
        positions: {
            let (kept, dropped) = app.positions.counts();
            (
                kept,
                dropped
                    .into_iter()
                    .map(|(reason, n)| (reason.as_str(), n))
                    .collect(),
            )
        },
    });
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
