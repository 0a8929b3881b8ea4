//! The monitor registry (docs/intake.md): which monitors may report, their
//! passwords, places, the team responsible and the limits per pollutant
//! code. A TOML file (`monitors = FILE`); `--dev` ships a demo one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

const DEMO_MONITORS_TOML: &str = include_str!("../../data/demo-monitors.toml");

/// Most monitors one registry may hold.
pub const MONITORS_MAX: usize = 100_000;

/// The file: `[[monitors]]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorFile {
    #[serde(default)]
    monitors: Vec<Monitor>,
}

/// One monitor.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// Unique code (MN), 1–24 letters or digits.
    pub mn: String,
    /// Access password (PW).
    pub password: String,
    /// What and where, for people.
    pub name: String,
    /// The system code it sends (ST); empty: any.
    #[serde(default)]
    pub st: String,
    /// Latitude (WGS 84).
    pub latitude: f64,
    /// Longitude (WGS 84).
    pub longitude: f64,
    /// Street address.
    #[serde(default)]
    pub address: String,
    /// The team responsible (a directory team id).
    pub team: String,
    /// The category of its exceedance incidents.
    #[serde(default = "default_category")]
    pub category: String,
    /// The catalogue matter its exceedances concern, if any.
    #[serde(default)]
    pub matter_code: String,
    /// Real-time readings over the limit in a row that raise an alarm.
    #[serde(default = "default_consecutive")]
    pub consecutive: u32,
    /// Silence after which the monitor is reported offline, seconds.
    #[serde(default = "default_offline_after_s")]
    pub offline_after_s: u64,
    /// Limits per pollutant code (`a34041 = 2.0`), in the unit the monitor reports.
    pub limits: BTreeMap<String, f64>,
}

// Debug by hand: the access password never reaches a log.
impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("mn", &self.mn)
            .field("password", &"***")
            .field("name", &self.name)
            .field("st", &self.st)
            .field("latitude", &self.latitude)
            .field("longitude", &self.longitude)
            .field("team", &self.team)
            .field("category", &self.category)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn default_category() -> String {
    "lampblack_exceedance".into()
}

fn default_consecutive() -> u32 {
    3
}

