//! One request stream: read one frame, dispatch it, write one response.

use std::time::Duration;

use fieldlink_link::{RecvStream, SendStream};
use fieldlink_protocol::envelope::parse_request;
use fieldlink_protocol::io::{read_frame, write_frame, ReadFrameError};
use fieldlink_protocol::pb::{self, request::Body, response};
use fieldlink_protocol::stream_code;

use crate::error::ServiceError;
use crate::services;
use crate::session::Session;
use crate::state::AppState;

/// How a request stream ended, for the connection's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A request was read and answered (or refused with an answer).
    Served,
    /// The peer reset or stopped the stream (or the connection went away)
    /// before its request was read.
    Abandoned,
}

/// Serves one client-opened bidirectional stream.
pub async fn serve_stream(
    state: &AppState,
    session: &Session,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Outcome {
    let deadline = Duration::from_millis(state.config.request_timeout_ms);
    if let Err(wait_ms) = state.device_limits.request(&session.device_id) {
        recv.stop(stream_code::FRAME_REFUSED);
        let status = ServiceError::RateLimited {
            retry_after_ms: wait_ms,
        }
        .to_status();
        let response = pb::Response {
            result: Some(response::Result::Error(status)),
        };
        if write_frame(&mut send, &response).await.is_ok() {
            let _ = send.finish();
        }
        return Outcome::Served;
    }
    let mut kind = "unparsed";
    let result =
        match tokio::time::timeout(deadline, read_frame(&mut recv, state.config.frame_bytes_max)).await {
            Err(_) => Err(ServiceError::Timeout),
            Ok(Err(ReadFrameError::Io(error))) => {
                // The stream or connection is gone; nobody to answer.
                tracing::debug!(device = %session.device_id, %error, "request stream failed");
                return Outcome::Abandoned;
            }
            Ok(Err(ReadFrameError::Frame(error))) => Err(ServiceError::Frame(error)),
            Ok(Ok(frame)) => match parse_request(&frame) {
                Err(error) => Err(error.into()),
                Ok(request) => {
                    kind = body_kind(&request.body);
                    // The feed keeps its stream: it is served to the end here.
                    if let Body::SubscribeAssignments(subscribe) = request.body {
                        state.metrics.request(kind, "ok".into());
                        Box::pin(services::assignment_feed::serve(
                            state, session, subscribe, send, recv,
                        ))
                        .await;
                        return Outcome::Served;
                    }
                    // On the heap: the future of the largest service is
                    // kilobytes, and this stream's task would otherwise be
                    // that size and copied whole as it is spawned (callgrind:
                    // four copies, about 70,000 instructions per request).
                    Box::pin(dispatch(state, session, request, &mut recv)).await
                }
            },
        };
    state.metrics.request(
        kind,
        match &result {
            Ok(_) => "ok".into(),
            Err(error) => error.to_status().reason.into(),
        },
    );
    if matches!(result, Err(ServiceError::StreamLost)) {
        return Outcome::Abandoned;
    }
    if result.is_err() {
        // Tell the peer to stop sending what we will not read (a no-op when
        // the stream is already finished).
        recv.stop(stream_code::FRAME_REFUSED);
    }
    let response = match result {
        Ok(result) => stamp_epoch(result, &state.database_epoch),
        Err(error) => {
            tracing::debug!(device = %session.device_id, officer = %session.officer.id, %error, "request refused");
            response::Result::Error(error.to_status())
        }
    };
    let response = pb::Response {
        result: Some(response),
    };
    if write_frame(&mut send, &response).await.is_ok() {
        let _ = send.finish();
    }
    Outcome::Served
}

/// Every receipt names the database epoch its seq belongs to.
fn stamp_epoch(mut result: response::Result, epoch: &str) -> response::Result {
    let receipt = match &mut result {
        response::Result::Receipt(receipt) => Some(receipt),
        response::Result::Assignment(result) => result.receipt.as_mut(),
        response::Result::UploadStatus(status) => status.receipt.as_mut(),
        _ => None,
    };
    if let Some(receipt) = receipt {
        receipt.database_epoch = epoch.to_owned();
    }
    result
}

/// What a grid worker may ask: their reports (and what became of them) and
/// those reports' photos, and proofs of what they sent.
fn grid_workers_may(body: &Body) -> bool {
    matches!(
        body,
        Body::SubmitGridReport(_)
            | Body::ListMyReports(_)
            | Body::Catalogue(_)
            | Body::Roster(_)
            | Body::UploadPhoto(_)
            | Body::UploadStatus(_)
            | Body::RecordPhotos(_)
            | Body::LogProof(_)
            | Body::LogConsistency(_)
    )
}

/// The request kind, as metrics name it.
fn body_kind(body: &Body) -> &'static str {
    match body {
        Body::SubmitInspection(_) => "submit_inspection",
        Body::UploadPhoto(_) => "upload_photo",
        Body::UploadStatus(_) => "upload_status",
        Body::RecordPhotos(_) => "record_photos",
        Body::SubmitService(_) => "submit_service",
        Body::SubmitServiceEvent(_) => "submit_service_event",
        Body::SubmitInterview(_) => "submit_interview",
        Body::CaseItems(_) => "case_items",
        Body::CreateAssignment(_) => "create_assignment",
        Body::UpdateAssignment(_) => "update_assignment",
        Body::CancelAssignment(_) => "cancel_assignment",
        Body::ReassignAssignment(_) => "reassign_assignment",
        Body::ListAssignments(_) => "list_assignments",
        Body::SubscribeAssignments(_) => "subscribe_assignments",
        Body::LogProof(_) => "log_proof",
        Body::LogConsistency(_) => "log_consistency",
        Body::ReviewAssignment(_) => "review_assignment",
        Body::ListIncidents(_) => "list_incidents",
        Body::Incident(_) => "incident",
        Body::DispatchIncident(_) => "dispatch_incident",
        Body::DismissIncident(_) => "dismiss_incident",
        Body::SubmitGridReport(_) => "submit_grid_report",
        Body::MergeIncidents(_) => "merge_incidents",
        Body::SplitIncident(_) => "split_incident",
        Body::ListMyReports(_) => "list_my_reports",
        Body::Catalogue(_) => "catalogue",
        Body::Roster(_) => "roster",
    }
}

