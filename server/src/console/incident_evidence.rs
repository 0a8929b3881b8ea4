//! What the triage shows of an incident's evidence: each of its reports
//! (and those of incidents merged into it) with thumbnails of its images —
//! a grid report's photos, a camera alert's snapshot. Monitor packets carry
//! readings, not images.
//!
//! - `GET /api/incidents/{id}/evidence`
//! - `GET /api/camera-alerts/{item_id}/thumbnail`: made from the snapshot
//!   stored inside the alert (the alert item is the evidence; the thumbnail
//!   is a view of it, made on request and never stored).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldlink_protocol::pb::{self, Code};
use fieldlink_protocol::status::reason;
use serde_json::{json, Value};

use super::extract::PathId;
use super::{service_session, supervisor, ApiError, ConsoleState};
use crate::services;
use crate::storage::ItemKind;

/// Reports listed per incident, at most (an incident joined by more shows
/// its first ones; the count is on the incident).
const SOURCES_SHOWN_MAX: usize = 100;

/// The incident's reports with their images.
pub async fn incident_evidence(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let session = service_session(&supervisor(&state, &headers, false)?);
    let detail =
        services::incidents::show(&state.app, &session, pb::IncidentQuery { incident_id: id }).await?;
    let mut sources: Vec<(pb::IncidentSource, String)> =
        detail.sources.into_iter().map(|s| (s, String::new())).collect();
    for merged in detail.incident.map(|i| i.merged_ids).unwrap_or_default() {
        let query = pb::IncidentQuery {
            incident_id: merged.clone(),
        };
        if let Ok(other) = services::incidents::show(&state.app, &session, query).await {
            sources.extend(other.sources.into_iter().map(|s| (s, merged.clone())));
        }
    }
    let mut shown = Vec::new();
    for (source, merged_from) in sources.into_iter().take(SOURCES_SHOWN_MAX) {
        let images = images_of(&state, &source).await?;
        shown.push(json!({
            "item_id": source.item_id,
            "kind": source.kind,
            "source_id": source.source_id,
            "summary": source.summary,
            "at_ms": source.at_ms,
            "merged_from": merged_from,
            "images": images,
        }));
    }
    Ok(Json(json!({ "sources": shown })))
}

/// The images of one report, each as {url, thumbnail_url}.
async fn images_of(state: &ConsoleState, source: &pb::IncidentSource) -> Result<Vec<Value>, ApiError> {
    match source.kind.as_str() {
        "grid_report" => {
            let Ok(report_id) = uuid::Uuid::parse_str(&source.item_id) else {
                return Ok(Vec::new());
            };
            // The photos the reporter uploaded for the report.
            let links = state.app.storage.record_links(report_id).await?;
            Ok(links
                .naming
                .iter()
                .filter(|(_, _, officer)| officer == &source.source_id)
                .map(|(photo, _, _)| {
                    json!({
                        "url": format!("/api/photos/{photo}/original"),
                        "thumbnail_url": format!("/api/photos/{photo}/thumbnail"),
                    })
                })
                .collect())
        }
        "camera" => Ok(vec![json!({
            "url": format!("/api/items/{}", source.item_id),
            "thumbnail_url": format!("/api/camera-alerts/{}/thumbnail", source.item_id),
        })]),
        _ => Ok(Vec::new()),
    }
}

/// A thumbnail of a stored camera alert's snapshot.
pub async fn camera_alert_thumbnail(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    supervisor(&state, &headers, false)?;
    let item_id = fieldlink_protocol::validate::item_id("item_id", &id)
        .map_err(|e| ApiError::from(crate::error::ServiceError::from(e)))?;
    let not_found = || ApiError::new(Code::NotFound, reason::NOT_FOUND, "no such camera alert");
    let item = state
        .app
        .storage
        .item(item_id)
        .await?
        .filter(|item| item.kind == ItemKind::CameraAlert.as_str())
        .ok_or_else(not_found)?;
    let made = tokio::task::spawn_blocking(move || {
        let image = crate::intake::camera_alerts::stored_snapshot(&item.body)?;
        crate::evidence::thumbnail::make(&image)
            .ok()
            .map(|(jpeg, _, _)| jpeg)
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| {
        ApiError::new(
            Code::Unavailable,
            reason::STORAGE_UNAVAILABLE,
            "the stored snapshot could not be read",
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        made,
    )
        .into_response())
}
