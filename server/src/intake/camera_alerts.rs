//! AI-video alerts over a signed webhook (docs/intake.md): `POST
//! /api/intake/alerts` with the alert as JSON, signed per source with
//! HMAC-SHA256 over `timestamp.body`; a five-minute window refuses replays;
//! the source's event id makes resends safe. The alert is stored byte-exact
//! (snapshot included) as an item and a leaf, then reported as an incident.

use base64::Engine;
use fieldlink_protocol::pb;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::alert_sources::AlertSources;
use crate::state::AppState;
use crate::storage::{CommitOutcome, IncidentReport, ItemIndex, ItemKind, NewItem};

/// How far a signature's timestamp may be from the server clock, ms.
pub const SIGNATURE_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Largest alert body (JSON with the snapshot in base64), bytes.
pub const ALERT_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest snapshot, decoded, bytes.
pub const SNAPSHOT_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Largest snapshot side, pixels.
const SNAPSHOT_SIDE_MAX: u32 = 8192;

/// Why an alert is refused. Nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// Missing or unknown source, bad signature, or a timestamp outside the window.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The alert is malformed: the field and why.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    /// The same event id came with other content.
    #[error("event_id was used before for another alert")]
    Conflict,
    /// Storage failed; retry.
    #[error("storage unavailable")]
    Unavailable,
}

/// The alert a platform posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// The platform's own id of the event (idempotency key), 1–128 characters.
    pub event_id: String,
    /// The camera, 1–64 characters.
    pub camera_id: String,
    /// Category code, e.g. `street_vending`, `garbage_overflow` (1–64 of a–z, 0–9, _).
    pub category: String,
    /// When the camera saw it, ms since the Unix epoch.
    pub occurred_at_ms: i64,
    /// Where (WGS 84).
    pub latitude: f64,
    /// Where (WGS 84).
    pub longitude: f64,
    /// Address, if known.
    #[serde(default)]
    pub address: String,
    /// One line for a person, at most 500 bytes.
    #[serde(default)]
    pub summary: String,
    /// The catalogue matter, if the platform maps its categories to it.
    #[serde(default)]
    pub matter_code: String,
    /// The team; default the source's.
    #[serde(default)]
    pub team_id: String,
    /// `image/jpeg` or `image/png`.
    pub snapshot_content_type: String,
    /// The snapshot, base64 (standard alphabet).
    pub snapshot_base64: String,
}

/// What the webhook answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertReceipt {
    /// The stored alert's item id.
    pub item_id: String,
    /// SHA-256 of the body as stored, hex.
    pub sha256: String,
    /// Its server sequence number.
    pub server_seq: u64,
    /// The incident it opened or joined.
    pub incident_id: String,
    /// It joined an incident that was open already.
    pub joined: bool,
    /// The same alert was received before: this is the original answer.
    pub replayed: bool,
}

/// HMAC-SHA256 under `secret` over `{timestamp}.{body}`: what a source signs.
fn signed(secret: &[u8], timestamp: &str, body: &[u8]) -> Result<Hmac<Sha256>, AlertError> {
    // HMAC takes keys of any length; the error cannot happen.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| AlertError::Unauthenticated("unusable secret"))?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The signature a source sends, hex (what a platform computes; docs/intake.md §4).
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    signed(secret, timestamp, body)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Checks the source, timestamp and signature headers; returns the source id.
pub fn authenticate<'a>(
    sources: &'a AlertSources,
    source: Option<&str>,
    timestamp: Option<&str>,
    signature_hex: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> Result<&'a super::alert_sources::AlertSource, AlertError> {
    let source = source
        .and_then(|id| sources.get(id))
        .ok_or(AlertError::Unauthenticated(
            "unknown or missing X-Fieldlink-Source",
        ))?;
    let timestamp = timestamp.ok_or(AlertError::Unauthenticated("missing X-Fieldlink-Timestamp"))?;
    let at_ms: i64 = timestamp
        .parse()
        .map_err(|_| AlertError::Unauthenticated("X-Fieldlink-Timestamp must be ms since the Unix epoch"))?;
    if (now_ms - at_ms).abs() > SIGNATURE_WINDOW_MS {
        return Err(AlertError::Unauthenticated(
            "X-Fieldlink-Timestamp is more than five minutes off",
        ));
    }
    let given = signature_hex
        .map(|value| value.strip_prefix("sha256=").unwrap_or(value))
        .and_then(|value| hex::decode(value).ok())
        .ok_or(AlertError::Unauthenticated(
            "missing or malformed X-Fieldlink-Signature",
        ))?;
    signed(source.secret.as_bytes(), timestamp, body)?
        .verify_slice(&given)
        .map_err(|_| AlertError::Unauthenticated("the signature does not match"))?;
    Ok(source)
}

