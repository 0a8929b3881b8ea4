//! Work that comes in (docs/intake.md): monitors over HJ 212
//! ([`hj212_listener`]) checked against the [`monitor_registry`], whose
//! readings the [`alarm_rules`] turn into alarms, each reported as an
//! incident ([`incident_report`]).

pub mod alarm_rules;
pub mod alert_sources;
pub mod camera_alerts;
pub mod hj212_listener;
pub mod incident_report;
pub mod monitor_registry;
pub mod routing;
pub mod zones;

use std::collections::HashMap;
use std::sync::Mutex;

use alarm_rules::MonitorState;
use monitor_registry::MonitorRegistry;

/// What the intake shares between connections.
pub struct Intake {
    /// The monitors that may report.
    pub registry: MonitorRegistry,
    /// What the rules remember, per MN (a monitor may reconnect on another
    /// connection while the old one lingers).
    pub states: Mutex<HashMap<String, MonitorState>>,
    /// When the intake started (silence is counted from here for monitors
    /// not heard since), ms.
    pub started_at_ms: i64,
}

impl Intake {
    /// The intake for a registry.
    pub fn new(registry: MonitorRegistry, started_at_ms: i64) -> Self {
        Self {
            registry,
            states: Mutex::new(HashMap::new()),
            started_at_ms,
        }
    }

    /// Runs `f` on a monitor's rule state.
    pub fn with_state<T>(&self, mn: &str, f: impl FnOnce(&mut MonitorState) -> T) -> T {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        f(states.entry(mn.to_owned()).or_default())
    }
}
