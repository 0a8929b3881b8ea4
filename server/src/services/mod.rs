//! One file per request kind: validation, authorization, storage.
//! `commit` and `participants` hold what the item kinds share.

pub mod assignment;
pub mod assignment_feed;
pub mod capture_check;
pub mod case_access;
pub mod case_view;
pub mod commit;
pub mod follow_up;
pub mod grid_report;
pub mod incident_loop;
pub mod incident_split;
pub mod incidents;
pub mod inspection;
pub mod interview;
pub mod log_proof;
pub mod paging;
pub mod participants;
pub mod photo_upload;
pub mod record_photos;
pub mod reference;
pub mod service;
pub mod service_event;
pub mod upload_status;
