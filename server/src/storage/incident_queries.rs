// The incident queries both databases share, written once (included next
// to `queries.rs` in the same module; see its header). What differs is
// `Store::lock_incidents`: nothing on SQLite (BEGIN IMMEDIATE already lets
// one writer in), an advisory lock on PostgreSQL.

use crate::storage::{
    IncidentCommit, IncidentFilter, IncidentReport, IncidentStore, JoinRule, ReportOutcome, StoredIncident,
};
use fieldlink_protocol::pb::{IncidentEventKind, IncidentState};

/// States in which a report still joins an incident.
const JOINABLE_STATES: [IncidentState; 2] = [IncidentState::New, IncidentState::Dispatched];

fn incident_from_row(row: &DbRow) -> Result<StoredIncident, StorageError> {
    use prost::Message;
    let bytes: Vec<u8> = row.try_get("snapshot")?;
    let incident = fieldlink_protocol::pb::Incident::decode(bytes.as_slice())
        .map_err(|e| StorageError::Corrupt(format!("incident snapshot: {e}")))?;
    Ok(StoredIncident {
        incident,
        version: to_u64(row.try_get("version")?)?,
    })
}

/// Appends one event: its row, its leaf, the incident's new snapshot (a
/// new row when `expected_version` is `None`) and, for a report, its source.
async fn append_incident_event(
    tx: &mut Transaction<'_, Db>,
    expected_version: Option<u64>,
    event: &fieldlink_protocol::pb::IncidentEvent,
) -> Result<IncidentCommit, StorageError> {
    use prost::Message;
    let incident = event
        .incident
        .as_ref()
        .ok_or_else(|| StorageError::Corrupt("incident event without its incident".into()))?;
    if let Some(version) = expected_version {
        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM incidents WHERE incident_id = $1")
            .bind(&incident.id)
            .fetch_optional(&mut **tx)
            .await?;
        if current != Some(to_i64(version)?) {
            return Ok(IncidentCommit::VersionConflict);
        }
    }
    let seq: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM incident_events")
            .fetch_one(&mut **tx)
            .await?;
    let bytes = event.encode_to_vec();
    let leaf = crate::storage::log_append::incident_leaf(to_u64(seq)?, &bytes)?;
    sqlx::query(
        "INSERT INTO incident_events (event_id, seq, incident_id, at_ms, kind, record) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event.event_id)
    .bind(seq)
    .bind(&incident.id)
    .bind(event.at_ms)
    .bind(event.kind)
    .bind(&bytes)
    .execute(&mut **tx)
    .await?;
    // Where each report is now: its first incident, then each split's.
    let arrived = match event.kind {
        k if k == IncidentEventKind::SplitOff as i32 => event.moved.iter().collect::<Vec<_>>(),
        _ => event.source.iter().collect(),
    };
    for source in arrived {
        sqlx::query("INSERT INTO incident_sources (item_id, incident_id, event_id) VALUES ($1, $2, $3)")
            .bind(&source.item_id)
            .bind(&incident.id)
            .bind(&event.event_id)
            .execute(&mut **tx)
            .await?;
    }
    let place = incident.place.clone().unwrap_or_default();
    let snapshot = incident.encode_to_vec();
    if expected_version.is_some() {
        sqlx::query(
            "UPDATE incidents SET state = $2, last_report_at_ms = $3, version = $4, snapshot = $5 \
             WHERE incident_id = $1",
        )
        .bind(&incident.id)
        .bind(incident.state)
        .bind(incident.last_report_at_ms)
        .bind(seq)
        .bind(&snapshot)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO incidents (incident_id, category, state, latitude, longitude, opened_at_ms, \
             last_report_at_ms, version, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&incident.id)
        .bind(&incident.category)
        .bind(incident.state)
        .bind(place.latitude)
        .bind(place.longitude)
        .bind(incident.opened_at_ms)
        .bind(incident.last_report_at_ms)
        .bind(seq)
        .bind(&snapshot)
        .execute(&mut **tx)
        .await?;
    }
    append_leaves(tx, &[(event.event_id.clone(), leaf.encode())]).await?;
    Ok(IncidentCommit::Committed { seq: to_u64(seq)? })
}

/// The incident a report's item belongs to now (the latest move), if it
/// joined one.
const INCIDENT_OF_SOURCE: &str = "SELECT i.snapshot, i.version FROM incident_sources s \
     JOIN incident_events e ON e.event_id = s.event_id \
     JOIN incidents i ON i.incident_id = s.incident_id \
     WHERE s.item_id = $1 ORDER BY e.seq DESC LIMIT 1";

/// The incident a report's item joined before, if it did.
async fn incident_of_source(
    tx: &mut Transaction<'_, Db>,
    item_id: &str,
) -> Result<Option<StoredIncident>, StorageError> {
    let row = sqlx::query(INCIDENT_OF_SOURCE)
        .bind(item_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(incident_from_row).transpose()
}

/// The nearest joinable incident for a report, if one is within the rule.
async fn incident_to_join(
    tx: &mut Transaction<'_, Db>,
    report: &IncidentReport,
    rule: &JoinRule,
) -> Result<Option<StoredIncident>, StorageError> {
    let place = report.source.place.clone().unwrap_or_default();
    let (dlat, dlon) = rule.box_half_widths(place.latitude);
    let rows = sqlx::query(
        "SELECT snapshot, version FROM incidents WHERE category = $1 AND state IN ($2, $3) \
         AND last_report_at_ms >= $4 AND latitude BETWEEN $5 AND $6 AND longitude BETWEEN $7 AND $8",
    )
    .bind(&report.category)
    .bind(JOINABLE_STATES[0] as i32)
    .bind(JOINABLE_STATES[1] as i32)
    .bind(report.at_ms.saturating_sub(rule.window_ms))
    .bind(place.latitude - dlat)
    .bind(place.latitude + dlat)
    .bind(place.longitude - dlon)
    .bind(place.longitude + dlon)
    .fetch_all(&mut **tx)
    .await?;
    let mut nearest: Option<(f64, StoredIncident)> = None;
    for row in &rows {
        let stored = incident_from_row(row)?;
        let at = stored.incident.place.clone().unwrap_or_default();
        let distance = JoinRule::distance_m((place.latitude, place.longitude), (at.latitude, at.longitude));
        if distance <= rule.radius_m && nearest.as_ref().is_none_or(|(best, _)| distance < *best) {
            nearest = Some((distance, stored));
        }
    }
    Ok(nearest.map(|(_, stored)| stored))
}

#[async_trait]
impl IncidentStore for Store {
    async fn report_incident(
        &self,
        report: &IncidentReport,
        rule: &JoinRule,
    ) -> Result<ReportOutcome, StorageError> {
        let mut tx = self.begin_write().await?;
        Store::lock_incidents(&mut tx).await?;
        if let Some(stored) = incident_of_source(&mut tx, &report.source.item_id).await? {
            return Ok(ReportOutcome {
                incident: stored.incident,
                joined: false,
                replayed: true,
            });
        }
        let (expected, incident, joined) = match incident_to_join(&mut tx, report, rule).await? {
            Some(stored) => {
                let mut incident = stored.incident;
                incident.report_count = incident.report_count.saturating_add(1);
                incident.last_report_at_ms = incident.last_report_at_ms.max(report.at_ms);
                (Some(stored.version), incident, true)
            }
            None => (
                None,
                fieldlink_protocol::pb::Incident {
                    id: report.new_incident_id.to_string(),
                    category: report.category.clone(),
                    matter_code: report.matter_code.clone(),
                    place: report.source.place.clone(),
                    state: IncidentState::New as i32,
                    opened_at_ms: report.at_ms,
                    last_report_at_ms: report.at_ms,
                    report_count: 1,
                    team_id: report.team_id.clone(),
                    assignment_id: String::new(),
                    title: report.source.summary.clone(),
                    dismiss_reason: String::new(),
                    merged_into: String::new(),
                    merged_ids: Vec::new(),
                },
                false,
            ),
        };
        let event = fieldlink_protocol::pb::IncidentEvent {
            event_id: report.event_id.to_string(),
            incident_id: incident.id.clone(),
            kind: if joined {
                IncidentEventKind::Joined
            } else {
                IncidentEventKind::Opened
            } as i32,
            by: report.by.clone(),
            at_ms: report.at_ms,
            reason: String::new(),
            source: Some(report.source.clone()),
            incident: Some(incident.clone()),
            moved: Vec::new(),
        };
        match append_incident_event(&mut tx, expected, &event).await? {
            IncidentCommit::Committed { .. } => {}
            // Writers take turns, so the version read is the version now.
            IncidentCommit::VersionConflict => {
                return Err(StorageError::Corrupt(
                    "incident changed under the incident lock".into(),
                ))
            }
        }
        tx.commit().await?;
        Ok(ReportOutcome {
            incident,
            joined,
            replayed: false,
        })
    }

    async fn change_incidents(
        &self,
        changes: &[(Option<u64>, &fieldlink_protocol::pb::IncidentEvent)],
    ) -> Result<IncidentCommit, StorageError> {
        let mut tx = self.begin_write().await?;
        Store::lock_incidents(&mut tx).await?;
        let mut last = IncidentCommit::VersionConflict;
        for (expected_version, event) in changes {
            last = append_incident_event(&mut tx, *expected_version, event).await?;
            if last == IncidentCommit::VersionConflict {
                // Dropping the transaction rolls back what came before.
                return Ok(IncidentCommit::VersionConflict);
            }
        }
        tx.commit().await?;
        Ok(last)
    }

    async fn incident(&self, incident_id: Uuid) -> Result<Option<StoredIncident>, StorageError> {
        let row = sqlx::query("SELECT snapshot, version FROM incidents WHERE incident_id = $1")
            .bind(incident_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn incident_history(
        &self,
        incident_id: Uuid,
    ) -> Result<Vec<fieldlink_protocol::pb::IncidentEvent>, StorageError> {
        use prost::Message;
        let rows = sqlx::query("SELECT record FROM incident_events WHERE incident_id = $1 ORDER BY seq")
            .bind(incident_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("record")?;
                fieldlink_protocol::pb::IncidentEvent::decode(bytes.as_slice())
                    .map_err(|e| StorageError::Corrupt(format!("incident event: {e}")))
            })
            .collect()
    }

    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<StoredIncident>, StorageError> {
        let mut query = QueryBuilder::<Db>::new("SELECT snapshot, version FROM incidents WHERE 1 = 1");
        if let Some(state) = filter.state {
            query.push(" AND state = ").push_bind(state);
        }
        if let Some(before) = &filter.before_id {
            query.push(" AND incident_id < ").push_bind(before.clone());
        }
        query
            .push(" ORDER BY incident_id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn incident_event(&self, event_id: Uuid) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let row = sqlx::query("SELECT seq, record FROM incident_events WHERE event_id = $1")
            .bind(event_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some((to_u64(row.try_get("seq")?)?, row.try_get("record")?))),
            None => Ok(None),
        }
    }

    async fn incident_events_after(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, fieldlink_protocol::pb::IncidentEvent)>, StorageError> {
        use prost::Message;
        let rows =
            sqlx::query("SELECT seq, record FROM incident_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(to_i64(after_seq)?)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("record")?;
                let event = fieldlink_protocol::pb::IncidentEvent::decode(bytes.as_slice())
                    .map_err(|e| StorageError::Corrupt(format!("incident event: {e}")))?;
                Ok((to_u64(row.try_get("seq")?)?, event))
            })
            .collect()
    }

    async fn latest_incident_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM incident_events")
                .fetch_one(&self.pool)
                .await?;
        to_u64(seq)
    }

    async fn incident_of_item(&self, item_id: Uuid) -> Result<Option<StoredIncident>, StorageError> {
        let row = sqlx::query(INCIDENT_OF_SOURCE)
            .bind(item_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn monitor_last_heard(&self, mn: &str, since_ms: i64) -> Result<Option<i64>, StorageError> {
        // With a recent `since_ms` the index on received_at_ms keeps this to
        // the last minutes' items.
        let heard: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(i.received_at_ms) FROM items i JOIN monitor_packets p ON p.item_id = i.item_id \
             WHERE i.received_at_ms > $1 AND p.mn = $2",
        )
        .bind(since_ms)
        .bind(mn)
        .fetch_one(&self.pool)
        .await?;
        Ok(heard)
    }

    async fn grid_reports_of(
        &self,
        officer_id: &str,
        filter: &IncidentFilter,
    ) -> Result<Vec<crate::storage::GridReportRow>, StorageError> {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT g.item_id, g.category, g.observed_at_ms FROM grid_reports g \
             JOIN items i ON i.item_id = g.item_id WHERE i.officer_id = ",
        );
        query.push_bind(officer_id.to_owned());
        if let Some(before) = &filter.before_id {
            query.push(" AND g.item_id < ").push_bind(before.clone());
        }
        query
            .push(" ORDER BY g.item_id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(crate::storage::GridReportRow {
                    report_id: row.try_get("item_id")?,
                    category: row.try_get("category")?,
                    observed_at_ms: row.try_get("observed_at_ms")?,
                })
            })
            .collect()
    }
}
