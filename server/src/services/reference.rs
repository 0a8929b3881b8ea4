//! Reference data for terminals (docs/protocol.md §10d): the
//! enforcement-matters catalogue, a page at a time or nothing when the
//! terminal's copy is current, and the caller's roster (team-mates, their
//! roles, whether they hold an enforcement credential; no passwords, no
//! credential numbers).

use fieldlink_protocol::pb;
use fieldlink_protocol::FieldError;
use prost::Message;
use sha2::Digest;

use crate::catalogue::{Catalogue, DOMAINS};
use crate::directory::{Directory, Officer, Role};
use crate::error::ServiceError;
use crate::state::AppState;

/// Most bytes of encoded matters a catalogue page carries (a response
/// frame is at most 1 MiB).
pub const CATALOGUE_PAGE_BYTES_MAX: usize = 512 * 1024;

/// A page of the catalogue in force.
pub fn catalogue(state: &AppState, query: &pb::CatalogueQuery) -> Result<pb::Catalogue, ServiceError> {
    page(&state.catalogue.get(), query, CATALOGUE_PAGE_BYTES_MAX)
}

/// A page of `catalogue` of at most `bytes_max` bytes of matters (always at
/// least one matter, so paging moves on).
pub fn page(
    catalogue: &Catalogue,
    query: &pb::CatalogueQuery,
    bytes_max: usize,
) -> Result<pb::Catalogue, ServiceError> {
    let revision = catalogue.revision().to_owned();
    if !query.known_revision.is_empty() && query.known_revision == revision {
        return Ok(pb::Catalogue {
            revision,
            unchanged: true,
            ..Default::default()
        });
    }
    if query.after_version.is_empty() && !query.after_code.is_empty() {
        return Err(FieldError::new("after_code", "needs after_version").into());
    }
    let versions = catalogue.versions();
    let start = match query.after_version.as_str() {
        "" => 0,
        name => {
            let index = versions
                .iter()
                .position(|v| v.version == name)
                .ok_or_else(|| FieldError::new("after_version", "is not a version of this catalogue"))?;
            // Within that version after a code, or from the next one.
            if query.after_code.is_empty() {
                index + 1
            } else {
                index
            }
        }
    };
    let mut out = pb::Catalogue {
        revision,
        domains: DOMAINS
            .iter()
            .map(|d| pb::CatalogueDomain {
                code: d.code.into(),
                name_zh: d.zh.into(),
                name_en: d.en.into(),
            })
            .collect(),
        ..Default::default()
    };
    let mut bytes = 0;
    for (index, version) in versions.iter().enumerate().skip(start) {
        let mut page_version = pb::CatalogueVersion {
            version: version.version.clone(),
            effective_from_ms: version.effective_from_ms,
            note: version.note.clone(),
            matters: Vec::new(),
        };
        let resume_after =
            (index == start && !query.after_code.is_empty()).then_some(query.after_code.as_str());
        for matter in version
            .matters()
            .filter(|m| resume_after.is_none_or(|after| m.code.as_str() > after))
        {
            let matter = matter_message(matter);
            let size = matter.encoded_len();
            if bytes + size > bytes_max && bytes > 0 {
                out.more = true;
                out.next_after_version = version.version.clone();
                out.next_after_code = page_version
                    .matters
                    .last()
                    .map(|m| m.code.clone())
                    .unwrap_or_default();
                if page_version.matters.is_empty() {
                    // Nothing of this version fitted: the next page starts it.
                    out.next_after_version = versions[index - 1].version.clone();
                    out.next_after_code = String::new();
                } else {
                    out.versions.push(page_version);
                }
                return Ok(out);
            }
            bytes += size;
            page_version.matters.push(matter);
        }
        out.versions.push(page_version);
    }
    Ok(out)
}

fn matter_message(matter: &crate::catalogue::Matter) -> pb::CatalogueMatter {
    let (from, until) = matter.valid_ms();
    pb::CatalogueMatter {
        code: matter.code.clone(),
        domain: matter.domain.clone(),
        name: matter.name.clone(),
        legal_basis: matter.legal_basis.clone(),
        enforcement_measure: matter.enforcement_measure,
        valid_from_ms: if from == i64::MIN { 0 } else { from },
        valid_until_ms: if until == i64::MAX { 0 } else { until },
    }
}

