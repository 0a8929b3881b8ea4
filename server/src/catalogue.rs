//! The enforcement-matters catalogue (事项目录): the matters the town may act
//! on. A record's matter code must name an entry.
//!
//! Loaded from a JSON file: an array of entries with `code`, `domain`, `name`,
//! `legal_basis` and `enforcement_measure`. `--dev` uses a small demo catalogue
//! built into the binary.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The demo catalogue shipped for `--dev`.
const DEMO_CATALOGUE_JSON: &str = include_str!("../data/demo-catalogue.json");

/// One enforcement matter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Matter {
    /// Matter code, e.g. `ZJ-001`.
    pub code: String,
    /// The administrative domain, e.g. 住房和城乡建设.
    pub domain: String,
    /// The matter's name.
    pub name: String,
    /// The legal basis (laws and articles).
    pub legal_basis: String,
    /// Whether the matter is an administrative compulsory measure.
    pub enforcement_measure: bool,
}

/// The loaded catalogue, by code.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    matters: BTreeMap<String, Matter>,
}

/// Why a catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The file could not be read.
    #[error("cannot read catalogue {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid catalogue.
    #[error("invalid catalogue: {0}")]
    Invalid(String),
}

impl Catalogue {
    /// The demo catalogue for `--dev`.
    pub fn demo() -> Self {
        // The demo file is part of this crate and checked by a unit test.
        #[allow(clippy::expect_used)]
        Self::from_json(DEMO_CATALOGUE_JSON).expect("the built-in demo catalogue is valid")
    }

    /// Loads a catalogue file.
    pub fn from_file(path: &Path) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parses catalogue JSON, refusing malformed codes and duplicates.
    pub fn from_json(text: &str) -> Result<Self, CatalogueError> {
        let entries: Vec<Matter> =
            serde_json::from_str(text).map_err(|e| CatalogueError::Invalid(e.to_string()))?;
        let mut matters = BTreeMap::new();
        for matter in entries {
            fieldlink_protocol::inspection::matter_code("code", &matter.code)
                .map_err(|e| CatalogueError::Invalid(format!("{}: {e}", matter.code)))?;
            if let Some(previous) = matters.insert(matter.code.clone(), matter) {
                return Err(CatalogueError::Invalid(format!(
                    "duplicate code {}",
                    previous.code
                )));
            }
        }
        if matters.is_empty() {
            return Err(CatalogueError::Invalid("the catalogue is empty".into()));
        }
        Ok(Self { matters })
    }

    /// The matter with `code`, if catalogued.
    pub fn matter(&self, code: &str) -> Option<&Matter> {
        self.matters.get(code)
    }

    /// Every matter, by code.
    pub fn matters(&self) -> impl Iterator<Item = &Matter> {
        self.matters.values()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.matters.len()
    }

    /// Whether the catalogue is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.matters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalogue_loads() {
        let catalogue = Catalogue::demo();
        assert!(catalogue.len() >= 10);
        assert!(catalogue.matter("ZJ-001").is_some());
        assert!(catalogue.matter("XX-999").is_none());
    }

    #[test]
    fn bad_codes_and_duplicates_are_refused() {
        let entry = |code: &str| {
            format!(
                r#"{{"code":"{code}","domain":"d","name":"n","legal_basis":"b","enforcement_measure":false}}"#
            )
        };
        assert!(Catalogue::from_json(&format!("[{}]", entry("bad code"))).is_err());
        assert!(Catalogue::from_json(&format!("[{},{}]", entry("AB-1"), entry("AB-1"))).is_err());
        assert!(Catalogue::from_json("[]").is_err());
    }
}
