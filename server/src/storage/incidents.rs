//! Incidents (事件): reports open or join them; supervisors dispatch,
//! dismiss and review them. Every change is an append-only event and a
//! leaf of the log; the current state is rewritten only with an event, at
//! the version read.

use async_trait::async_trait;
use fieldlink_protocol::pb;
use uuid::Uuid;

use super::StorageError;

/// Incidents, their events and the reports that joined them.
#[async_trait]
pub trait IncidentStore: Send + Sync + 'static {
    /// Records a report: it joins the nearest open (new or dispatched)
    /// incident of its category within the rule's radius whose latest
    /// report is within the rule's window, or opens a new one — in one
    /// durable transaction, writers taking turns so that two reports at
    /// once cannot open two incidents. A report whose item already joined
    /// an incident answers that incident again, changing nothing.
    async fn report_incident(
        &self,
        report: &IncidentReport,
        rule: &JoinRule,
    ) -> Result<ReportOutcome, StorageError>;

    /// Appends a change made by a person or the loop (dispatch, dismissal,
    /// review) and stores its snapshot as the current state — only if the
    /// incident's version is still `expected_version`.
    async fn change_incident(
        &self,
        expected_version: u64,
        event: &pb::IncidentEvent,
    ) -> Result<IncidentCommit, StorageError> {
        self.change_incidents(&[(Some(expected_version), event)]).await
    }

    /// Several changes in one durable transaction (a merge or a split
    /// changes two incidents): all commit, or — when any incident's version
    /// moved — none does. An expected version of `None` opens the event's
    /// incident (a split's new one); a SPLIT_OFF event's `moved` reports
    /// are recorded as now belonging to it.
    async fn change_incidents(
        &self,
        changes: &[(Option<u64>, &pb::IncidentEvent)],
    ) -> Result<IncidentCommit, StorageError>;

    /// One incident as it stands.
    async fn incident(&self, incident_id: Uuid) -> Result<Option<StoredIncident>, StorageError>;

    /// One incident's events, oldest first.
    async fn incident_history(&self, incident_id: Uuid) -> Result<Vec<pb::IncidentEvent>, StorageError>;

    /// Incidents matching a filter, newest first.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<StoredIncident>, StorageError>;

    /// An event's seq and stored bytes (for the audit).
    async fn incident_event(&self, event_id: Uuid) -> Result<Option<(u64, Vec<u8>)>, StorageError>;

    /// Events of every incident after `after_seq`, oldest first, at most
    /// `limit` (the console's live triage; seqs are gap-free and in commit
    /// order, as writers take turns).
    async fn incident_events_after(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, pb::IncidentEvent)>, StorageError>;

    /// The seq of the newest incident event (0: none yet).
    async fn latest_incident_seq(&self) -> Result<u64, StorageError>;

    /// The incident a report's item belongs to now (after any split).
    async fn incident_of_item(&self, item_id: Uuid) -> Result<Option<StoredIncident>, StorageError>;

    /// When any node last stored a packet of monitor `mn`, if it did after
    /// `since_ms` (ms since the Unix epoch, the server's clock): the
    /// offline rule asks before it reports a silence, so a monitor talking
    /// to another node is not reported silent by this one.
    async fn monitor_last_heard(&self, mn: &str, since_ms: i64) -> Result<Option<i64>, StorageError>;

    /// A grid worker's reports, newest first.
    async fn grid_reports_of(
        &self,
        officer_id: &str,
        filter: &IncidentFilter,
    ) -> Result<Vec<GridReportRow>, StorageError>;
}

/// One of a grid worker's stored reports.
#[derive(Debug, Clone, PartialEq)]
pub struct GridReportRow {
    /// The report's id (its item id).
    pub report_id: String,
    /// Its category.
    pub category: String,
    /// When it was seen, ms since the Unix epoch.
    pub observed_at_ms: i64,
}

/// A report to record.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentReport {
    /// The event's id (the leaf's item id).
    pub event_id: Uuid,
    /// The id a new incident gets (UUIDv7).
    pub new_incident_id: Uuid,
    /// Category code.
    pub category: String,
    /// Catalogue code, where known.
    pub matter_code: String,
    /// The team responsible, where the source names one.
    pub team_id: String,
    /// The report.
    pub source: pb::IncidentSource,
    /// Who records it (`system` for monitors and cameras, a grid worker's id).
    pub by: String,
    /// When the server records it.
    pub at_ms: i64,
}

/// Which reports join one incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinRule {
    /// Within this distance of the incident's place, metres.
    pub radius_m: f64,
    /// Within this time of the incident's latest report, ms.
    pub window_ms: i64,
}

impl JoinRule {
    /// Great-circle distance in metres between two (latitude, longitude)
    /// points in degrees (haversine on a sphere of the Earth's mean radius:
    /// within a town, off by well under a metre).
    pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
        let half_dlat = (lat2 - lat1) / 2.0;
        let half_dlon = (b.1 - a.1).to_radians() / 2.0;
        let h = half_dlat.sin().powi(2) + lat1.cos() * lat2.cos() * half_dlon.sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }

    /// The latitude and longitude half-widths of a box holding the circle
    /// of the radius around `latitude` (the query's coarse filter).
    pub fn box_half_widths(&self, latitude: f64) -> (f64, f64) {
        const METRES_PER_DEGREE: f64 = 111_320.0;
        let dlat = self.radius_m / METRES_PER_DEGREE * 1.01;
        let dlon = dlat / latitude.to_radians().cos().abs().max(0.01);
        (dlat, dlon)
    }
}

/// What recording a report did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutcome {
    /// The incident after the report.
    pub incident: pb::Incident,
    /// The report joined an incident that was open already.
    pub joined: bool,
    /// The report's item had joined before; nothing changed.
    pub replayed: bool,
}

/// An incident as stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIncident {
    /// The current snapshot.
    pub incident: pb::Incident,
    /// The seq of the last event applied.
    pub version: u64,
}

/// What committing a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentCommit {
    /// Appended with this seq.
    Committed {
        /// The event's seq.
        seq: u64,
    },
    /// Someone changed the incident since it was read.
    VersionConflict,
}

/// Filters for listing incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this state (`IncidentState` value).
    pub state: Option<i32>,
    /// Page size.
    pub limit: u32,
    /// Only ids below this one (UUIDv7 ids sort by creation time).
    pub before_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_on_the_ground() {
        // 0.00045° of latitude is about 50 m anywhere.
        let d = JoinRule::distance_m((31.2304, 121.4737), (31.23085, 121.4737));
        assert!((d - 50.0).abs() < 0.5, "{d}");
        // One degree of longitude at 60° N is about half of one at the equator.
        let equator = JoinRule::distance_m((0.0, 0.0), (0.0, 1.0));
        let north = JoinRule::distance_m((60.0, 0.0), (60.0, 1.0));
        assert!((north / equator - 0.5).abs() < 0.001);
        let rule = JoinRule {
            radius_m: 100.0,
            window_ms: 1,
        };
        let (dlat, dlon) = rule.box_half_widths(31.0);
        assert!(JoinRule::distance_m((31.0, 121.0), (31.0 + dlat, 121.0)) > 100.0);
        assert!(JoinRule::distance_m((31.0, 121.0), (31.0, 121.0 + dlon)) > 100.0);
    }
}
