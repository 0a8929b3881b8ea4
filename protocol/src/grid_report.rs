//! A grid worker's report (网格上报): the rules of its fields. The server
//! also checks `matter_code` against its catalogue.

use crate::inspection::{matter_code, parse_place, Place};
use crate::validate::{self, ValidationContext};
use crate::{pb, FieldError};

/// Longest description.
pub const DESCRIPTION_BYTES_MAX: usize = 2048;
/// Most photos one report names.
pub const PHOTOS_MAX: usize = 20;

/// A report whose fields keep the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct GridReport {
    /// Where it was seen.
    pub place: Place,
    /// When, ms since the Unix epoch.
    pub observed_at_ms: i64,
    /// The matter it concerns, normalised; `None` when not given.
    pub matter_code: Option<String>,
}

impl GridReport {
    /// Checks every field rule; the first broken one is reported.
    pub fn parse(report: &pb::GridReport, context: &ValidationContext) -> Result<Self, FieldError> {
        validate::item_id("id", &report.id)?;
        validate::category_code("category", &report.category)?;
        let place = parse_place("place", report.place.clone())?;
        validate::required_text("description", &report.description, DESCRIPTION_BYTES_MAX)?;
        let observed_at_ms = validate::timestamp_ms("observed_at_ms", report.observed_at_ms, context)?;
        if report.photo_ids.len() > PHOTOS_MAX {
            return Err(FieldError::new("photo_ids", format!("at most {PHOTOS_MAX}")));
        }
        for (index, id) in report.photo_ids.iter().enumerate() {
            validate::item_id(&format!("photo_ids[{index}]"), id)?;
        }
        let matter_code = match report.matter_code.as_str() {
            "" => None,
            code => Some(matter_code("matter_code", code)?),
        };
        Ok(Self {
            place,
            observed_at_ms,
            matter_code,
        })
    }
}