/// Checks, stores and reports an authenticated alert.
pub async fn receive(
    state: &AppState,
    source: &super::alert_sources::AlertSource,
    body: &[u8],
) -> Result<AlertReceipt, AlertError> {
    let alert: Alert =
        serde_json::from_slice(body).map_err(|e| AlertError::Invalid("body", e.to_string()))?;
    check(state, &alert)?;
    let team = if alert.team_id.is_empty() {
        source.team.clone()
    } else {
        alert.team_id.clone()
    };
    let sha256: [u8; 32] = Sha256::digest(body).into();
    // The id depends on the source and its event id only (not the body):
    // the same event id with other content is then a conflict.
    let item_id = crate::derived_id::derived_v7(
        "fieldlink camera alert",
        0,
        &[source.id.as_bytes(), alert.event_id.as_bytes()],
    );
    let item = NewItem {
        item_id,
        kind: ItemKind::CameraAlert,
        device_id: format!("webhook:{}", source.id),
        officer_id: String::new(),
        case_id: None,
        sha256,
        body: body.to_vec(),
        index: ItemIndex::CameraAlert {
            source: source.id.clone(),
            camera_id: alert.camera_id.clone(),
            event_id: alert.event_id.clone(),
        },
        capture: None,
    };
    let (receipt, replayed) = match state.committer.commit(item).await {
        Ok(CommitOutcome::Stored(receipt)) => (receipt, false),
        Ok(CommitOutcome::Replayed(receipt)) => (receipt, true),
        // (A service step is never a camera alert.)
        Ok(CommitOutcome::Conflict { .. } | CommitOutcome::StepTaken { .. }) => {
            return Err(AlertError::Conflict)
        }
        Err(_) => return Err(AlertError::Unavailable),
    };
    // Reporting is idempotent by the item: a resend answers the incident it joined.
    let report = IncidentReport {
        event_id: Uuid::now_v7(),
        new_incident_id: Uuid::now_v7(),
        category: alert.category.clone(),
        matter_code: alert.matter_code.clone(),
        team_id: team,
        source: pb::IncidentSource {
            kind: "camera".into(),
            source_id: alert.camera_id.clone(),
            item_id: item_id.to_string(),
            at_ms: alert.occurred_at_ms,
            place: Some(pb::Place {
                latitude: alert.latitude,
                longitude: alert.longitude,
                address: alert.address.clone(),
                accuracy_m: 0.0,
            }),
            summary: if alert.summary.is_empty() {
                format!("视频告警 {} / video alert: {}", alert.camera_id, alert.category)
            } else {
                alert.summary.clone()
            },
        },
        by: "system".into(),
        at_ms: (state.clock)(),
    };
    let outcome = super::incident_report::report(state, &report)
        .await
        .map_err(|_| AlertError::Unavailable)?;
    Ok(AlertReceipt {
        item_id: item_id.to_string(),
        sha256: hex::encode(receipt.sha256),
        server_seq: receipt.server_seq,
        incident_id: outcome.incident.id,
        joined: outcome.joined,
        replayed,
    })
}

