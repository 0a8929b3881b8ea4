//! Items made and checked on the terminal: ids, the local check of each kind
//! — the protocol crate's own rules, the ones the server applies, run with
//! the terminal's clock — and builders: [`InspectionBuilder`],
//! [`ServiceBuilder`], [`ServiceEventBuilder`], [`InterviewBuilder`] and
//! [`GridReportBuilder`]. A broken
//! rule comes back as a [`FieldError`] naming the field, before anything is
//! queued or sent. (What only the server knows — the catalogue, the
//! directory, an assignment's state — it still checks.)

use fieldlink_protocol::inspection::Inspection;
use fieldlink_protocol::interview::Interview;
use fieldlink_protocol::pb;
use fieldlink_protocol::service::{Service, ServiceEvent};
use fieldlink_protocol::validate::ValidationContext;
use fieldlink_protocol::FieldError;

mod grid_report;
mod inspection;
mod interview;
mod service;

pub use grid_report::GridReportBuilder;
pub use inspection::InspectionBuilder;
pub use interview::InterviewBuilder;
pub use service::{ServiceBuilder, ServiceEventBuilder};

/// A fresh item id: a UUIDv7, as every item, update and upload needs.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The rules' view of now: the terminal's clock, the server's default skew.
fn context() -> ValidationContext {
    ValidationContext {
        now_ms: crate::now_ms(),
        clock_skew_ms_max: fieldlink_protocol::limits::CLOCK_SKEW_MS_MAX_DEFAULT,
    }
}

/// Checks an inspection record as the server will.
pub fn check_inspection(record: &pb::InspectionRecord) -> Result<(), FieldError> {
    Inspection::parse(record.clone(), &context()).map(|_| ())
}

/// Checks an electronic-service confirmation as the server will.
pub fn check_service(service: &pb::ServiceConfirmation) -> Result<(), FieldError> {
    Service::parse(service.clone(), &context()).map(|_| ())
}

/// Checks a service event as the server will.
pub fn check_service_event(event: &pb::ServiceEvent) -> Result<(), FieldError> {
    ServiceEvent::parse(event.clone(), &context()).map(|_| ())
}

/// Checks remote-interview metadata as the server will.
pub fn check_interview(interview: &pb::InterviewRecord) -> Result<(), FieldError> {
    Interview::parse(interview.clone(), &context()).map(|_| ())
}

/// Checks a grid worker's report as the server will (the catalogue aside).
pub fn check_grid_report(report: &pb::GridReport) -> Result<(), FieldError> {
    fieldlink_protocol::grid_report::GridReport::parse(report, &context()).map(|_| ())
}
