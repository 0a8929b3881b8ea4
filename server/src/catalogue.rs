//! The enforcement-matters catalogue (事项目录): the matters the town may act
//! on, in versions. A version takes effect on a date (China Standard Time)
//! and replaces the one before it whole: when the town's list went from 533
//! to 367 matters that was a new version, not an edit. A record is checked
//! against the version in force when it was captured; everything else
//! (dispatch, intake) against the version in force now.
//!
//! The file (docs/operations.md §"The catalogue"):
//!
//! ```json
//! { "format": "fieldlink-catalogue/2",
//!   "versions": [
//!     { "version": "2025-01", "effective_from": "2025-01-01", "note": "…",
//!       "matters": [ { "code": "ZJ-001", "domain": "ZJ", "name": "…",
//!                      "legal_basis": "…", "enforcement_measure": false,
//!                      "valid_from": "2025-01-01", "valid_until": "2027-12-31" } ] } ] }
//! ```
//!
//! `domain` is one of the sixteen codes of [`DOMAINS`]; `valid_from` and
//! `valid_until` (inclusive) are optional. A plain array of matters (the
//! first format) is still read, as one version in force since 1970, its
//! domains named by code or by their Chinese name. `--dev` uses a demo
//! catalogue built into the binary.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The demo catalogue shipped for `--dev`.
const DEMO_CATALOGUE_JSON: &str = include_str!("../data/demo-catalogue.json");

/// The format tag of a versioned catalogue file.
pub const FORMAT: &str = "fieldlink-catalogue/2";

/// China Standard Time, in which effective dates and validity dates fall.
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// Most versions and matters a file may hold.
const VERSIONS_MAX: usize = 100;
const MATTERS_PER_VERSION_MAX: usize = 10_000;

/// One of the sixteen administrative domains (领域) of the town's
/// comprehensive enforcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// Its code in catalogue files.
    pub code: &'static str,
    /// Its name in Chinese.
    pub zh: &'static str,
    /// Its name in English.
    pub en: &'static str,
}

/// The sixteen domains, fixed: a matter names one by its code.
pub const DOMAINS: [Domain; 16] = [
    Domain {
        code: "FG",
        zh: "发展和改革",
        en: "Development and reform",
    },
    Domain {
        code: "JX",
        zh: "经济和信息化",
        en: "Economy and information technology",
    },
    Domain {
        code: "JY",
        zh: "教育",
        en: "Education",
    },
    Domain {
        code: "MZ",
        zh: "民政",
        en: "Civil affairs",
    },
    Domain {
        code: "ZR",
        zh: "自然资源",
        en: "Natural resources",
    },
    Domain {
        code: "HB",
        zh: "生态环境",
        en: "Ecology and environment",
    },
    Domain {
        code: "ZJ",
        zh: "住房和城乡建设",
        en: "Housing and urban-rural construction",
    },
    Domain {
        code: "JT",
        zh: "交通运输",
        en: "Transport",
    },
    Domain {
        code: "SL",
        zh: "水利",
        en: "Water resources",
    },
    Domain {
        code: "NY",
        zh: "农业农村",
        en: "Agriculture and rural affairs",
    },
    Domain {
        code: "SW",
        zh: "商务",
        en: "Commerce",
    },
    Domain {
        code: "WL",
        zh: "文化和旅游",
        en: "Culture and tourism",
    },
    Domain {
        code: "WS",
        zh: "卫生健康",
        en: "Health",
    },
    Domain {
        code: "YJ",
        zh: "应急管理",
        en: "Emergency management",
    },
    Domain {
        code: "SJ",
        zh: "市场监管",
        en: "Market regulation",
    },
    Domain {
        code: "LY",
        zh: "林业",
        en: "Forestry",
    },
];

/// The domain with this code.
pub fn domain(code: &str) -> Option<&'static Domain> {
    DOMAINS.iter().find(|d| d.code == code)
}

