//! Incidents (事件) for supervisors: work that came in from monitors,
//! cameras and grid workers, to triage — list, show, dispatch to a team as
//! an assignment, dismiss with a reason, merge and split (docs/intake.md);
//! and for grid workers, what became of their reports.

use fieldlink_protocol::frame;
use fieldlink_protocol::pb::{self, request::Body, response};
use uuid::Uuid;

use crate::client::unexpected;
use crate::{Client, Error};

impl Client {
    /// Supervisors: incidents newest first (`filter.state` 0: all).
    pub async fn list_incidents(&self, filter: &pb::ListIncidents) -> Result<pb::IncidentList, Error> {
        match self.incident_request(Body::ListIncidents(filter.clone())).await? {
            response::Result::Incidents(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Supervisors: one incident with its events, sources included.
    pub async fn incident(&self, incident_id: &str) -> Result<pb::IncidentDetail, Error> {
        self.incident_detail(Body::Incident(pb::IncidentQuery {
            incident_id: incident_id.to_owned(),
        }))
        .await
    }

    /// Supervisors: dispatches a NEW incident to a team as an assignment.
    /// Empty `dispatch.assignment_id` gets a fresh UUIDv7; give your own to
    /// make resending safe across restarts.
    pub async fn dispatch_incident(
        &self,
        dispatch: &pb::DispatchIncident,
    ) -> Result<pb::IncidentDetail, Error> {
        let mut dispatch = dispatch.clone();
        if dispatch.assignment_id.is_empty() {
            dispatch.assignment_id = Uuid::now_v7().to_string();
        }
        self.incident_detail(Body::DispatchIncident(dispatch)).await
    }

    /// Supervisors: dismisses a NEW incident with a reason.
    pub async fn dismiss_incident(
        &self,
        incident_id: &str,
        reason: &str,
    ) -> Result<pb::IncidentDetail, Error> {
        self.incident_detail(Body::DismissIncident(pb::DismissIncident {
            incident_id: incident_id.to_owned(),
            update_id: Uuid::now_v7().to_string(),
            reason: reason.to_owned(),
        }))
        .await
    }

    /// Supervisors: merges the NEW incident `incident_id` into `into_incident_id`.
    pub async fn merge_incidents(
        &self,
        incident_id: &str,
        into_incident_id: &str,
        reason: &str,
    ) -> Result<pb::IncidentDetail, Error> {
        self.incident_detail(Body::MergeIncidents(pb::MergeIncidents {
            update_id: Uuid::now_v7().to_string(),
            incident_id: incident_id.to_owned(),
            into_incident_id: into_incident_id.to_owned(),
            reason: reason.to_owned(),
        }))
        .await
    }

    /// Supervisors: splits the reports `item_ids` off the NEW incident
    /// `incident_id` into a new NEW incident (of `category`; empty: the
    /// same). Returns the new incident.
    pub async fn split_incident(
        &self,
        incident_id: &str,
        item_ids: &[String],
        category: &str,
        reason: &str,
    ) -> Result<pb::IncidentDetail, Error> {
        self.incident_detail(Body::SplitIncident(pb::SplitIncident {
            update_id: Uuid::now_v7().to_string(),
            incident_id: incident_id.to_owned(),
            new_incident_id: Uuid::now_v7().to_string(),
            item_ids: item_ids.to_vec(),
            category: category.to_owned(),
            reason: reason.to_owned(),
        }))
        .await
    }

    /// Grid workers: their own reports newest first, each with what became
    /// of it (in hand, closed, or dismissed with the reason).
    pub async fn my_reports(&self, page: &pb::ListMyReports) -> Result<pb::GridReportList, Error> {
        match self.incident_request(Body::ListMyReports(page.clone())).await? {
            response::Result::MyReports(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    async fn incident_detail(&self, body: Body) -> Result<pb::IncidentDetail, Error> {
        match self.incident_request(body).await? {
            response::Result::Incident(detail) => Ok(detail),
            other => Err(unexpected(other)),
        }
    }

    async fn incident_request(&self, body: Body) -> Result<response::Result, Error> {
        let request = pb::Request {
            body: Some(body),
            capture: None,
        };
        self.request_with_retry(&frame::encode(&request)).await
    }
}
