//! The grid worker's report (网格上报) builder.

use fieldlink_protocol::pb;
use fieldlink_protocol::FieldError;

use super::{check_grid_report, new_id};

/// Builds a grid worker's report and checks it.
///
/// ```
/// use fieldlink_client::items::GridReportBuilder;
///
/// let report = GridReportBuilder::new("street_vending", 29.8683, 121.5440, "城南路 18 号")
///     .description("人行道上流动摊贩占道经营 Street vendors on the pavement")
///     .photo(&fieldlink_client::items::new_id())
///     .build()?;
/// assert_eq!(report.category, "street_vending");
/// # Ok::<(), fieldlink_client::protocol::FieldError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GridReportBuilder {
    report: pb::GridReport,
}

impl GridReportBuilder {
    /// A report of `category` (a-z, 0-9 and _) at this place (WGS 84),
    /// observed now, with a fresh id.
    pub fn new(category: &str, latitude: f64, longitude: f64, address: &str) -> Self {
        Self {
            report: pb::GridReport {
                id: new_id(),
                category: category.to_owned(),
                place: Some(pb::Place {
                    latitude,
                    longitude,
                    address: address.to_owned(),
                    accuracy_m: 0.0,
                }),
                observed_at_ms: crate::now_ms(),
                ..Default::default()
            },
        }
    }

    /// Uses this id (a UUIDv7) instead of a fresh one.
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.report.id);
        self
    }

    /// What was seen (required, at most 2 KiB).
    pub fn description(mut self, text: &str) -> Self {
        text.clone_into(&mut self.report.description);
        self
    }

    /// When it was seen, if not now.
    pub fn observed_at(mut self, at_ms: i64) -> Self {
        self.report.observed_at_ms = at_ms;
        self
    }

    /// A photo of it, by evidence id (at most 20).
    pub fn photo(mut self, evidence_id: &str) -> Self {
        self.report.photo_ids.push(evidence_id.to_owned());
        self
    }

    /// The matter it concerns, when the worker knows it.
    pub fn matter(mut self, matter_code: &str) -> Self {
        matter_code.clone_into(&mut self.report.matter_code);
        self
    }

    /// The report, checked as the server will check it.
    pub fn build(self) -> Result<pb::GridReport, FieldError> {
        check_grid_report(&self.report)?;
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_report_builder_checks_like_the_server_and_names_the_field() {
        let good = || GridReportBuilder::new("street_vending", 29.87, 121.55, "人民路").description("占道");
        good().matter("ZJ-001").build().unwrap();
        let mut too_many = good();
        for _ in 0..=fieldlink_protocol::grid_report::PHOTOS_MAX {
            too_many = too_many.photo(&new_id());
        }
        let cases = [
            (
                GridReportBuilder::new("Street Vending", 29.87, 121.55, "x").description("d"),
                "category",
            ),
            (
                GridReportBuilder::new("street_vending", 29.87, 121.55, "x"),
                "description",
            ),
            (good().photo("nope"), "photo_ids[0]"),
            (too_many, "photo_ids"),
            (good().observed_at(crate::now_ms() + 3_600_000), "observed_at_ms"),
        ];
        for (builder, field) in cases {
            let error = builder.build().unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }
}
