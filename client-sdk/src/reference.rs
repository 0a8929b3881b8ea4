//! Reference data a terminal keeps offline (docs/protocol.md §10d): the
//! enforcement-matters catalogue, every version of it, and the caller's
//! roster. [`Client::catalogue`] and [`Client::roster`] fetch them (nothing
//! when the copy held is current); the [`crate::outbox::Outbox`] keeps them
//! durably, refreshes them when the server's Welcome names another
//! revision, and checks records against them before they are stored.

use fieldlink_protocol::pb::{self, request::Body, response};
use fieldlink_protocol::{frame, FieldError};

use crate::client::unexpected;
use crate::{Client, Error};

/// Pages fetched at most for one catalogue (each at most 512 KiB of matters).
const CATALOGUE_PAGES_MAX: usize = 1_000;

/// Times a fetch starts again when the catalogue changes while it pages.
const CATALOGUE_RESTARTS_MAX: usize = 3;

/// The catalogue as the terminal keeps it: every version, whole.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatalogueCopy {
    /// The server's revision of it (compare with `Welcome.catalogue_revision`).
    pub revision: String,
    /// The sixteen domains.
    pub domains: Vec<pb::CatalogueDomain>,
    /// Every version, oldest first, each with all its matters.
    pub versions: Vec<pb::CatalogueVersion>,
}

impl CatalogueCopy {
    /// The version in force at `at_ms`, if one was.
    pub fn version_at(&self, at_ms: i64) -> Option<&pb::CatalogueVersion> {
        self.versions.iter().rev().find(|v| v.effective_from_ms <= at_ms)
    }

    /// The version in force now.
    pub fn current(&self) -> Option<&pb::CatalogueVersion> {
        self.version_at(crate::now_ms())
    }

    /// The matter `code` as it applied at `at_ms`, or why not (the server's
    /// rule: the version in force then lists it, within its validity).
    pub fn matter_at(&self, code: &str, at_ms: i64) -> Result<&pb::CatalogueMatter, FieldError> {
        let version = self.version_at(at_ms).ok_or_else(|| {
            FieldError::new(
                "matter_code",
                "no version of the enforcement-matters catalogue was in force then",
            )
        })?;
        let matter = version.matters.iter().find(|m| m.code == code).ok_or_else(|| {
            FieldError::new(
                "matter_code",
                format!(
                    "{code} is not in the enforcement-matters catalogue (version {})",
                    version.version
                ),
            )
        })?;
        let from = if matter.valid_from_ms == 0 {
            i64::MIN
        } else {
            matter.valid_from_ms
        };
        let until = if matter.valid_until_ms == 0 {
            i64::MAX
        } else {
            matter.valid_until_ms
        };
        if !(from..until).contains(&at_ms) {
            return Err(FieldError::new(
                "matter_code",
                format!("{code} does not apply on that day (version {})", version.version),
            ));
        }
        Ok(matter)
    }

    /// What the server checks of a record against the catalogue: its
    /// matter in the version in force when it began, and an
    /// enforcement-measure outcome only under a compulsory-measure matter.
    pub fn check_inspection(&self, record: &pb::InspectionRecord) -> Result<(), FieldError> {
        let matter = self.matter_at(&record.matter_code, record.started_at_ms)?;
        fieldlink_protocol::inspection::check_outcome_under_matter(
            record.outcome,
            &matter.code,
            matter.enforcement_measure,
        )
    }

    /// As one `Catalogue` message (how the outbox stores it).
    pub fn to_message(&self) -> pb::Catalogue {
        pb::Catalogue {
            revision: self.revision.clone(),
            domains: self.domains.clone(),
            versions: self.versions.clone(),
            ..Default::default()
        }
    }

    /// From one stored `Catalogue` message.
    pub fn from_message(message: pb::Catalogue) -> Self {
        Self {
            revision: message.revision,
            domains: message.domains,
            versions: message.versions,
        }
    }

    /// Adds a page: a version seen before gets the rest of its matters.
    fn merge(&mut self, page: pb::Catalogue) {
        self.revision = page.revision;
        if !page.domains.is_empty() {
            self.domains = page.domains;
        }
        for version in page.versions {
            match self.versions.iter_mut().find(|v| v.version == version.version) {
                Some(held) => held.matters.extend(version.matters),
                None => self.versions.push(version),
            }
        }
    }
}

/// What the roster says, checked against a record: a named team-mate
/// without an enforcement credential cannot be on an enforcement action
/// (officers of other teams are left to the server).
pub fn check_roster(roster: &pb::Roster, record: &pb::InspectionRecord) -> Result<(), FieldError> {
    let outcome = pb::Outcome::try_from(record.outcome).unwrap_or(pb::Outcome::Unspecified);
    if !fieldlink_protocol::inspection::outcome_is_enforcement_action(outcome) {
        return Ok(());
    }
    for (index, officer) in record.officer_ids.iter().enumerate() {
        if let Some(member) = roster.members.iter().find(|m| &m.officer_id == officer) {
            if !member.holds_credential {
                return Err(FieldError::new(
                    format!("officer_ids[{index}]"),
                    format!("{officer} holds no enforcement credential (执法证)"),
                ));
            }
        }
    }
    Ok(())
}

impl Client {
    /// The whole catalogue, fetched a page at a time; `None` when
    /// `known_revision` is the one in force (nothing is sent then).
    pub async fn catalogue(&self, known_revision: &str) -> Result<Option<CatalogueCopy>, Error> {
        for _ in 0..CATALOGUE_RESTARTS_MAX {
            let mut copy = CatalogueCopy::default();
            let mut query = pb::CatalogueQuery {
                known_revision: known_revision.to_owned(),
                ..Default::default()
            };
            let mut restarted = false;
            for _ in 0..CATALOGUE_PAGES_MAX {
                let page = self.catalogue_page(&query).await?;
                if page.unchanged {
                    return Ok(None);
                }
                if !copy.revision.is_empty() && page.revision != copy.revision {
                    // Reloaded on the server while we paged: start again.
                    restarted = true;
                    break;
                }
                let more = page.more;
                query.known_revision = String::new();
                query.after_version = page.next_after_version.clone();
                query.after_code = page.next_after_code.clone();
                copy.merge(page);
                if !more {
                    return Ok(Some(copy));
                }
            }
            if !restarted {
                return Err(Error::Protocol(
                    "the catalogue did not end within its page limit".into(),
                ));
            }
        }
        Err(Error::Protocol(
            "the catalogue kept changing while it was fetched".into(),
        ))
    }

    /// One page of the catalogue.
    pub async fn catalogue_page(&self, query: &pb::CatalogueQuery) -> Result<pb::Catalogue, Error> {
        let request = pb::Request {
            body: Some(Body::Catalogue(query.clone())),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::Catalogue(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// The caller's team-mates; `None` when `known_revision` is current.
    pub async fn roster(&self, known_revision: &str) -> Result<Option<pb::Roster>, Error> {
        let request = pb::Request {
            body: Some(Body::Roster(pb::RosterQuery {
                known_revision: known_revision.to_owned(),
            })),
            capture: None,
        };
        match self.request_with_retry(&frame::encode(&request)).await? {
            response::Result::Roster(roster) if roster.unchanged => Ok(None),
            response::Result::Roster(roster) => Ok(Some(roster)),
            other => Err(unexpected(other)),
        }
    }
}
