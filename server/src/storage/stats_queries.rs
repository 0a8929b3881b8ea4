// The statistics queries both databases share, written once (included next
// to `queries.rs` in the same module; see its header). Grouping is done by
// the database; the day of a record is its start in China Standard Time.

use crate::storage::statistics::{
    AssignmentMoment, IncidentCount, InspectionCount, InspectionKey, StatsStore, TimeRange,
};

/// China Standard Time's offset, ms (a day starts at 16:00 UTC).
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

#[async_trait]
impl StatsStore for Store {
    async fn inspection_counts(
        &self,
        range: TimeRange,
        key: InspectionKey,
    ) -> Result<Vec<InspectionCount>, StorageError> {
        let key_sql = match key {
            InspectionKey::Matter => "n.matter_code".to_owned(),
            InspectionKey::Officer => "n.sender_id".to_owned(),
            InspectionKey::Day => {
                format!("CAST(CAST((n.started_at_ms + {CST_OFFSET_MS}) / 86400000 AS BIGINT) AS TEXT)")
            }
        };
        let sql = format!(
            "SELECT {key_sql} AS k, n.outcome, CAST(COUNT(*) AS BIGINT) AS c FROM inspections n \
             WHERE n.started_at_ms >= $1 AND n.started_at_ms < $2 GROUP BY {key_sql}, n.outcome"
        );
        sqlx::query(&sql)
            .bind(range.from_ms)
            .bind(range.to_ms)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(InspectionCount {
                    key: row.try_get("k")?,
                    outcome: row.try_get("outcome")?,
                    count: to_u64(row.try_get("c")?)?,
                })
            })
            .collect()
    }

    async fn incident_counts(&self, range: TimeRange) -> Result<Vec<IncidentCount>, StorageError> {
        sqlx::query(
            "SELECT category, state, CAST(COUNT(*) AS BIGINT) AS c FROM incidents \
             WHERE opened_at_ms >= $1 AND opened_at_ms < $2 GROUP BY category, state",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(IncidentCount {
                category: row.try_get("category")?,
                state: row.try_get("state")?,
                count: to_u64(row.try_get("c")?)?,
            })
        })
        .collect()
    }

    async fn incident_source_counts(&self, range: TimeRange) -> Result<Vec<(String, u64)>, StorageError> {
        // A report's kind is its item's kind (monitor packet, camera alert,
        // grid report).
        sqlx::query(
            "SELECT i.kind, CAST(COUNT(*) AS BIGINT) AS c FROM incident_sources s \
             JOIN items i ON i.item_id = s.item_id \
             WHERE i.received_at_ms >= $1 AND i.received_at_ms < $2 GROUP BY i.kind ORDER BY i.kind",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("kind")?, to_u64(row.try_get("c")?)?)))
        .collect()
    }

    async fn assignment_moments(
        &self,
        range: TimeRange,
        limit: u32,
    ) -> Result<Vec<AssignmentMoment>, StorageError> {
        sqlx::query(
            "SELECT e.assignment_id, e.kind, e.at_ms FROM assignment_events e \
             JOIN assignments a ON a.assignment_id = e.assignment_id \
             WHERE a.created_at_ms >= $1 AND a.created_at_ms < $2 \
             ORDER BY e.assignment_id, e.seq LIMIT $3",
        )
        .bind(range.from_ms)
        .bind(range.to_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(AssignmentMoment {
                assignment_id: row.try_get("assignment_id")?,
                kind: row.try_get("kind")?,
                at_ms: row.try_get("at_ms")?,
            })
        })
        .collect()
    }
}
