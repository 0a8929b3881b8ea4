//! Where incidents go (docs/intake.md): the team responsible for a place
//! (the source's, else its zone's) and the auto-dispatch of new incidents
//! that a zone's rules name, so that routine work skips the triage queue.

use fieldlink_protocol::pb;
use sha2::{Digest, Sha256};

use crate::services::assignment::Actor;
use crate::state::AppState;
use crate::storage::ReportOutcome;

/// The first non-empty of `named` (a request's choice, a source's team),
/// else the team of the zone holding `place`, else empty.
pub fn team_for(state: &AppState, named: [&str; 2], place: &pb::Place) -> String {
    named
        .into_iter()
        .find(|team| !team.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            state
                .zones
                .zone_at(place.latitude, place.longitude)
                .map(|zone| zone.team.clone())
        })
        .unwrap_or_default()
}

/// After a report: a new incident that a zone's rule names is dispatched at
/// once by the server, to the zone's team. Failures leave it NEW, for triage.
pub async fn after_report(state: &AppState, outcome: &ReportOutcome) {
    if outcome.joined || outcome.replayed {
        return;
    }
    let incident = &outcome.incident;
    let place = incident.place.clone().unwrap_or_default();
    let Some((zone, rule)) = state
        .zones
        .auto_dispatch(&incident.category, place.latitude, place.longitude)
    else {
        return;
    };
    // One assignment per incident, whichever node or retry gets here.
    let id = crate::derived_id::derived_v7(
        "fieldlink auto-dispatch",
        incident.opened_at_ms,
        &[incident.id.as_bytes()],
    );
    let request = pb::DispatchIncident {
        incident_id: incident.id.clone(),
        assignment_id: id.to_string(),
        team_id: zone.team.clone(),
        matter_code: if incident.matter_code.is_empty() {
            rule.matter_code.clone()
        } else {
            String::new()
        },
        instructions: format!("自动派遣（{}）auto-dispatched for zone {}", zone.name, zone.id),
        due_at_ms: 0,
        priority: pb::Priority::Normal as i32,
    };
    let sha256: [u8; 32] = Sha256::digest(incident.id.as_bytes()).into();
    if let Err(error) =
        crate::services::incidents::dispatch_as(state, &Actor::system(), request, sha256).await
    {
        tracing::warn!(%error, incident = %incident.id, "auto-dispatch failed; the incident waits for triage");
    }
}
