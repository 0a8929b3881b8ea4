//! Field-level checks shared by every item kind, and the error they produce.

use thiserror::Error;
use uuid::Uuid;

use crate::limits;

/// A field broke a rule. Becomes `INVALID_ARGUMENT` with `field` set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Path of the offending field, e.g. `place.latitude` or `officer_ids[1]`.
    pub field: String,
    /// What is wrong with it, in English.
    pub reason: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// What validation needs to know about the world: the server's clock and how
/// far ahead of it terminal clocks may run.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext {
    /// The server's clock, ms since the Unix epoch.
    pub now_ms: i64,
    /// How far into the future a timestamp may lie.
    pub clock_skew_ms_max: i64,
}

/// A category code (incidents, grid reports, alerts): 1 to 64 of a-z, 0-9 and _.
pub fn category_code(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be 1 to 64 of a-z, 0-9 and _"))
    }
}

/// A required text field: not empty, at most `bytes_max` UTF-8 bytes.
pub fn required_text(field: &str, value: &str, bytes_max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    optional_text(field, value, bytes_max)
}

/// An optional text field: at most `bytes_max` UTF-8 bytes, no NUL or other
/// control characters except tab and line breaks.
pub fn optional_text(field: &str, value: &str, bytes_max: usize) -> Result<(), FieldError> {
    if value.len() > bytes_max {
        return Err(FieldError::new(
            field,
            format!("is {} bytes, at most {bytes_max} allowed", value.len()),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(())
}

/// The longest prefix of `text` of at most `bytes_max` bytes that ends on a
/// character boundary (server-made titles and summaries within a field's limit).
pub fn prefix_within(text: &str, bytes_max: usize) -> &str {
    let mut end = text.len().min(bytes_max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A client-generated item id: a UUID version 7 in canonical 36-character
/// text form (either case). Returned as a [`Uuid`]; stored lower-case.
pub fn item_id(field: &str, value: &str) -> Result<Uuid, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let uuid = any_uuid(field, value)?;
    if uuid.get_version_num() != 7 {
        return Err(FieldError::new(
            field,
            format!("must be a UUIDv7, got version {}", uuid.get_version_num()),
        ));
    }
    Ok(uuid)
}

/// A reference to another item or entity by UUID (any version), canonical form.
pub fn any_uuid(field: &str, value: &str) -> Result<Uuid, FieldError> {
    if value.len() != limits::UUID_TEXT_BYTES {
        return Err(FieldError::new(
            field,
            "must be a UUID in canonical 8-4-4-4-12 form",
        ));
    }
    Uuid::try_parse(value).map_err(|_| FieldError::new(field, "must be a UUID in canonical 8-4-4-4-12 form"))
}

/// A required timestamp: not before 2000 and not beyond the allowed clock skew.
pub fn timestamp_ms(field: &str, value: i64, context: &ValidationContext) -> Result<i64, FieldError> {
    if value == 0 {
        return Err(FieldError::new(field, "is required"));
    }
    if value < limits::TIMESTAMP_MS_MIN {
        return Err(FieldError::new(
            field,
            "is before 2000-01-01 (device clock unset?)",
        ));
    }
    let latest_ms = context.now_ms.saturating_add(context.clock_skew_ms_max);
    if value > latest_ms {
        return Err(FieldError::new(
            field,
            format!(
                "is {} ms in the future; at most {} ms of clock skew is allowed",
                value - context.now_ms,
                context.clock_skew_ms_max
            ),
        ));
    }
    Ok(value)
}

/// An officer id: 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`.
pub fn officer_id(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    if value.len() > limits::OFFICER_ID_BYTES_MAX {
        return Err(FieldError::new(
            field,
            format!("is longer than {} bytes", limits::OFFICER_ID_BYTES_MAX),
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(FieldError::new(
            field,
            "may contain only ASCII letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// A list of distinct officer ids: at least `count_min`, at most
/// [`limits::OFFICERS_PER_RECORD_MAX`]. Errors name `field` or `field[i]`.
pub fn officer_ids(field: &str, ids: &[String], count_min: usize) -> Result<Vec<String>, FieldError> {
    if ids.is_empty() {
        return Err(FieldError::new(field, "at least one officer is required"));
    }
    if ids.len() > limits::OFFICERS_PER_RECORD_MAX {
        return Err(FieldError::new(
            field,
            format!("at most {} officers", limits::OFFICERS_PER_RECORD_MAX),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, id) in ids.iter().enumerate() {
        let element = format!("{field}[{index}]");
        officer_id(&element, id)?;
        if !seen.insert(id.as_str()) {
            return Err(FieldError::new(element, "is listed twice"));
        }
    }
    if ids.len() < count_min {
        return Err(FieldError::new(
            field,
            format!("at least {count_min} distinct officers are required"),
        ));
    }
    Ok(ids.to_vec())
}

/// A SHA-256 (or SM3) digest: exactly 32 bytes.
pub fn digest(field: &str, bytes: &[u8]) -> Result<[u8; 32], FieldError> {
    bytes.try_into().map_err(|_| {
        FieldError::new(
            field,
            format!("must be a 32-byte digest, got {} bytes", bytes.len()),
        )
    })
}

/// An optional evidence id: empty, or a UUIDv7.
pub fn optional_item_id(field: &str, value: &str) -> Result<Option<Uuid>, FieldError> {
    match value {
        "" => Ok(None),
        text => item_id(field, text).map(Some),
    }
}

/// A case id: 1 to 64 bytes of text.
pub fn case_id(field: &str, value: &str) -> Result<String, FieldError> {
    required_text(field, value, limits::CASE_ID_BYTES_MAX)?;
    // One spelling per case: "CASE-1" and " CASE-1" must not be two cases.
    // Letters and digits of any script, and - _ . / ( ) [ ] 〔 〕 （ ）; no
    // spaces, no control or invisible characters.
    let allowed = |c: char| c.is_alphanumeric() || "-_./()[]〔〕（）".contains(c);
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(FieldError::new(
            field,
            format!(
                "{bad:?} is not allowed in a case id (letters, digits and - _ . / ( ) [ ] 〔 〕 （ ） only)"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// An enum value that must be set and known.
pub fn known_enum<E: TryFrom<i32>>(field: &str, value: i32) -> Result<E, FieldError> {
    if value == 0 {
        return Err(FieldError::new(field, "is required"));
    }
    E::try_from(value).map_err(|_| FieldError::new(field, format!("unknown value {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_on_a_character() {
        assert_eq!(prefix_within("复查 ab", 4), "复");
        assert_eq!(prefix_within("复查 ab", 100), "复查 ab");
        assert_eq!(prefix_within("ab", 0), "");
    }

    const CONTEXT: ValidationContext = ValidationContext {
        now_ms: 1_800_000_000_000,
        clock_skew_ms_max: 60_000,
    };

    #[test]
    fn a_case_id_has_one_spelling() {
        for good in ["CASE-1", "城执罚〔2026〕第12号", "ZJ/2026(3)", "case_1.a"] {
            assert_eq!(case_id("case_id", good).unwrap(), good);
        }
        for bad in [
            " CASE-1",
            "CASE-1 ",
            "CASE 1",
            "CASE-1\n",
            "CASE\u{200b}1",
            "CASE\u{3000}1",
            "",
        ] {
            assert!(case_id("case_id", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn item_ids_must_be_uuid_v7() {
        let v7 = Uuid::now_v7().to_string();
        assert!(item_id("id", &v7).is_ok());
        assert!(item_id("id", &v7.to_uppercase()).is_ok());
        let v4 = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
        assert_eq!(item_id("id", v4).unwrap_err().field, "id");
        assert!(item_id("id", "").is_err());
        assert!(item_id("id", &v7.replace('-', "")).is_err());
        assert!(item_id("id", &format!("{{{v7}}}")).is_err());
    }

    #[test]
    fn timestamps_beyond_the_skew_are_refused() {
        assert!(timestamp_ms("t", CONTEXT.now_ms + 60_000, &CONTEXT).is_ok());
        assert!(timestamp_ms("t", CONTEXT.now_ms + 60_001, &CONTEXT).is_err());
        assert!(timestamp_ms("t", 0, &CONTEXT).is_err());
        assert!(timestamp_ms("t", limits::TIMESTAMP_MS_MIN - 1, &CONTEXT).is_err());
        assert!(timestamp_ms("t", i64::MAX, &CONTEXT).is_err());
    }

    #[test]
    fn text_limits_count_bytes_and_refuse_control_characters() {
        assert!(optional_text("f", "王建国", 9).is_ok());
        assert!(optional_text("f", "王建国", 8).is_err());
        assert!(optional_text("f", "a\u{0}b", 10).is_err());
        assert!(optional_text("f", "line\nline", 10).is_ok());
        assert!(required_text("f", "  ", 10).is_err());
    }

    #[test]
    fn officer_lists_are_distinct_bounded_and_long_enough() {
        let ids = |n: usize| (0..n).map(|i| format!("o{i}")).collect::<Vec<_>>();
        assert!(officer_ids("f", &ids(2), 2).is_ok());
        assert_eq!(officer_ids("f", &ids(1), 2).unwrap_err().field, "f");
        assert_eq!(officer_ids("f", &ids(11), 1).unwrap_err().field, "f");
        assert_eq!(officer_ids("f", &[], 1).unwrap_err().field, "f");
        let twice = vec!["a".to_owned(), "a".to_owned()];
        assert_eq!(officer_ids("f", &twice, 1).unwrap_err().field, "f[1]");
    }

    #[test]
    fn digests_are_32_bytes() {
        assert!(digest("d", &[0; 32]).is_ok());
        assert!(digest("d", &[0; 31]).is_err());
        assert!(digest("d", &[]).is_err());
    }

    #[test]
    fn officer_ids_are_restricted_ascii() {
        assert!(officer_id("o", "officer-01").is_ok());
        assert!(officer_id("o", "").is_err());
        assert!(officer_id("o", "a b").is_err());
        assert!(officer_id("o", &"a".repeat(65)).is_err());
    }

    // The tests below pin boundaries that cargo-mutants found unpinned
    // (docs/testing.md): each fails when its comparison is off by one.

    #[test]
    fn the_first_millisecond_of_2000_is_a_valid_timestamp() {
        assert_eq!(
            timestamp_ms("t", limits::TIMESTAMP_MS_MIN, &CONTEXT),
            Ok(limits::TIMESTAMP_MS_MIN)
        );
    }

    #[test]
    fn an_officer_id_of_exactly_the_limit_is_accepted() {
        assert!(officer_id("o", &"a".repeat(limits::OFFICER_ID_BYTES_MAX)).is_ok());
        assert!(officer_id("o", &"a".repeat(limits::OFFICER_ID_BYTES_MAX + 1)).is_err());
    }

    #[test]
    fn a_list_of_exactly_the_officer_limit_is_accepted() {
        let ids = |n: usize| (0..n).map(|i| format!("o{i}")).collect::<Vec<_>>();
        let full = ids(limits::OFFICERS_PER_RECORD_MAX);
        assert_eq!(officer_ids("f", &full, 1), Ok(full.clone()));
        assert!(officer_ids("f", &ids(limits::OFFICERS_PER_RECORD_MAX + 1), 1).is_err());
    }

    #[test]
    fn an_optional_item_id_is_parsed_when_present() {
        let v7 = Uuid::now_v7();
        assert_eq!(optional_item_id("f", &v7.to_string()), Ok(Some(v7)));
        assert_eq!(optional_item_id("f", ""), Ok(None));
        assert_eq!(optional_item_id("f", "nope").unwrap_err().field, "f");
    }
}