/// The caller's roster, or nothing when `known_revision` is current.
pub fn roster(state: &AppState, officer: &Officer, query: &pb::RosterQuery) -> pb::Roster {
    let roster = roster_of(&state.directory.get(), officer);
    if !query.known_revision.is_empty() && query.known_revision == roster.revision {
        return pb::Roster {
            revision: roster.revision,
            unchanged: true,
            ..Default::default()
        };
    }
    roster
}

/// The caller's team: its enrolled members by id, and a digest of them.
pub fn roster_of(directory: &Directory, officer: &Officer) -> pb::Roster {
    let mut members: Vec<pb::RosterMember> = directory
        .officers()
        .into_iter()
        .filter(|o| o.enrolled && o.team_id == officer.team_id)
        .map(|o| pb::RosterMember {
            officer_id: o.id.clone(),
            name: o.name.clone(),
            role: match o.role {
                Role::Officer => pb::Role::Officer,
                Role::Supervisor => pb::Role::Supervisor,
                Role::GridWorker => pb::Role::GridWorker,
            } as i32,
            holds_credential: o.credential_number.is_some(),
        })
        .collect();
    members.sort_by(|a, b| a.officer_id.cmp(&b.officer_id));
    let mut roster = pb::Roster {
        revision: String::new(),
        unchanged: false,
        team_id: officer.team_id.clone(),
        team_name: directory
            .team(&officer.team_id)
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        members,
    };
    roster.revision = hex::encode(&sha2::Sha256::digest(roster.encode_to_vec())[..16]);
    roster
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch_all(
        catalogue: &Catalogue,
        bytes_max: usize,
    ) -> (Vec<pb::Catalogue>, Vec<(String, Vec<String>)>) {
        let mut pages = Vec::new();
        let mut query = pb::CatalogueQuery::default();
        let mut merged: Vec<(String, Vec<String>)> = Vec::new();
        for _ in 0..10_000 {
            let page = page(catalogue, &query, bytes_max).unwrap();
            for version in &page.versions {
                let codes = version.matters.iter().map(|m| m.code.clone());
                match merged.iter_mut().find(|(name, _)| *name == version.version) {
                    Some((_, held)) => held.extend(codes),
                    None => merged.push((version.version.clone(), codes.collect())),
                }
            }
            let more = page.more;
            query.after_version = page.next_after_version.clone();
            query.after_code = page.next_after_code.clone();
            pages.push(page);
            if !more {
                break;
            }
        }
        (pages, merged)
    }

    #[test]
    fn pages_of_any_size_add_up_to_the_whole_catalogue() {
        let catalogue = Catalogue::demo();
        let whole: Vec<(String, Vec<String>)> = catalogue
            .versions()
            .iter()
            .map(|v| (v.version.clone(), v.matters().map(|m| m.code.clone()).collect()))
            .collect();
        for bytes_max in [1, 200, 1_000, 7_777, CATALOGUE_PAGE_BYTES_MAX] {
            let (pages, merged) = fetch_all(&catalogue, bytes_max);
            assert_eq!(merged, whole, "{bytes_max}");
            assert!(pages.iter().all(|p| p.revision == catalogue.revision()));
            if bytes_max == CATALOGUE_PAGE_BYTES_MAX {
                assert_eq!(pages.len(), 1);
            }
        }
    }

    #[test]
    fn a_current_copy_gets_nothing_and_a_bad_cursor_is_refused() {
        let catalogue = Catalogue::demo();
        let current = pb::CatalogueQuery {
            known_revision: catalogue.revision().into(),
            ..Default::default()
        };
        let answer = page(&catalogue, &current, CATALOGUE_PAGE_BYTES_MAX).unwrap();
        assert!(answer.unchanged && answer.versions.is_empty() && answer.domains.is_empty());
        for (version, code) in [("no-such", ""), ("", "ZJ-001")] {
            let query = pb::CatalogueQuery {
                after_version: version.into(),
                after_code: code.into(),
                ..Default::default()
            };
            assert!(page(&catalogue, &query, CATALOGUE_PAGE_BYTES_MAX).is_err());
        }
        // After the last version: an empty last page.
        let last = pb::CatalogueQuery {
            after_version: "2026-07".into(),
            ..Default::default()
        };
        let answer = page(&catalogue, &last, CATALOGUE_PAGE_BYTES_MAX).unwrap();
        assert!(answer.versions.is_empty() && !answer.more);
    }
}