/// One enforcement matter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Matter {
    /// Matter code, e.g. `ZJ-001`.
    pub code: String,
    /// The domain's code (one of [`DOMAINS`]).
    pub domain: String,
    /// The matter's name.
    pub name: String,
    /// The legal basis (laws and articles).
    pub legal_basis: String,
    /// Whether the matter is an administrative compulsory measure (行政强制
    /// 措施): only such a matter may end in OUTCOME_ENFORCEMENT_MEASURE.
    pub enforcement_measure: bool,
    /// First day the matter applies (inclusive), when later than its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Last day the matter applies (inclusive), when it ends within its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// `valid_from` and `valid_until` as ms bounds: [from, until).
    #[serde(skip)]
    valid_ms: (i64, i64),
}

impl Matter {
    /// Its validity as ms bounds, [from, until) (`i64::MIN`/`MAX`: unbounded).
    pub fn valid_ms(&self) -> (i64, i64) {
        self.valid_ms
    }

    /// Whether the matter applies at this time.
    pub fn valid_at(&self, at_ms: i64) -> bool {
        (self.valid_ms.0..self.valid_ms.1).contains(&at_ms)
    }
}

/// One version of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// Its name, e.g. `2026-07`.
    pub version: String,
    /// The day it takes effect (China Standard Time), `YYYY-MM-DD`.
    pub effective_from: String,
    /// That day's start, ms since the Unix epoch.
    pub effective_from_ms: i64,
    /// What changed, in words.
    pub note: String,
    /// Its matters, by code.
    #[serde(skip)]
    matters: BTreeMap<String, Matter>,
}

impl Version {
    /// Every matter of the version, by code.
    pub fn matters(&self) -> impl Iterator<Item = &Matter> {
        self.matters.values()
    }

    /// The matter with `code`, if the version lists it.
    pub fn matter(&self, code: &str) -> Option<&Matter> {
        self.matters.get(code)
    }

    /// Number of matters.
    pub fn len(&self) -> usize {
        self.matters.len()
    }

    /// Whether the version lists no matter (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.matters.is_empty()
    }
}

/// Why a matter cannot be used at a given time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotInForce {
    /// No version was in force yet.
    #[error("no version of the enforcement-matters catalogue was in force then")]
    NoVersion,
    /// The version in force does not list the code.
    #[error("{code} is not in the enforcement-matters catalogue (version {version})")]
    NotListed {
        /// The code.
        code: String,
        /// The version in force.
        version: String,
    },
    /// The version lists it, but not for that day.
    #[error("{code} does not apply on that day (valid {from} to {until} in version {version})")]
    OutsideValidity {
        /// The code.
        code: String,
        /// Its validity, as written.
        from: String,
        /// Its validity's end, as written.
        until: String,
        /// The version in force.
        version: String,
    },
}