impl Monitor {
    /// Silence longer than this is an offline alarm, ms.
    pub fn offline_after_ms(&self) -> i64 {
        i64::try_from(self.offline_after_s.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

fn default_offline_after_s() -> u64 {
    900
}

impl Monitor {
    /// Whether `password` is this monitor's (compared in constant time).
    pub fn password_matches(&self, password: &str) -> bool {
        let (a, b) = (self.password.as_bytes(), password.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The registry in memory.
#[derive(Debug, Clone, Default)]
pub struct MonitorRegistry {
    monitors: HashMap<String, Monitor>,
}

impl MonitorRegistry {
    /// The demo registry.
    pub fn demo() -> Result<Self, String> {
        Self::parse(DEMO_MONITORS_TOML, "demo-monitors.toml", &|_| true, &|_| true)
    }

    /// Reads and checks a registry file; `team_exists` and `matter_exists`
    /// check the names it uses.
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
        let file: MonitorFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        if file.monitors.len() > MONITORS_MAX {
            return Err(format!("{name}: more than {MONITORS_MAX} monitors"));
        }
        let mut monitors = HashMap::with_capacity(file.monitors.len());
        for monitor in file.monitors {
            check(&monitor, team_exists, matter_exists)
                .map_err(|e| format!("{name}: monitor {}: {e}", monitor.mn))?;
            if monitors.contains_key(&monitor.mn) {
                return Err(format!("{name}: monitor {} appears twice", monitor.mn));
            }
            monitors.insert(monitor.mn.clone(), monitor);
        }
        Ok(Self { monitors })
    }

    /// The monitor with this MN.
    pub fn get(&self, mn: &str) -> Option<&Monitor> {
        self.monitors.get(mn)
    }

    /// Every monitor.
    pub fn all(&self) -> impl Iterator<Item = &Monitor> {
        self.monitors.values()
    }

    /// Number of monitors.
    pub fn len(&self) -> usize {
        self.monitors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.monitors.is_empty()
    }
}

fn check(
    monitor: &Monitor,
    team_exists: &dyn Fn(&str) -> bool,
    matter_exists: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let code_like = |text: &str, max: usize| {
        (1..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    if !code_like(&monitor.mn, 24) {
        return Err("mn must be 1 to 24 letters or digits".into());
    }
    if !code_like(&monitor.password, 9) {
        return Err("password must be 1 to 9 letters or digits".into());
    }
    if !monitor.st.is_empty() && (monitor.st.len() != 2 || !monitor.st.bytes().all(|b| b.is_ascii_digit())) {
        return Err("st must be two digits".into());
    }
    if !(-90.0..=90.0).contains(&monitor.latitude) || !(-180.0..=180.0).contains(&monitor.longitude) {
        return Err("latitude and longitude must be WGS 84 degrees".into());
    }
    if !team_exists(&monitor.team) {
        return Err(format!("team {} is not in the directory", monitor.team));
    }
    if !monitor.matter_code.is_empty() && !matter_exists(&monitor.matter_code) {
        return Err(format!(
            "matter_code {} is not in the catalogue",
            monitor.matter_code
        ));
    }
    if monitor.category.is_empty() || monitor.category.len() > 64 {
        return Err("category must be 1 to 64 characters".into());
    }
    if !(1..=1000).contains(&monitor.consecutive) {
        return Err("consecutive must be 1 to 1000".into());
    }
    // Seconds are allowed (tests, fast-reporting sensors); a few times the
    // monitor's reporting interval is what avoids false alarms.
    if !(1..=7 * 24 * 3600).contains(&monitor.offline_after_s) {
        return Err("offline_after_s must be 1 to 604800 (a week)".into());
    }
    if monitor.limits.is_empty() {
        return Err("limits must name at least one pollutant code".into());
    }
    for (code, limit) in &monitor.limits {
        if !code_like(code, 16) || !limit.is_finite() || *limit < 0.0 {
            return Err(format!(
                "limit {code} = {limit}: a code of letters and digits and a finite limit ≥ 0"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_registry_loads() {
        let registry = MonitorRegistry::demo().unwrap();
        assert_eq!(registry.len(), 4);
        let monitor = registry.get("LB330201000000000000001A").unwrap();
        assert_eq!(monitor.limits.get("a34041"), Some(&2.0));
        assert!(monitor.password_matches("123456"));
        assert!(!monitor.password_matches("123457"));
        assert!(!monitor.password_matches("12345"));
        let printed = format!("{monitor:?}");
        assert!(
            !printed.contains("123456"),
            "the password is not logged: {printed}"
        );
        assert!(printed.contains("LB330201000000000000001A"), "{printed}");
    }

    #[test]
    fn bad_entries_are_refused_with_their_reason() {
        let base = "[[monitors]]\nmn = \"M1\"\npassword = \"123456\"\nname = \"n\"\nlatitude = 30.0\nlongitude = 120.0\nteam = \"t\"\nlimits = { a34041 = 2.0 }\n";
        let yes = |_: &str| true;
        let no = |_: &str| false;
        assert!(MonitorRegistry::parse(base, "f", &yes, &yes).is_ok());
        let cases = [
            (base.replace("\"M1\"", "\"M-1\""), "mn must be"),
            (base.replace("\"123456\"", "\"\""), "password must be"),
            (base.replace("30.0", "91.0"), "latitude"),
            (base.replace("a34041 = 2.0", ""), "limits must"),
            (base.replace("2.0", "-1.0"), "limit a34041"),
            (format!("{base}consecutive = 0\n"), "consecutive"),
            (format!("{base}{base}"), "appears twice"),
            (base.replace("team", "teem"), "unknown field"),
        ];
        for (text, reason) in cases {
            let error = MonitorRegistry::parse(&text, "f", &yes, &yes).unwrap_err();
            assert!(error.contains(reason), "{error} should say {reason}");
        }
        let error = MonitorRegistry::parse(base, "f", &no, &yes).unwrap_err();
        assert!(error.contains("not in the directory"), "{error}");
    }
}
