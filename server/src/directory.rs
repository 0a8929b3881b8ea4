//! The agency directory: teams and the officers and supervisors in them.
//!
//! Kept in the database and held in memory while the server runs (a town has
//! dozens of officers). `--dev` seeds a demo team on first start; production
//! imports a TOML file (`directory = "…"`) at start, see docs/operations.md.

use std::collections::HashMap;
use std::path::Path;

use fieldlink_protocol::pb;
use serde::{Deserialize, Serialize};

/// Password of every demo account (`--dev` only).
pub const DEMO_PASSWORD: &str = "demo-password";
/// The first demo officer, used by `fieldlink --dev`.
pub const DEMO_OFFICER: &str = "officer-01";
/// The demo supervisor.
pub const DEMO_SUPERVISOR: &str = "supervisor-01";
/// The demo grid worker (网格员).
pub const DEMO_GRID_WORKER: &str = "grid-01";

/// A team (中队).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// Team id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A field officer.
    Officer,
    /// A command-center supervisor.
    Supervisor,
    /// A grid worker (网格员): reports what they see on patrol, nothing else.
    GridWorker,
}

impl Role {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Supervisor => "supervisor",
            Role::GridWorker => "grid_worker",
        }
    }

    /// Parses the stored text form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "officer" => Some(Role::Officer),
            "supervisor" => Some(Role::Supervisor),
            "grid_worker" => Some(Role::GridWorker),
            _ => None,
        }
    }
}

/// An officer or supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Officer {
    /// Directory id (what they sign in with).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Their team.
    pub team_id: String,
    /// Enforcement credential number (执法证号), if they hold one.
    #[serde(default)]
    pub credential_number: Option<String>,
    /// First day the credential is valid (`YYYY-MM-DD`, China Standard
    /// Time), when the directory says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_valid_from: Option<String>,
    /// Last day the credential is valid (inclusive), when the directory says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_valid_until: Option<String>,
    /// Officer or supervisor.
    pub role: Role,
    /// argon2id hash in PHC string form (`fieldlink-server hash-password`).
    pub password_hash: String,
    /// Whether they are currently enrolled (may sign in and be named on records).
    #[serde(default = "enrolled_default")]
    pub enrolled: bool,
}

fn enrolled_default() -> bool {
    true
}

impl Officer {
    /// The credential number in force at `at_ms`, if they held one then
    /// (by the validity dates the directory gives; none given: always).
    pub fn credential_at(&self, at_ms: i64) -> Option<&str> {
        let number = self.credential_number.as_deref()?;
        credential_valid_at(
            self.credential_valid_from.as_deref(),
            self.credential_valid_until.as_deref(),
            at_ms,
        )
        .then_some(number)
    }

    /// The profile sent to the terminal in Welcome.
    pub fn profile(&self) -> pb::OfficerProfile {
        pb::OfficerProfile {
            officer_id: self.id.clone(),
            name: self.name.clone(),
            team_id: self.team_id.clone(),
            credential_number: self.credential_number.clone().unwrap_or_default(),
            role: match self.role {
                Role::Officer => pb::Role::Officer,
                Role::Supervisor => pb::Role::Supervisor,
                Role::GridWorker => pb::Role::GridWorker,
            } as i32,
        }
    }
}

/// Whether a credential valid from `from` to `until` (inclusive days,
/// China Standard Time; none: unbounded) is valid at `at_ms`.
pub fn credential_valid_at(from: Option<&str>, until: Option<&str>, at_ms: i64) -> bool {
    let from = from.and_then(crate::catalogue::day_start_ms).unwrap_or(i64::MIN);
    let until = until
        .and_then(crate::catalogue::day_start_ms)
        .map_or(i64::MAX, |day| day + 86_400_000);
    (from..until).contains(&at_ms)
}

/// The directory file format (TOML): `[[teams]]` and `[[officers]]` tables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    /// Teams.
    #[serde(default)]
    pub teams: Vec<Team>,
    /// Officers and supervisors.
    #[serde(default)]
    pub officers: Vec<Officer>,
}