/// The loaded catalogue: its versions, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    versions: Vec<Version>,
    /// A digest of the file it was read from (hex): what terminals compare
    /// to know whether their copy is the one in force.
    revision: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV2 {
    format: String,
    versions: Vec<FileVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVersion {
    version: String,
    effective_from: String,
    #[serde(default)]
    note: String,
    matters: Vec<Matter>,
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

    /// Parses a catalogue, refusing it whole at the first fault: unknown
    /// fields, malformed codes, duplicates, unknown domains, bad dates,
    /// versions out of order or empty.
    pub fn from_json(text: &str) -> Result<Self, CatalogueError> {
        let invalid = |detail: String| CatalogueError::Invalid(detail);
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let file_versions = if value.is_array() {
            let mut matters: Vec<Matter> =
                serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
            for matter in &mut matters {
                matter.domain = first_format_domain(&matter.domain)
                    .ok_or_else(|| invalid(format!("{}: unknown domain {:?}", matter.code, matter.domain)))?
                    .to_owned();
            }
            vec![FileVersion {
                version: "1".into(),
                effective_from: "1970-01-01".into(),
                note: String::new(),
                matters,
            }]
        } else {
            let file: FileV2 = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
            if file.format != FORMAT {
                return Err(invalid(format!("format {:?}, expected {FORMAT:?}", file.format)));
            }
            file.versions
        };
        if file_versions.is_empty() || file_versions.len() > VERSIONS_MAX {
            return Err(invalid(format!("must hold 1 to {VERSIONS_MAX} versions")));
        }
        let mut versions: Vec<Version> = Vec::with_capacity(file_versions.len());
        for file_version in file_versions {
            let version = parse_version(file_version)?;
            if let Some(previous) = versions.last() {
                if version.effective_from_ms <= previous.effective_from_ms {
                    return Err(invalid(format!(
                        "version {} takes effect no later than {} before it",
                        version.version, previous.version
                    )));
                }
            }
            if versions.iter().any(|v| v.version == version.version) {
                return Err(invalid(format!("duplicate version {}", version.version)));
            }
            versions.push(version);
        }
        use sha2::Digest;
        let revision = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16]);
        Ok(Self { versions, revision })
    }

    /// The catalogue's revision (a digest of its file).
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// The version in force at `at_ms`, if one was.
    pub fn version_at(&self, at_ms: i64) -> Option<&Version> {
        self.versions.iter().rev().find(|v| v.effective_from_ms <= at_ms)
    }

    /// The version in force now (or, before the first takes effect, the
    /// first: dispatch is for the days ahead).
    pub fn current(&self) -> Option<&Version> {
        self.version_at(crate::clock::system_clock_ms())
            .or_else(|| self.versions.first())
    }

    /// The matter with `code` as it applied at `at_ms`.
    pub fn matter_at(&self, code: &str, at_ms: i64) -> Result<&Matter, NotInForce> {
        let version = self.version_at(at_ms).ok_or(NotInForce::NoVersion)?;
        let matter = version.matter(code).ok_or_else(|| NotInForce::NotListed {
            code: code.to_owned(),
            version: version.version.clone(),
        })?;
        if !matter.valid_at(at_ms) {
            return Err(NotInForce::OutsideValidity {
                code: code.to_owned(),
                from: matter
                    .valid_from
                    .clone()
                    .unwrap_or_else(|| version.effective_from.clone()),
                until: matter.valid_until.clone().unwrap_or_else(|| "—".into()),
                version: version.version.clone(),
            });
        }
        Ok(matter)
    }

    /// The matter with `code` in the version in force now, if it applies today.
    pub fn matter(&self, code: &str) -> Option<&Matter> {
        let now = crate::clock::system_clock_ms();
        self.current()?.matter(code).filter(|m| m.valid_at(now))
    }

    /// Every matter of the version in force now, by code.
    pub fn matters(&self) -> impl Iterator<Item = &Matter> {
        self.current().into_iter().flat_map(Version::matters)
    }

    /// Number of matters in the version in force now.
    pub fn len(&self) -> usize {
        self.current().map_or(0, Version::len)
    }

    /// Whether the catalogue is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_version(file: FileVersion) -> Result<Version, CatalogueError> {
    let invalid = |detail: String| CatalogueError::Invalid(format!("version {}: {detail}", file.version));
    if file.version.is_empty() || file.version.len() > 32 || file.version.chars().any(char::is_whitespace) {
        return Err(invalid(
            "the version's name must be 1 to 32 characters without spaces".into(),
        ));
    }
    let effective_from_ms = day_start_ms(&file.effective_from).ok_or_else(|| {
        invalid(format!(
            "effective_from {:?} is not a date (YYYY-MM-DD)",
            file.effective_from
        ))
    })?;
    if file.matters.is_empty() || file.matters.len() > MATTERS_PER_VERSION_MAX {
        return Err(invalid(format!(
            "must list 1 to {MATTERS_PER_VERSION_MAX} matters"
        )));
    }
    let mut matters = BTreeMap::new();
    for mut matter in file.matters {
        fieldlink_protocol::inspection::matter_code("code", &matter.code)
            .map_err(|e| invalid(format!("{}: {e}", matter.code)))?;
        if domain(&matter.domain).is_none() {
            return Err(invalid(format!(
                "{}: domain {:?} is not one of the sixteen ({})",
                matter.code,
                matter.domain,
                DOMAINS.map(|d| d.code).join(", ")
            )));
        }
        if matter.name.trim().is_empty() || matter.legal_basis.trim().is_empty() {
            return Err(invalid(format!(
                "{}: a name and a legal basis are required",
                matter.code
            )));
        }
        let from = match &matter.valid_from {
            Some(day) => {
                day_start_ms(day).ok_or_else(|| invalid(format!("{}: valid_from {day:?}", matter.code)))?
            }
            None => i64::MIN,
        };
        let until = match &matter.valid_until {
            // Inclusive: the day after it begins the end.
            Some(day) => {
                day_start_ms(day).ok_or_else(|| invalid(format!("{}: valid_until {day:?}", matter.code)))?
                    + 86_400_000
            }
            None => i64::MAX,
        };
        if from >= until {
            return Err(invalid(format!(
                "{}: valid_until is before valid_from",
                matter.code
            )));
        }
        matter.valid_ms = (from, until);
        let code = matter.code.clone();
        if matters.insert(code.clone(), matter).is_some() {
            return Err(invalid(format!("duplicate code {code}")));
        }
    }
    Ok(Version {
        version: file.version,
        effective_from: file.effective_from,
        effective_from_ms,
        note: file.note,
        matters,
    })
}