async fn dispatch(
    state: &AppState,
    session: &Session,
    request: fieldlink_protocol::envelope::ParsedRequest<'_>,
    recv: &mut RecvStream,
) -> Result<response::Result, ServiceError> {
    if session.officer.role == crate::directory::Role::GridWorker && !grid_workers_may(&request.body) {
        return Err(ServiceError::PermissionDenied {
            field: String::new(),
            message: "a grid worker (网格员) submits grid reports and their photos only".into(),
        });
    }
    match request.body {
        Body::SubmitInspection(record) => services::inspection::submit(
            state,
            session,
            record,
            request.body_bytes,
            request.capture.as_ref(),
        )
        .await
        .map(response::Result::Receipt),
        Body::UploadPhoto(header) => services::photo_upload::upload(
            state,
            session,
            header,
            request.body_bytes,
            request.capture.as_ref(),
            recv,
        )
        .await
        .map(response::Result::Receipt),
        Body::UploadStatus(query) => services::upload_status::query(state, session, query)
            .await
            .map(response::Result::UploadStatus),
        Body::RecordPhotos(query) => services::record_photos::query(state, session, query)
            .await
            .map(response::Result::RecordPhotos),
        Body::SubmitService(service) => services::service::submit(
            state,
            session,
            service,
            request.body_bytes,
            request.capture.as_ref(),
        )
        .await
        .map(response::Result::Receipt),
        Body::SubmitServiceEvent(event) => services::service_event::submit(
            state,
            session,
            event,
            request.body_bytes,
            request.capture.as_ref(),
        )
        .await
        .map(response::Result::Receipt),
        Body::SubmitInterview(record) => services::interview::submit(
            state,
            session,
            record,
            request.body_bytes,
            request.capture.as_ref(),
        )
        .await
        .map(response::Result::Receipt),
        Body::CaseItems(query) => services::case_view::query(state, session, query)
            .await
            .map(response::Result::CaseItems),
        Body::CreateAssignment(create) => {
            services::assignment::create(state, session, create, request.body_bytes)
                .await
                .map(response::Result::Assignment)
        }
        Body::UpdateAssignment(update) => {
            services::assignment::update(state, session, update, request.body_bytes)
                .await
                .map(response::Result::Assignment)
        }
        Body::CancelAssignment(cancel) => {
            services::assignment::cancel(state, session, cancel, request.body_bytes)
                .await
                .map(response::Result::Assignment)
        }
        Body::ReassignAssignment(reassign) => {
            services::assignment::reassign(state, session, reassign, request.body_bytes)
                .await
                .map(response::Result::Assignment)
        }
        Body::Catalogue(query) => {
            services::reference::catalogue(state, &query).map(response::Result::Catalogue)
        }
        Body::Roster(query) => Ok(response::Result::Roster(services::reference::roster(
            state,
            &session.officer,
            &query,
        ))),
        Body::ListAssignments(list) => services::assignment::list(state, session, list)
            .await
            .map(response::Result::Assignments),
        Body::LogProof(query) => services::log_proof::inclusion(state, session, query)
            .await
            .map(response::Result::InclusionProof),
        Body::LogConsistency(query) => services::log_proof::consistency(state, query)
            .await
            .map(response::Result::ConsistencyProof),
        Body::ReviewAssignment(review) => {
            services::assignment::review(state, session, review, request.body_bytes)
                .await
                .map(response::Result::Assignment)
        }
        Body::ListIncidents(list) => services::incidents::list(state, session, list)
            .await
            .map(response::Result::Incidents),
        Body::Incident(query) => services::incidents::show(state, session, query)
            .await
            .map(response::Result::Incident),
        Body::DispatchIncident(dispatch) => {
            services::incidents::dispatch(state, session, dispatch, request.body_bytes)
                .await
                .map(response::Result::Incident)
        }
        Body::DismissIncident(dismiss) => services::incidents::dismiss(state, session, dismiss)
            .await
            .map(response::Result::Incident),
        Body::MergeIncidents(merge) => services::incidents::merge(state, session, merge)
            .await
            .map(response::Result::Incident),
        Body::SplitIncident(split) => services::incident_split::split(state, session, split)
            .await
            .map(response::Result::Incident),
        Body::ListMyReports(list) => services::grid_report::my_reports(state, session, list)
            .await
            .map(response::Result::MyReports),
        Body::SubmitGridReport(report) => services::grid_report::submit(
            state,
            session,
            report,
            request.body_bytes,
            request.capture.as_ref(),
        )
        .await
        .map(response::Result::Receipt),
        // Handled in serve_stream before dispatch.
        Body::SubscribeAssignments(_) => Err(ServiceError::Envelope(
            fieldlink_protocol::envelope::EnvelopeError::UnknownKind,
        )),
    }
}