impl DirectoryFile {
    /// Reads and checks a directory file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: Self = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for officer in &file.officers {
            fieldlink_protocol::validate::officer_id("officers.id", &officer.id)
                .map_err(|e| e.to_string())?;
            if !file.teams.iter().any(|t| t.id == officer.team_id) {
                return Err(format!(
                    "officer {} names unknown team {}",
                    officer.id, officer.team_id
                ));
            }
            for day in [&officer.credential_valid_from, &officer.credential_valid_until]
                .into_iter()
                .flatten()
            {
                if crate::catalogue::day_start_ms(day).is_none() {
                    return Err(format!(
                        "officer {}: credential date {day:?} is not YYYY-MM-DD",
                        officer.id
                    ));
                }
            }
            if officer.credential_number.is_none()
                && (officer.credential_valid_from.is_some() || officer.credential_valid_until.is_some())
            {
                return Err(format!(
                    "officer {}: credential dates without a credential_number",
                    officer.id
                ));
            }
            if !officer.password_hash.starts_with("$argon2id$") {
                return Err(format!(
                    "officer {}: password_hash must be an argon2id PHC string",
                    officer.id
                ));
            }
        }
        Ok(file)
    }

    /// The demo directory: team 城南 with four officers, team 城北 with one,
    /// a supervisor, and two grid workers of 城南's first grid, all with
    /// [`DEMO_PASSWORD`]. Hashing takes a moment; done once on first start.
    pub fn demo() -> Result<Self, crate::auth::AuthError> {
        let hash = crate::auth::hash_password(DEMO_PASSWORD)?;
        let officer = |id: &str, name: &str, credential: Option<&str>, role: Role| Officer {
            id: id.into(),
            name: name.into(),
            team_id: match id {
                "officer-05" => "team-chengbei",
                "grid-01" | "grid-02" => "grid-chengnan-01",
                _ => "team-chengnan",
            }
            .into(),
            credential_number: credential.map(str::to_owned),
            credential_valid_from: None,
            credential_valid_until: None,
            role,
            password_hash: hash.clone(),
            enrolled: true,
        };
        Ok(Self {
            teams: vec![
                Team {
                    id: "team-chengnan".into(),
                    name: "城南执法中队 Chengnan enforcement team".into(),
                },
                Team {
                    id: "team-chengbei".into(),
                    name: "城北执法中队 Chengbei enforcement team".into(),
                },
                Team {
                    id: "grid-chengnan-01".into(),
                    name: "城南第一网格 Chengnan grid 1".into(),
                },
            ],
            officers: vec![
                officer("officer-01", "王建国", Some("33020001"), Role::Officer),
                officer("officer-02", "李秀英", Some("33020002"), Role::Officer),
                officer("officer-03", "张伟", Some("33020003"), Role::Officer),
                officer("officer-04", "陈静", Some("33020004"), Role::Officer),
                officer("officer-05", "赵磊", Some("33020005"), Role::Officer),
                officer(DEMO_SUPERVISOR, "刘指挥", None, Role::Supervisor),
                officer(DEMO_GRID_WORKER, "孙网格", None, Role::GridWorker),
                officer("grid-02", "周网格", None, Role::GridWorker),
            ],
        })
    }
}

/// The directory in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    officers: HashMap<String, Officer>,
    teams: HashMap<String, Team>,
}

impl Directory {
    /// Builds the in-memory directory.
    pub fn new(teams: Vec<Team>, officers: Vec<Officer>) -> Self {
        Self {
            teams: teams.into_iter().map(|t| (t.id.clone(), t)).collect(),
            officers: officers.into_iter().map(|o| (o.id.clone(), o)).collect(),
        }
    }

    /// The officer with `id`, enrolled or not.
    pub fn officer(&self, id: &str) -> Option<&Officer> {
        self.officers.get(id)
    }

    /// The officer with `id` if currently enrolled.
    pub fn enrolled_officer(&self, id: &str) -> Option<&Officer> {
        self.officers.get(id).filter(|o| o.enrolled)
    }

    /// The enrolled officers (not supervisors) of a team, sorted.
    pub fn team_members(&self, team_id: &str) -> Vec<String> {
        let mut members: Vec<String> = self
            .officers
            .values()
            .filter(|o| o.team_id == team_id && o.enrolled && o.role == Role::Officer)
            .map(|o| o.id.clone())
            .collect();
        members.sort();
        members
    }

    /// Everyone, ordered by id.
    pub fn officers(&self) -> Vec<&Officer> {
        let mut officers: Vec<&Officer> = self.officers.values().collect();
        officers.sort_by(|a, b| a.id.cmp(&b.id));
        officers
    }

    /// The team with `id`.
    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.get(id)
    }

    /// Number of people in the directory.
    pub fn len(&self) -> usize {
        self.officers.len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.officers.is_empty()
    }
}
