//! One file per request kind: validation, authorization, storage.

pub mod inspection;
pub mod photo_upload;
pub mod record_photos;
pub mod upload_status;