/// The first format named domains in words: its code, or a domain's
/// Chinese name at the start of the text ("住房和城乡建设 Housing …").
fn first_format_domain(text: &str) -> Option<&'static str> {
    let text = text.trim();
    DOMAINS
        .iter()
        .find(|d| d.code == text || text.starts_with(d.zh))
        .map(|d| d.code)
}

/// Midnight China Standard Time at the start of `YYYY-MM-DD`, in ms.
pub fn day_start_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = text[0..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day == 0 || day > days_in_month[month as usize - 1] {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 - CST_OFFSET_MS)
}

/// The date (year, month, day) of a day number (days since 1970-01-01),
/// the inverse of [`days_from_civil`] (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-07-01 00:00 in China, as ms.
    const JULY_2026: i64 = 1_782_835_200_000;

    #[test]
    fn dates_are_days_in_china() {
        assert_eq!(day_start_ms("1970-01-02"), Some(86_400_000 - CST_OFFSET_MS));
        assert_eq!(day_start_ms("2026-07-01"), Some(JULY_2026));
        assert_eq!(
            day_start_ms("2024-02-29").map(|ms| ms + CST_OFFSET_MS),
            Some(19_782 * 86_400_000)
        );
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-7-1",
            "26-07-01",
            "",
            "2026-07-01T00",
        ] {
            assert_eq!(day_start_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_numbers_and_dates_round_trip() {
        for days in [0, 59, 60, 365, 19_782, 20_635, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn the_demo_catalogue_covers_every_domain_in_two_versions() {
        let catalogue = Catalogue::demo();
        assert_eq!(catalogue.versions().len(), 2);
        let first = &catalogue.versions()[0];
        assert!(first.len() >= 60, "{}", first.len());
        for domain in DOMAINS {
            assert!(
                first.matters().any(|m| m.domain == domain.code),
                "{}",
                domain.code
            );
        }
        assert!(catalogue.matter("ZJ-001").is_some());
        assert!(catalogue.matter("XX-999").is_none());
        assert!(first.matters().any(|m| m.enforcement_measure));
    }

    #[test]
    fn the_version_in_force_is_chosen_by_time() {
        let catalogue = Catalogue::demo();
        // FG-004 left the list in the 2026-07 version.
        assert!(catalogue.matter_at("FG-004", JULY_2026 - 1).is_ok());
        assert_eq!(
            catalogue.matter_at("FG-004", JULY_2026),
            Err(NotInForce::NotListed {
                code: "FG-004".into(),
                version: "2026-07".into()
            })
        );
        // SJ-006 joined with it.
        assert!(catalogue.matter_at("SJ-006", JULY_2026 - 1).is_err());
        assert!(catalogue.matter_at("SJ-006", JULY_2026).is_ok());
        assert_eq!(catalogue.version_at(JULY_2026 - 1).unwrap().version, "2025-01");
        assert_eq!(catalogue.matter_at("ZJ-001", 0), Err(NotInForce::NoVersion));
        // WL-004 applies to the end of 2027, inclusive.
        let end = day_start_ms("2028-01-01").unwrap();
        assert!(catalogue.matter_at("WL-004", end - 1).is_ok());
        assert!(matches!(
            catalogue.matter_at("WL-004", end),
            Err(NotInForce::OutsideValidity { .. })
        ));
    }

    fn entry(code: &str, domain: &str) -> String {
        format!(
            r#"{{"code":"{code}","domain":"{domain}","name":"n","legal_basis":"b","enforcement_measure":false}}"#
        )
    }

    fn versioned(versions: &[(&str, &str, String)]) -> String {
        let versions: Vec<String> = versions
            .iter()
            .map(|(name, from, matters)| {
                format!(r#"{{"version":"{name}","effective_from":"{from}","matters":[{matters}]}}"#)
            })
            .collect();
        format!(r#"{{"format":"{FORMAT}","versions":[{}]}}"#, versions.join(","))
    }

    #[test]
    fn the_first_format_still_loads_as_one_version() {
        let catalogue = Catalogue::from_json(&format!(
            "[{},{}]",
            entry("AB-1", "ZJ"),
            entry("AB-2", "林业 Forestry")
        ))
        .unwrap();
        assert_eq!(catalogue.versions().len(), 1);
        assert_eq!(catalogue.matter("AB-2").unwrap().domain, "LY");
        assert!(Catalogue::from_json(&format!("[{}]", entry("AB-1", "Parks"))).is_err());
    }

    #[test]
    fn a_bad_file_is_refused_whole() {
        let good = entry("AB-1", "ZJ");
        assert!(Catalogue::from_json(&versioned(&[("v1", "2025-01-01", good.clone())])).is_ok());
        let bad = [
            format!("[{}]", entry("bad code", "ZJ")),
            format!("[{},{}]", entry("AB-1", "ZJ"), entry("AB-1", "ZJ")),
            "[]".to_owned(),
            versioned(&[("v1", "2025-01-01", entry("AB-1", "XX"))]),
            versioned(&[("v1", "2025-13-01", good.clone())]),
            versioned(&[("v1", "2025-01-01", String::new())]),
            versioned(&[
                ("v2", "2026-01-01", good.clone()),
                ("v1", "2025-01-01", good.clone()),
            ]),
            versioned(&[
                ("v1", "2025-01-01", good.clone()),
                ("v1", "2026-01-01", good.clone()),
            ]),
            versioned(&[("has space", "2025-01-01", good.clone())]),
            versioned(&[]),
            r#"{"format":"other","versions":[]}"#.to_owned(),
            versioned(&[(
                "v1",
                "2025-01-01",
                good.replace(
                    "false}",
                    r#"false,"valid_from":"2026-01-01","valid_until":"2025-12-31"}"#,
                ),
            )]),
            versioned(&[("v1", "2025-01-01", good.replace("false}", r#"false,"extra":1}"#))]),
        ];
        for text in bad {
            assert!(Catalogue::from_json(&text).is_err(), "{text}");
        }
    }
}
