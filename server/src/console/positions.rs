//! Officers' live positions for the console (实时位置): the newest fix of
//! each officer — this node's live board, or the stored track's newest
//! point where another node received a newer one — the nearest officers to
//! a place for dispatch, and an officer's track.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::ApiQuery;
use super::{supervisor, ApiError, ConsoleState};
use crate::evidence::exif_check::distance_m;
use crate::storage::PositionFix;

/// A live position older than this (by the receiving node's clock) is not
/// offered as where an officer is now.
pub const LIVE_FOR_MS: i64 = 10 * 60 * 1000;

/// How far back the console looks for an officer's position: a shift.
/// Older fixes are not where anyone is now (the place of the officer's
/// last inspection still shows).
pub const SHOWN_FOR_MS: i64 = 12 * 3_600_000;

/// Each officer's newest fix known to any node, received within
/// [`SHOWN_FOR_MS`].
pub async fn newest_positions(state: &ConsoleState) -> Result<HashMap<String, PositionFix>, ApiError> {
    let since_ms = (state.app.clock)().saturating_sub(SHOWN_FOR_MS);
    let mut newest: HashMap<String, PositionFix> = HashMap::new();
    // Only the recent points: the track holds weeks of them.
    let stored = state.app.storage.latest_track_points(since_ms).await?;
    let live = state
        .app
        .positions
        .latest()
        .into_iter()
        .filter(|fix| fix.received_at_ms >= since_ms);
    for fix in stored.into_iter().chain(live) {
        match newest.get(&fix.officer_id) {
            Some(held) if held.at_ms >= fix.at_ms => {}
            _ => {
                newest.insert(fix.officer_id.clone(), fix);
            }
        }
    }
    Ok(newest)
}

/// The JSON of a fix, with its age by this node's clock.
pub fn fix_json(fix: &PositionFix, now_ms: i64) -> Value {
    json!({
        "latitude": fix.latitude,
        "longitude": fix.longitude,
        "accuracy_m": fix.accuracy_m,
        "speed_mps": fix.speed_mps,
        "at_ms": fix.at_ms,
        "device_id": fix.device_id,
        "age_ms": now_ms.saturating_sub(fix.received_at_ms).max(0),
    })
}

/// The place to measure from, and how many to list.
#[derive(Deserialize)]
pub struct NearestQuery {
    latitude: Option<f64>,
    longitude: Option<f64>,
    limit: Option<u32>,
}

/// `GET /api/officers/nearest?latitude=&longitude=&limit=`: officers (role
/// officer) online now with a live position, nearest first, for the
/// dispatch form's suggestion.
pub async fn nearest(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<NearestQuery>,
) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    let latitude = query
        .latitude
        .filter(|l| (-90.0..=90.0).contains(l))
        .ok_or_else(|| ApiError::invalid("latitude", "is required, -90 to 90"))?;
    let longitude = query
        .longitude
        .filter(|l| (-180.0..=180.0).contains(l))
        .ok_or_else(|| ApiError::invalid("longitude", "is required, -180 to 180"))?;
    let limit = query.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 50"));
    }
    let now_ms = (state.app.clock)();
    let online = state.app.online_now().await;
    let directory = state.app.directory.get();
    let mut near: Vec<(f64, Value)> = newest_positions(&state)
        .await?
        .into_values()
        .filter(|fix| now_ms.saturating_sub(fix.received_at_ms) <= LIVE_FOR_MS)
        .filter(|fix| online.get(&fix.officer_id).is_some_and(|p| p.sessions > 0))
        .filter_map(|fix| {
            let officer = directory.enrolled_officer(&fix.officer_id)?;
            if officer.role != crate::directory::Role::Officer {
                return None;
            }
            let metres = distance_m(latitude, longitude, fix.latitude, fix.longitude);
            Some((
                metres,
                json!({
                    "officer_id": officer.id,
                    "name": officer.name,
                    "team_id": officer.team_id,
                    "distance_m": metres.round(),
                    "position": fix_json(&fix, now_ms),
                }),
            ))
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    near.truncate(limit as usize);
    Ok(Json(
        json!({ "officers": near.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }),
    ))
}

/// The time range of a track, and how many points at most.
#[derive(Deserialize)]
pub struct TrackQuery {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/officers/{officer_id}/track?from_ms=&to_ms=&limit=`: the
/// officer's sampled track, oldest first (default: the last 12 hours).
pub async fn track(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(officer_id): Path<String>,
    ApiQuery(query): ApiQuery<TrackQuery>,
) -> Result<Json<Value>, ApiError> {
    supervisor(&state, &headers, false)?;
    fieldlink_protocol::validate::officer_id("officer_id", &officer_id)
        .map_err(|e| ApiError::invalid("officer_id", &e.to_string()))?;
    let now_ms = (state.app.clock)();
    let to_ms = query.to_ms.unwrap_or(now_ms);
    let from_ms = query.from_ms.unwrap_or(to_ms.saturating_sub(12 * 3_600_000));
    if from_ms > to_ms {
        return Err(ApiError::invalid("from_ms", "is after to_ms"));
    }
    let limit = query.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 10000"));
    }
    let points = state
        .app
        .storage
        .track(&officer_id, from_ms, to_ms, limit)
        .await?;
    Ok(Json(json!({
        "officer_id": officer_id,
        "points": points.iter().map(|fix| fix_json(fix, now_ms)).collect::<Vec<_>>(),
    })))
}
