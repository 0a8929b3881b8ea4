//! Inspection records (巡检/检查记录): the checked domain type and the rules
//! that turn a wire record into one.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::limits;
use crate::pb::{self, Outcome, SubjectKind};
use crate::validate::{self, FieldError, ValidationContext};

/// A checked inspection record. Every field holds a valid value; optional
/// fields are `Option`s. Built only by [`Inspection::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The client-generated UUIDv7.
    pub id: Uuid,
    /// Catalogue code of the enforcement matter (format checked; existence is
    /// the server's catalogue's business).
    pub matter_code: String,
    /// Distinct officer ids, in the order sent.
    pub officer_ids: Vec<String>,
    /// The inspected party.
    pub subject: Subject,
    /// Where it happened.
    pub place: Place,
    /// Start, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// End, ms since the Unix epoch, if the inspection is closed.
    pub ended_at_ms: Option<i64>,
    /// What was found.
    pub findings: String,
    /// What was done.
    pub outcome: Outcome,
    /// Linked photo evidence ids.
    pub photo_ids: Vec<Uuid>,
    /// The assignment this answers.
    pub assignment_id: Option<Uuid>,
    /// The case it belongs to.
    pub case_id: Option<String>,
    /// Note on the outcome.
    pub outcome_note: String,
    /// With ORDER_TO_RECTIFY: the date by which to rectify (a follow-up
    /// inspection is due then).
    pub rectify_by_ms: Option<i64>,
}

/// The inspected party, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// Person or business.
    pub kind: SubjectKind,
    /// Name.
    pub name: String,
    /// Credit code or ID number, possibly empty.
    pub identifier: String,
    /// Contact, possibly empty.
    pub contact: String,
}

/// A place, checked: finite coordinates in range.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Address.
    pub address: String,
    /// Accuracy in metres, if known.
    pub accuracy_m: Option<f32>,
}

/// Whether an outcome is an enforcement action, which Administrative Penalty
/// Law art. 42 requires at least two officers to carry out.
pub fn outcome_is_enforcement_action(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::OrderToRectify | Outcome::OnSitePenalty | Outcome::EnforcementMeasure | Outcome::CaseOpened
    )
}

/// The catalogue's rule on outcomes: an enforcement measure (行政强制措施)
/// only under a matter the catalogue marks as a compulsory measure. The
/// server and the SDK's offline check share it, so both refuse with the
/// same words.
pub fn check_outcome_under_matter(
    outcome: i32,
    matter_code: &str,
    enforcement_measure: bool,
) -> Result<(), FieldError> {
    if outcome == Outcome::EnforcementMeasure as i32 && !enforcement_measure {
        return Err(FieldError::new(
            "outcome",
            format!(
                "{matter_code} is not an administrative compulsory measure in the catalogue: \
                 the outcome cannot be an enforcement measure"
            ),
        ));
    }
    Ok(())
}

impl Inspection {
    /// Checks every rule of the contract and builds the domain record.
    ///
    /// The first broken rule is reported, with the field's path.
    pub fn parse(record: pb::InspectionRecord, context: &ValidationContext) -> Result<Self, FieldError> {
        let id = validate::item_id("id", &record.id)?;
        let matter_code = matter_code("matter_code", &record.matter_code)?;
        let outcome = parse_outcome(record.outcome)?;
        let officer_ids = validate::officer_ids("officer_ids", &record.officer_ids, 1)?;
        if outcome_is_enforcement_action(outcome) && officer_ids.len() < limits::ENFORCEMENT_OFFICERS_MIN {
            return Err(FieldError::new(
                "officer_ids",
                format!(
                    "outcome {} is an enforcement action and needs at least {} officers \
                     (Administrative Penalty Law art. 42)",
                    outcome.as_str_name(),
                    limits::ENFORCEMENT_OFFICERS_MIN
                ),
            ));
        }
        let subject = parse_subject(record.subject)?;
        let place = parse_place("place", record.place)?;
        let started_at_ms = validate::timestamp_ms("started_at_ms", record.started_at_ms, context)?;
        let ended_at_ms = match record.ended_at_ms {
            0 => None,
            ended => {
                let ended = validate::timestamp_ms("ended_at_ms", ended, context)?;
                if ended < started_at_ms {
                    return Err(FieldError::new("ended_at_ms", "is before started_at_ms"));
                }
                Some(ended)
            }
        };
        validate::optional_text("findings", &record.findings, limits::FINDINGS_BYTES_MAX)?;
        validate::optional_text(
            "outcome_note",
            &record.outcome_note,
            limits::OUTCOME_NOTE_BYTES_MAX,
        )?;
        let photo_ids = photo_ids(&record.photo_ids)?;
        let assignment_id = match record.assignment_id.as_str() {
            "" => None,
            text => Some(validate::any_uuid("assignment_id", text)?),
        };
        let case_id = match record.case_id.as_str() {
            "" => None,
            text => Some(validate::case_id("case_id", text)?),
        };
        let rectify_by_ms = match record.rectify_by_ms {
            0 => None,
            _ if outcome != Outcome::OrderToRectify => {
                return Err(FieldError::new(
                    "rectify_by_ms",
                    "is set only with OUTCOME_ORDER_TO_RECTIFY",
                ))
            }
            by if by <= started_at_ms || by > started_at_ms + RECTIFY_WITHIN_MS_MAX => {
                return Err(FieldError::new(
                    "rectify_by_ms",
                    "must be after started_at_ms and within a year of it",
                ))
            }
            by => Some(by),
        };
        Ok(Self {
            id,
            matter_code,
            officer_ids,
            subject,
            place,
            started_at_ms,
            ended_at_ms,
            findings: record.findings,
            outcome,
            photo_ids,
            assignment_id,
            case_id,
            outcome_note: record.outcome_note,
            rectify_by_ms,
        })
    }
}

