//! The platforms allowed to post AI-video alerts (docs/intake.md): each a
//! source id, the shared secret its webhook signatures are made with, and
//! the team its alerts go to by default. A TOML file (`alert_sources =
//! FILE`); `--dev` has one demo source.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

/// The demo source under `--dev`.
pub const DEMO_SOURCE: &str = "demo-video-platform";
/// Its secret (development only).
pub const DEMO_SECRET: &str = "dev-webhook-secret-not-for-production";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    #[serde(default)]
    sources: Vec<AlertSource>,
}

/// One platform.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSource {
    /// Its id, sent as `X-Fieldlink-Source`.
    pub id: String,
    /// The shared secret (at least 16 bytes).
    pub secret: String,
    /// For people.
    pub name: String,
    /// The team its alerts go to when the alert names none.
    pub team: String,
}

// Debug by hand: the shared secret never reaches a log.
impl std::fmt::Debug for AlertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSource")
            .field("id", &self.id)
            .field("secret", &"***")
            .field("name", &self.name)
            .field("team", &self.team)
            .finish()
    }
}

/// The sources in memory.
#[derive(Debug, Clone, Default)]
pub struct AlertSources {
    sources: HashMap<String, AlertSource>,
}

impl AlertSources {
    /// The demo source (`--dev`).
    pub fn demo() -> Self {
        let source = AlertSource {
            id: DEMO_SOURCE.into(),
            secret: DEMO_SECRET.into(),
            name: "演示视频巡查平台 Demo video patrol".into(),
            team: "team-chengnan".into(),
        };
        Self {
            sources: [(source.id.clone(), source)].into_iter().collect(),
        }
    }

    /// Reads and checks a sources file.
    pub fn from_file(path: &Path, team_exists: &dyn Fn(&str) -> bool) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: SourceFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut sources = HashMap::new();
        for source in file.sources {
            let id_ok = (1..=64).contains(&source.id.len())
                && source
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(format!(
                    "source {:?}: id must be 1 to 64 letters, digits, - or _",
                    source.id
                ));
            }
            if source.secret.len() < 16 {
                return Err(format!("source {}: secret must be at least 16 bytes", source.id));
            }
            if !team_exists(&source.team) {
                return Err(format!(
                    "source {}: team {} is not in the directory",
                    source.id, source.team
                ));
            }
            if sources.insert(source.id.clone(), source.clone()).is_some() {
                return Err(format!("source {} appears twice", source.id));
            }
        }
        Ok(Self { sources })
    }

    /// The source with this id.
    pub fn get(&self, id: &str) -> Option<&AlertSource> {
        self.sources.get(id)
    }
}
