//! The inspection record builder.

use fieldlink_protocol::pb::{self, Outcome, SubjectKind};
use fieldlink_protocol::FieldError;

use super::{check_inspection, new_id};

/// Builds an inspection record (巡查/检查记录) field by field and checks it.
///
/// ```
/// use fieldlink_client::items::InspectionBuilder;
/// use fieldlink_client::protocol::pb::Outcome;
///
/// let now = fieldlink_client::now_ms();
/// let record = InspectionBuilder::new("ZJ-001", "officer-01")
///     .business("城南建材经营部", "91330200MA2XXXXX0X")
///     .at(29.8683, 121.5440, "城南路 18 号")
///     .during(now - 20 * 60_000, now - 5 * 60_000)
///     .findings("店外占道堆放建材，已现场劝导。")
///     .outcome(Outcome::Advised)
///     .build()?;
/// assert_eq!(record.officer_ids, ["officer-01"]);
///
/// // An enforcement action needs two officers (Administrative Penalty Law art. 42):
/// let refused = InspectionBuilder::new("ZJ-001", "officer-01")
///     .at(29.8683, 121.5440, "城南路 18 号")
///     .findings("现场处罚")
///     .outcome(Outcome::OnSitePenalty)
///     .build()
///     .unwrap_err();
/// assert_eq!(refused.field, "officer_ids");
/// # Ok::<(), fieldlink_client::protocol::FieldError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InspectionBuilder {
    record: pb::InspectionRecord,
}

impl InspectionBuilder {
    /// A record of `matter_code` (the catalogue's code, e.g. `ZJ-001`) by
    /// `officer_id`, with a fresh id, started and ended now, outcome
    /// `NoIssue` until told otherwise.
    pub fn new(matter_code: &str, officer_id: &str) -> Self {
        let now = crate::now_ms();
        Self {
            record: pb::InspectionRecord {
                id: new_id(),
                matter_code: matter_code.to_owned(),
                officer_ids: vec![officer_id.to_owned()],
                started_at_ms: now,
                ended_at_ms: now,
                outcome: Outcome::NoIssue as i32,
                ..Default::default()
            },
        }
    }

    /// Uses this id (a UUIDv7) instead of a fresh one.
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.record.id);
        self
    }

    /// Another officer present (enforcement actions need two).
    pub fn with_officer(mut self, officer_id: &str) -> Self {
        self.record.officer_ids.push(officer_id.to_owned());
        self
    }

    /// The party is a business: its name and unified social credit code.
    pub fn business(self, name: &str, credit_code: &str) -> Self {
        self.subject(SubjectKind::Business, name, credit_code)
    }

    /// The party is a person: name and identity document number.
    pub fn person(self, name: &str, id_number: &str) -> Self {
        self.subject(SubjectKind::Person, name, id_number)
    }

    fn subject(mut self, kind: SubjectKind, name: &str, identifier: &str) -> Self {
        let contact = self.record.subject.take().map(|s| s.contact).unwrap_or_default();
        self.record.subject = Some(pb::Subject {
            kind: kind as i32,
            name: name.to_owned(),
            identifier: identifier.to_owned(),
            contact,
        });
        self
    }

    /// The party's phone or other contact (after `business` or `person`).
    pub fn contact(mut self, contact: &str) -> Self {
        if let Some(subject) = self.record.subject.as_mut() {
            contact.clone_into(&mut subject.contact);
        }
        self
    }

    /// Where (WGS 84) and the street address.
    pub fn at(mut self, latitude: f64, longitude: f64, address: &str) -> Self {
        self.record.place = Some(pb::Place {
            latitude,
            longitude,
            address: address.to_owned(),
            accuracy_m: 0.0,
        });
        self
    }

    /// When the inspection started and ended, ms since the Unix epoch.
    pub fn during(mut self, started_at_ms: i64, ended_at_ms: i64) -> Self {
        self.record.started_at_ms = started_at_ms;
        self.record.ended_at_ms = ended_at_ms;
        self
    }

    /// What the officer found.
    pub fn findings(mut self, findings: &str) -> Self {
        findings.clone_into(&mut self.record.findings);
        self
    }

    /// What was done about it.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.record.outcome = outcome as i32;
        self
    }

    /// A note on the outcome (e.g. the penalty decision's number).
    pub fn outcome_note(mut self, note: &str) -> Self {
        note.clone_into(&mut self.record.outcome_note);
        self
    }

    /// The deadline of an order to rectify, ms since the Unix epoch.
    pub fn rectify_by(mut self, at_ms: i64) -> Self {
        self.record.rectify_by_ms = at_ms;
        self
    }

    /// A photo (or other media) of this record, by its evidence id.
    pub fn photo(mut self, evidence_id: &str) -> Self {
        self.record.photo_ids.push(evidence_id.to_owned());
        self
    }

    /// The assignment this record reports on.
    pub fn for_assignment(mut self, assignment_id: &str) -> Self {
        assignment_id.clone_into(&mut self.record.assignment_id);
        self
    }

    /// The case it belongs to.
    pub fn in_case(mut self, case_id: &str) -> Self {
        case_id.clone_into(&mut self.record.case_id);
        self
    }

    /// The record, checked as the server will check it.
    pub fn build(self) -> Result<pb::InspectionRecord, FieldError> {
        check_inspection(&self.record)?;
        Ok(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_checks_like_the_server_and_names_the_field() {
        let now = crate::now_ms();
        let good = || {
            InspectionBuilder::new("ZJ-001", "officer-01")
                .person("张三", "330203199001010011")
                .contact("138 0000 0000")
                .at(29.8683, 121.5440, "城南路 18 号")
                .during(now - 60_000, now)
                .findings("无违法行为")
        };
        let record = good().photo(&new_id()).in_case("CASE-1").build().unwrap();
        assert_eq!(record.subject.as_ref().unwrap().contact, "138 0000 0000");
        assert_eq!(record.subject.unwrap().kind, SubjectKind::Person as i32);
        assert!(uuid::Uuid::parse_str(&record.id).is_ok());
        let cases = [
            (good().id("not-a-uuid"), "id"),
            (good().during(now, now - 60_000), "ended_at_ms"),
            (good().at(91.0, 121.5, "x"), "place.latitude"),
            (good().outcome(Outcome::EnforcementMeasure), "officer_ids"),
        ];
        for (builder, field) in cases {
            let error = builder.build().unwrap_err();
            assert!(error.field.starts_with(field), "{field}: {error}");
        }
        good()
            .with_officer("officer-02")
            .outcome(Outcome::EnforcementMeasure)
            .build()
            .unwrap();
    }
}