fn check(state: &AppState, alert: &Alert) -> Result<(), AlertError> {
    let invalid = |field: &'static str, why: &str| Err(AlertError::Invalid(field, why.to_owned()));
    let text_ok = |text: &str, max: usize| {
        !text.trim().is_empty() && text.len() <= max && !text.chars().any(char::is_control)
    };
    if !text_ok(&alert.event_id, 128) {
        return invalid("event_id", "1 to 128 characters, no control characters");
    }
    if !text_ok(&alert.camera_id, 64) {
        return invalid("camera_id", "1 to 64 characters, no control characters");
    }
    if fieldlink_protocol::validate::category_code("category", &alert.category).is_err() {
        return invalid("category", "1 to 64 of a-z, 0-9 and _");
    }
    let now = (state.clock)();
    if alert.occurred_at_ms < fieldlink_protocol::limits::TIMESTAMP_MS_MIN
        || alert.occurred_at_ms > now + state.config.clock_skew_ms_max
    {
        return invalid(
            "occurred_at_ms",
            "must be a time after 2000 and not in the future",
        );
    }
    if !(-90.0..=90.0).contains(&alert.latitude) || !(-180.0..=180.0).contains(&alert.longitude) {
        return invalid("latitude", "latitude and longitude must be WGS 84 degrees");
    }
    if alert.address.len() > 500 || alert.summary.len() > 500 {
        return invalid("summary", "address and summary are at most 500 bytes each");
    }
    if !alert.matter_code.is_empty() && state.catalogue.get().matter(&alert.matter_code).is_none() {
        return invalid("matter_code", "is not in the enforcement-matters catalogue");
    }
    if !alert.team_id.is_empty() && state.directory.get().team(&alert.team_id).is_none() {
        return invalid("team_id", "is not a team of the directory");
    }
    let format = match alert.snapshot_content_type.as_str() {
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/png" => image::ImageFormat::Png,
        _ => return invalid("snapshot_content_type", "must be image/jpeg or image/png"),
    };
    if alert.snapshot_base64.len() > SNAPSHOT_BYTES_MAX / 3 * 4 + 4 {
        return invalid("snapshot_base64", "the snapshot is larger than 2 MiB");
    }
    let snapshot = base64::engine::general_purpose::STANDARD
        .decode(&alert.snapshot_base64)
        .map_err(|_| AlertError::Invalid("snapshot_base64", "is not base64".into()))?;
    // The header is enough to know it is the image it says (no full decode
    // in the request path).
    let reader = image::ImageReader::with_format(std::io::Cursor::new(&snapshot), format);
    match reader.into_dimensions() {
        Ok((width, height))
            if width > 0 && height > 0 && width <= SNAPSHOT_SIDE_MAX && height <= SNAPSHOT_SIDE_MAX =>
        {
            Ok(())
        }
        Ok(_) => invalid("snapshot_base64", "the snapshot's sides must be 1 to 8192 pixels"),
        Err(_) => invalid("snapshot_base64", "is not an image of snapshot_content_type"),
    }
}

/// The snapshot inside a stored alert, decoded (for the console's
/// thumbnail). None when the stored body is not such an alert.
pub fn stored_snapshot(body: &[u8]) -> Option<image::DynamicImage> {
    let alert: Alert = serde_json::from_slice(body).ok()?;
    let format = match alert.snapshot_content_type.as_str() {
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/png" => image::ImageFormat::Png,
        _ => return None,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&alert.snapshot_base64)
        .ok()?;
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    // Sides were checked on arrival; the allocation is bounded all the same.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(SNAPSHOT_DECODE_BYTES_MAX);
    reader.limits(limits);
    reader.decode().ok()
}

/// Memory one snapshot's decoding may take, bytes.
const SNAPSHOT_DECODE_BYTES_MAX: u64 = 300 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_in_their_window() {
        let sources = AlertSources::demo();
        let body = br#"{"event_id":"e1"}"#;
        let now = 1_800_000_000_000i64;
        let stamp = now.to_string();
        let good = signature(super::super::alert_sources::DEMO_SECRET.as_bytes(), &stamp, body);
        let source = Some(super::super::alert_sources::DEMO_SOURCE);
        assert!(authenticate(&sources, source, Some(&stamp), Some(&good), body, now).is_ok());
        let prefixed = format!("sha256={good}");
        assert!(authenticate(&sources, source, Some(&stamp), Some(&prefixed), body, now).is_ok());
        let refusals = [
            authenticate(&sources, Some("other"), Some(&stamp), Some(&good), body, now),
            authenticate(&sources, None, Some(&stamp), Some(&good), body, now),
            authenticate(&sources, source, None, Some(&good), body, now),
            authenticate(&sources, source, Some(&stamp), None, body, now),
            authenticate(&sources, source, Some(&stamp), Some("zz"), body, now),
            authenticate(
                &sources,
                source,
                Some(&stamp),
                Some(&good),
                br#"{"event_id":"e2"}"#,
                now,
            ),
            authenticate(
                &sources,
                source,
                Some(&stamp),
                Some(&good),
                body,
                now + SIGNATURE_WINDOW_MS + 1,
            ),
            authenticate(&sources, source, Some("yesterday"), Some(&good), body, now),
        ];
        for refusal in refusals {
            assert!(
                matches!(refusal, Err(AlertError::Unauthenticated(_))),
                "{refusal:?}"
            );
        }
    }
}
