//! Reports work that came in as an incident: it joins an open one of its
//! category nearby, or opens one — the one path monitors' alarms, camera
//! alerts and grid reports all take.

use fieldlink_protocol::pb;
use uuid::Uuid;

use super::alarm_rules::Alarm;
use super::monitor_registry::Monitor;
use crate::state::AppState;
use crate::storage::{IncidentReport, JoinRule, ReportOutcome, StorageError};

/// Records a report under the configured join rule, counts it, and routes
/// a new incident (auto-dispatch by zone).
pub async fn report(state: &AppState, report: &IncidentReport) -> Result<ReportOutcome, StorageError> {
    let rule = JoinRule {
        radius_m: state.config.incident_join_radius_m,
        window_ms: state.config.incident_join_window_ms,
    };
    let outcome = state.storage.report_incident(report, &rule).await?;
    state.metrics.incident_report(outcome.joined, outcome.replayed);
    super::routing::after_report(state, &outcome).await;
    Ok(outcome)
}

/// Reports a monitor's alarm, raised by the packet stored as `item_id`
/// (offline alarms have no packet: `item_id` is then the alarm's own id).
pub async fn report_alarm(
    state: &AppState,
    monitor: &Monitor,
    alarm: &Alarm,
    item_id: &str,
    reported_at_ms: i64,
) -> Result<ReportOutcome, StorageError> {
    let now_ms = (state.clock)();
    let report = IncidentReport {
        event_id: Uuid::now_v7(),
        new_incident_id: Uuid::now_v7(),
        category: alarm.category(monitor).to_owned(),
        matter_code: match alarm {
            Alarm::Exceedance { .. } => monitor.matter_code.clone(),
            _ => String::new(),
        },
        team_id: monitor.team.clone(),
        source: pb::IncidentSource {
            kind: "monitor".into(),
            source_id: monitor.mn.clone(),
            item_id: item_id.to_owned(),
            at_ms: reported_at_ms,
            place: Some(pb::Place {
                latitude: monitor.latitude,
                longitude: monitor.longitude,
                address: monitor.address.clone(),
                accuracy_m: 0.0,
            }),
            summary: alarm.summary(monitor),
        },
        by: "system".into(),
        at_ms: now_ms,
    };
    let outcome = self::report(state, &report).await?;
    tracing::info!(
        incident = %outcome.incident.id,
        category = %report.category,
        mn = %monitor.mn,
        joined = outcome.joined,
        "incident reported"
    );
    Ok(outcome)
}
