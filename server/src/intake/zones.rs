//! Zones (片区): areas of the town, each with the team responsible, and the
//! rules that dispatch new incidents of a category in a zone without
//! waiting for triage (docs/intake.md). A TOML file (`zones = FILE`);
//! `--dev` ships two demo zones. Point-in-polygon by georust's `geo`.

use std::path::Path;

use geo::{Contains, Coord, LineString, Point, Polygon};
use serde::Deserialize;

const DEMO_ZONES_TOML: &str = include_str!("../../data/demo-zones.toml");

/// Most zones, and most corners of one.
const ZONES_MAX: usize = 10_000;
const CORNERS_MAX: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneFile {
    #[serde(default)]
    zones: Vec<ZoneEntry>,
    #[serde(default)]
    auto_dispatch: Vec<AutoDispatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneEntry {
    id: String,
    name: String,
    team: String,
    /// [longitude, latitude] pairs.
    polygon: Vec<[f64; 2]>,
}

/// One zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Its id.
    pub id: String,
    /// For people.
    pub name: String,
    /// The team responsible.
    pub team: String,
    area: Polygon<f64>,
}

/// Dispatch new incidents of `category` in `zone` at once, to the zone's team.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoDispatch {
    /// The incident category.
    pub category: String,
    /// The zone id.
    pub zone: String,
    /// The catalogue matter for the assignment, when the incident has none.
    #[serde(default)]
    pub matter_code: String,
}

/// The zones and rules in memory.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    zones: Vec<Zone>,
    rules: Vec<AutoDispatch>,
}

impl Zones {
    /// The demo zones.
    pub fn demo() -> Result<Self, String> {
        Self::parse(DEMO_ZONES_TOML, "demo-zones.toml", &|_| true, &|_| true)
    }

    /// Reads and checks a zones file.
    pub fn from_file(
        path: &Path,
        team_exists: &dyn Fn(&str) -> bool,
        matter_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string(), team_exists, matter_exists)
    }

    fn parse(
        text: &str,
        name: &str,
        team_exists: &dyn Fn(&str) -> bool,
        matter_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Self, String> {
        let file: ZoneFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        if file.zones.len() > ZONES_MAX {
            return Err(format!("{name}: more than {ZONES_MAX} zones"));
        }
        let mut zones: Vec<Zone> = Vec::with_capacity(file.zones.len());
        for entry in file.zones {
            let fail = |why: String| format!("{name}: zone {}: {why}", entry.id);
            if entry.id.is_empty() || zones.iter().any(|zone| zone.id == entry.id) {
                return Err(fail("ids must be present and distinct".into()));
            }
            if !team_exists(&entry.team) {
                return Err(fail(format!("team {} is not in the directory", entry.team)));
            }
            if !(3..=CORNERS_MAX).contains(&entry.polygon.len()) {
                return Err(fail(format!("a polygon needs 3 to {CORNERS_MAX} corners")));
            }
            let in_range =
                |[lon, lat]: &[f64; 2]| (-180.0..=180.0).contains(lon) && (-90.0..=90.0).contains(lat);
            if !entry.polygon.iter().all(in_range) {
                return Err(fail(
                    "corners must be [longitude, latitude] in WGS 84 degrees".into(),
                ));
            }
            let ring: Vec<Coord<f64>> = entry
                .polygon
                .iter()
                .map(|[x, y]| Coord { x: *x, y: *y })
                .collect();
            zones.push(Zone {
                id: entry.id,
                name: entry.name,
                team: entry.team,
                area: Polygon::new(LineString::from(ring), Vec::new()),
            });
        }
        for rule in &file.auto_dispatch {
            if !zones.iter().any(|zone| zone.id == rule.zone) {
                return Err(format!("{name}: auto_dispatch names unknown zone {}", rule.zone));
            }
            if rule.category.is_empty() {
                return Err(format!("{name}: auto_dispatch needs a category"));
            }
            if !rule.matter_code.is_empty() && !matter_exists(&rule.matter_code) {
                return Err(format!(
                    "{name}: auto_dispatch matter_code {} is not in the catalogue",
                    rule.matter_code
                ));
            }
        }
        Ok(Self {
            zones,
            rules: file.auto_dispatch,
        })
    }

    /// The first zone (in file order) holding the point.
    pub fn zone_at(&self, latitude: f64, longitude: f64) -> Option<&Zone> {
        let point = Point::new(longitude, latitude);
        self.zones.iter().find(|zone| zone.area.contains(&point))
    }

    /// The rule that dispatches a new incident of `category` at a place, if any.
    pub fn auto_dispatch(
        &self,
        category: &str,
        latitude: f64,
        longitude: f64,
    ) -> Option<(&Zone, &AutoDispatch)> {
        let zone = self.zone_at(latitude, longitude)?;
        self.rules
            .iter()
            .find(|rule| rule.category == category && rule.zone == zone.id)
            .map(|rule| (zone, rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_fall_in_their_zone() {
        let zones = Zones::demo().unwrap();
        assert_eq!(
            zones.zone_at(29.870, 121.550).map(|z| z.team.as_str()),
            Some("team-chengnan")
        );
        assert_eq!(
            zones.zone_at(29.895, 121.540).map(|z| z.id.as_str()),
            Some("chengbei")
        );
        assert!(zones.zone_at(30.5, 120.0).is_none());
        assert!(zones
            .auto_dispatch("lampblack_exceedance", 29.87, 121.55)
            .is_none());
    }

    #[test]
    fn a_concave_zone_and_its_rules() {
        // An L shape: the notch at the top right is outside.
        let text = r#"
            [[zones]]
            id = "l"
            name = "L"
            team = "t"
            polygon = [[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0], [1.0, 2.0], [0.0, 2.0]]
            [[auto_dispatch]]
            category = "street_vending"
            zone = "l"
        "#;
        let zones = Zones::parse(text, "f", &|_| true, &|_| true).unwrap();
        assert!(zones.zone_at(0.5, 0.5).is_some());
        assert!(zones.zone_at(1.5, 1.5).is_none(), "the notch");
        assert!(zones.auto_dispatch("street_vending", 1.5, 0.5).is_some());
        assert!(zones.auto_dispatch("other", 1.5, 0.5).is_none());
        let bad = text.replace("zone = \"l\"", "zone = \"m\"");
        assert!(Zones::parse(&bad, "f", &|_| true, &|_| true)
            .unwrap_err()
            .contains("unknown zone"));
        let bad = text.replace("[0.0, 2.0]]", "[0.0, 200.0]]");
        assert!(Zones::parse(&bad, "f", &|_| true, &|_| true)
            .unwrap_err()
            .contains("WGS 84"));
        assert!(Zones::parse(text, "f", &|_| false, &|_| true)
            .unwrap_err()
            .contains("not in the directory"));
    }
}
