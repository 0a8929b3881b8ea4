//! The console's one translation table: every protocol state, event kind,
//! flag, priority, refusal reason and content enum (outcomes, document
//! types, roles, channels, …) the page can show, in Chinese and in
//! English (`page/terms.json`, served in front of the script as `TERMS`).
//! The test below fails when the protocol gains a value the table lacks.

/// The table, as JSON: `{ "ASSIGNMENT_STATE_DISPATCHED": { "zh": …, "en": … }, … }`.
pub const TERMS: &str = include_str!("page/terms.json");

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use fieldlink_protocol::pb;
    use fieldlink_protocol::status::reason;

    use super::TERMS;

    /// Every named value of a protocol enum but UNSPECIFIED.
    fn values<E: TryFrom<i32>>(name: fn(&E) -> &'static str) -> Vec<&'static str> {
        (1..256)
            .filter_map(|n| E::try_from(n).ok())
            .map(|e| name(&e))
            .collect()
    }

    #[test]
    fn every_state_kind_flag_priority_and_reason_has_both_names() {
        let table: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(TERMS).unwrap();
        let mut wanted: BTreeSet<&str> = BTreeSet::new();
        wanted.extend(values::<pb::AssignmentState>(|e| e.as_str_name()));
        wanted.extend(values::<pb::AssignmentEventKind>(|e| e.as_str_name()));
        wanted.extend(values::<pb::Priority>(|e| e.as_str_name()));
        wanted.extend(values::<pb::IncidentState>(|e| e.as_str_name()));
        wanted.extend(values::<pb::IncidentEventKind>(|e| e.as_str_name()));
        wanted.extend(values::<pb::EvidenceFlag>(|e| e.as_str_name()));
        // What an item's decoded content can hold (the evidence and case views).
        wanted.extend(values::<pb::SubjectKind>(|e| e.as_str_name()));
        wanted.extend(values::<pb::Outcome>(|e| e.as_str_name()));
        wanted.extend(values::<pb::DocumentType>(|e| e.as_str_name()));
        wanted.extend(values::<pb::RecipientRole>(|e| e.as_str_name()));
        wanted.extend(values::<pb::ServiceChannel>(|e| e.as_str_name()));
        wanted.extend(values::<pb::ConfirmationMethod>(|e| e.as_str_name()));
        wanted.extend(values::<pb::ServiceEventKind>(|e| e.as_str_name()));
        wanted.extend(values::<pb::ServiceState>(|e| e.as_str_name()));
        wanted.extend(values::<pb::IntervieweeRole>(|e| e.as_str_name()));
        wanted.extend(values::<pb::IdentityVerification>(|e| e.as_str_name()));
        wanted.extend(values::<pb::Role>(|e| e.as_str_name()));
        wanted.extend(reason::ALL);
        assert!(wanted.len() > 80, "{}", wanted.len());
        let missing: Vec<_> = wanted.iter().filter(|key| !table.contains_key(**key)).collect();
        assert!(missing.is_empty(), "no translation for {missing:?}");
        let stale: Vec<_> = table
            .keys()
            .filter(|key| !wanted.contains(key.as_str()))
            .collect();
        assert!(
            stale.is_empty(),
            "translations of nothing the protocol has: {stale:?}"
        );
        for (key, names) in &table {
            let zh = names.get("zh").map(String::as_str).unwrap_or("");
            let en = names.get("en").map(String::as_str).unwrap_or("");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{key}: the Chinese name {zh:?} has no Chinese"
            );
            assert!(
                !en.trim().is_empty() && en.is_ascii(),
                "{key}: English name {en:?}"
            );
            assert_eq!(names.len(), 2, "{key}: zh and en only");
        }
    }
}