/// Furthest a rectification date may be from the inspection: a year.
pub const RECTIFY_WITHIN_MS_MAX: i64 = 366 * 24 * 3_600_000;

/// A matter code: 3 to 32 characters of `A-Z`, `0-9`, `-`, not starting with `-`.
pub fn matter_code(field: &str, value: &str) -> Result<String, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let length_ok = (limits::MATTER_CODE_BYTES_MIN..=limits::MATTER_CODE_BYTES_MAX).contains(&value.len());
    let characters_ok = value
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if !length_ok || !characters_ok || value.starts_with('-') {
        return Err(FieldError::new(
            field,
            "must be 3 to 32 characters of A-Z, 0-9 and '-', not starting with '-'",
        ));
    }
    Ok(value.to_owned())
}

fn parse_outcome(value: i32) -> Result<Outcome, FieldError> {
    match Outcome::try_from(value) {
        Ok(Outcome::Unspecified) => Err(FieldError::new("outcome", "is required")),
        Ok(outcome) => Ok(outcome),
        Err(_) => Err(FieldError::new("outcome", format!("unknown value {value}"))),
    }
}

fn photo_ids(ids: &[String]) -> Result<Vec<Uuid>, FieldError> {
    if ids.len() > limits::PHOTOS_PER_RECORD_MAX {
        return Err(FieldError::new(
            "photo_ids",
            format!("at most {} photos per record", limits::PHOTOS_PER_RECORD_MAX),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut parsed = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let field = format!("photo_ids[{index}]");
        let uuid = validate::item_id(&field, id)?;
        if !seen.insert(uuid) {
            return Err(FieldError::new(field, "is listed twice"));
        }
        parsed.push(uuid);
    }
    Ok(parsed)
}

fn parse_subject(subject: Option<pb::Subject>) -> Result<Subject, FieldError> {
    let subject = subject.ok_or_else(|| FieldError::new("subject", "is required"))?;
    let kind = match SubjectKind::try_from(subject.kind) {
        Ok(SubjectKind::Unspecified) => return Err(FieldError::new("subject.kind", "is required")),
        Ok(kind) => kind,
        Err(_) => {
            return Err(FieldError::new(
                "subject.kind",
                format!("unknown value {}", subject.kind),
            ))
        }
    };
    validate::required_text("subject.name", &subject.name, limits::SUBJECT_NAME_BYTES_MAX)?;
    validate::optional_text(
        "subject.identifier",
        &subject.identifier,
        limits::SUBJECT_IDENTIFIER_BYTES_MAX,
    )?;
    validate::optional_text(
        "subject.contact",
        &subject.contact,
        limits::SUBJECT_CONTACT_BYTES_MAX,
    )?;
    Ok(Subject {
        kind,
        name: subject.name,
        identifier: subject.identifier,
        contact: subject.contact,
    })
}

/// Checks a place: finite WGS-84 coordinates in range, an address, a
/// non-negative accuracy.
pub fn parse_place(field: &str, place: Option<pb::Place>) -> Result<Place, FieldError> {
    let place = place.ok_or_else(|| FieldError::new(field, "is required"))?;
    if !place.latitude.is_finite() || !(-90.0..=90.0).contains(&place.latitude) {
        return Err(FieldError::new(
            format!("{field}.latitude"),
            "must be between -90 and 90 degrees",
        ));
    }
    if !place.longitude.is_finite() || !(-180.0..=180.0).contains(&place.longitude) {
        return Err(FieldError::new(
            format!("{field}.longitude"),
            "must be between -180 and 180 degrees",
        ));
    }
    validate::required_text(
        &format!("{field}.address"),
        &place.address,
        limits::ADDRESS_BYTES_MAX,
    )?;
    let accuracy = place.accuracy_m;
    let accuracy_m = if accuracy == 0.0 {
        None
    } else if accuracy.is_finite() && accuracy > 0.0 {
        Some(accuracy)
    } else {
        return Err(FieldError::new(
            format!("{field}.accuracy_m"),
            "must be a positive number of metres, or 0 for unknown",
        ));
    };
    Ok(Place {
        latitude: place.latitude,
        longitude: place.longitude,
        address: place.address,
        accuracy_m,
    })
}

/// A valid example record for tools, docs and tests: one officer, no
/// enforcement action, times just before `now_ms`.
pub fn example_record(officer_id: &str, now_ms: i64) -> pb::InspectionRecord {
    pb::InspectionRecord {
        id: Uuid::now_v7().to_string(),
        matter_code: "ZJ-001".into(),
        officer_ids: vec![officer_id.to_owned()],
        subject: Some(pb::Subject {
            kind: SubjectKind::Business as i32,
            name: "城南建材经营部".into(),
            identifier: "91330200MA2XXXXX0X".into(),
            contact: "0574-8800 0000".into(),
        }),
        place: Some(pb::Place {
            latitude: 29.8683,
            longitude: 121.5440,
            address: "城南路 18 号".into(),
            accuracy_m: 8.0,
        }),
        started_at_ms: now_ms - 20 * 60 * 1000,
        ended_at_ms: now_ms - 5 * 60 * 1000,
        findings:
            "店外占道堆放建材，已现场劝导。 Building materials stacked on the pavement; advised on site."
                .into(),
        outcome: Outcome::Advised as i32,
        photo_ids: Vec::new(),
        assignment_id: String::new(),
        case_id: String::new(),
        outcome_note: String::new(),
        rectify_by_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;
    const CONTEXT: ValidationContext = ValidationContext {
        now_ms: NOW_MS,
        clock_skew_ms_max: 5 * 60 * 1000,
    };

    fn valid() -> pb::InspectionRecord {
        example_record("officer-01", NOW_MS)
    }

    fn refused_field(record: pb::InspectionRecord) -> String {
        Inspection::parse(record, &CONTEXT).unwrap_err().field
    }

    #[test]
    fn the_example_record_is_valid() {
        let parsed = Inspection::parse(valid(), &CONTEXT).unwrap();
        assert_eq!(parsed.officer_ids, vec!["officer-01"]);
        assert_eq!(parsed.outcome, Outcome::Advised);
    }

    #[test]
    fn required_fields_are_named_when_missing() {
        let mut r = valid();
        r.id.clear();
        assert_eq!(refused_field(r), "id");
        let mut r = valid();
        r.matter_code.clear();
        assert_eq!(refused_field(r), "matter_code");
        let mut r = valid();
        r.officer_ids.clear();
        assert_eq!(refused_field(r), "officer_ids");
        let mut r = valid();
        r.subject = None;
        assert_eq!(refused_field(r), "subject");
        let mut r = valid();
        r.subject.as_mut().unwrap().name.clear();
        assert_eq!(refused_field(r), "subject.name");
        let mut r = valid();
        r.subject.as_mut().unwrap().kind = 0;
        assert_eq!(refused_field(r), "subject.kind");
        let mut r = valid();
        r.place = None;
        assert_eq!(refused_field(r), "place");
        let mut r = valid();
        r.place.as_mut().unwrap().address.clear();
        assert_eq!(refused_field(r), "place.address");
        let mut r = valid();
        r.started_at_ms = 0;
        assert_eq!(refused_field(r), "started_at_ms");
        let mut r = valid();
        r.outcome = 0;
        assert_eq!(refused_field(r), "outcome");
    }

    #[test]
    fn coordinates_must_be_in_range_and_finite() {
        for (lat, lon, field) in [
            (90.5, 0.0, "place.latitude"),
            (-90.5, 0.0, "place.latitude"),
            (f64::NAN, 0.0, "place.latitude"),
            (0.0, 180.5, "place.longitude"),
            (0.0, -181.0, "place.longitude"),
            (0.0, f64::INFINITY, "place.longitude"),
        ] {
            let mut r = valid();
            let place = r.place.as_mut().unwrap();
            place.latitude = lat;
            place.longitude = lon;
            assert_eq!(refused_field(r), field, "{lat},{lon}");
        }
        let mut r = valid();
        r.place.as_mut().unwrap().accuracy_m = -1.0;
        assert_eq!(refused_field(r), "place.accuracy_m");
    }

    #[test]
    fn timestamps_in_the_future_beyond_skew_are_refused() {
        let mut r = valid();
        r.started_at_ms = NOW_MS + CONTEXT.clock_skew_ms_max + 1;
        r.ended_at_ms = 0;
        assert_eq!(refused_field(r), "started_at_ms");
        let mut r = valid();
        r.ended_at_ms = NOW_MS + CONTEXT.clock_skew_ms_max + 1;
        assert_eq!(refused_field(r), "ended_at_ms");
        let mut r = valid();
        r.ended_at_ms = r.started_at_ms - 1;
        assert_eq!(refused_field(r), "ended_at_ms");
    }

    #[test]
    fn matter_code_format_is_enforced() {
        for bad in ["zj-001", "Z", "-ZJ1", "ZJ 001", &"A".repeat(33)] {
            let mut r = valid();
            r.matter_code = bad.to_owned();
            assert_eq!(refused_field(r), "matter_code", "{bad}");
        }
    }

    #[test]
    fn string_and_list_lengths_are_limited() {
        let mut r = valid();
        r.findings = "x".repeat(limits::FINDINGS_BYTES_MAX + 1);
        assert_eq!(refused_field(r), "findings");
        let mut r = valid();
        r.outcome_note = "x".repeat(limits::OUTCOME_NOTE_BYTES_MAX + 1);
        assert_eq!(refused_field(r), "outcome_note");
        let mut r = valid();
        r.subject.as_mut().unwrap().name = "名".repeat(67); // 201 bytes
        assert_eq!(refused_field(r), "subject.name");
        let mut r = valid();
        r.place.as_mut().unwrap().address = "x".repeat(limits::ADDRESS_BYTES_MAX + 1);
        assert_eq!(refused_field(r), "place.address");
        let mut r = valid();
        r.officer_ids = (0..11).map(|i| format!("o{i}")).collect();
        assert_eq!(refused_field(r), "officer_ids");
        let mut r = valid();
        r.photo_ids = (0..101).map(|_| Uuid::now_v7().to_string()).collect();
        assert_eq!(refused_field(r), "photo_ids");
        let mut r = valid();
        r.case_id = "c".repeat(limits::CASE_ID_BYTES_MAX + 1);
        assert_eq!(refused_field(r), "case_id");
    }

    #[test]
    fn lists_must_not_repeat_and_ids_must_be_well_formed() {
        let mut r = valid();
        r.officer_ids = vec!["a".into(), "a".into()];
        assert_eq!(refused_field(r), "officer_ids[1]");
        let photo = Uuid::now_v7().to_string();
        let mut r = valid();
        r.photo_ids = vec![photo.clone(), photo];
        assert_eq!(refused_field(r), "photo_ids[1]");
        let mut r = valid();
        r.photo_ids = vec!["not-a-uuid".into()];
        assert_eq!(refused_field(r), "photo_ids[0]");
        let mut r = valid();
        r.assignment_id = "nope".into();
        assert_eq!(refused_field(r), "assignment_id");
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let mut r = valid();
        r.outcome = 99;
        assert_eq!(refused_field(r), "outcome");
        let mut r = valid();
        r.subject.as_mut().unwrap().kind = 42;
        assert_eq!(refused_field(r), "subject.kind");
    }

    #[test]
    fn enforcement_actions_need_two_officers() {
        for outcome in [
            Outcome::OrderToRectify,
            Outcome::OnSitePenalty,
            Outcome::EnforcementMeasure,
            Outcome::CaseOpened,
        ] {
            let mut r = valid();
            r.outcome = outcome as i32;
            assert_eq!(refused_field(r.clone()), "officer_ids");
            r.officer_ids.push("officer-02".into());
            assert!(Inspection::parse(r, &CONTEXT).is_ok());
        }
        let mut r = valid();
        r.outcome = Outcome::Referred as i32;
        assert!(Inspection::parse(r, &CONTEXT).is_ok());
    }

    #[test]
    fn an_enforcement_measure_needs_a_compulsory_measure_matter() {
        let measure = Outcome::EnforcementMeasure as i32;
        let refused = check_outcome_under_matter(measure, "ZJ-001", false).unwrap_err();
        assert_eq!(refused.field, "outcome");
        assert!(refused.reason.contains("ZJ-001"), "{}", refused.reason);
        assert!(check_outcome_under_matter(measure, "ZJ-003", true).is_ok());
        assert!(check_outcome_under_matter(Outcome::Advised as i32, "ZJ-001", false).is_ok());
    }
}
