//! What every connection and request shares.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::config::Config;
use crate::directory::Directory;
use crate::evidence::Evidence;
use crate::presence::OfficerPresence;
use crate::storage::group_commit::{CommitStats, GroupCommitter};
use crate::storage::{PeopleStore, Storage};
use crate::swappable::Swappable;

/// Shared server state. Cheap to clone (everything is behind `Arc`).
#[derive(Clone)]
pub struct AppState {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// The group-commit writer.
    pub committer: GroupCommitter,
    /// Commit counters.
    pub commit_stats: Arc<CommitStats>,
    /// The group-commit writer of assignment events (it also publishes them).
    pub events: crate::storage::event_commit::EventCommitter,
    /// The group-commit writer of feed cursors.
    pub cursors: crate::storage::cursor_commit::CursorCommitter,
    /// Assignments whose delivery this node has marked.
    pub delivery_marks: crate::delivery_marks::DeliveryMarks,
    /// The agency directory (reloaded without a restart: crate::reload).
    pub directory: Swappable<Directory>,
    /// Signs the transparency log's checkpoints.
    pub log_signer: Arc<crate::transparency::LogSigner>,
    /// The enforcement-matters catalogue (reloaded without a restart).
    pub catalogue: Swappable<Catalogue>,
    /// The evidence store (photos).
    pub evidence: Arc<Evidence>,
    /// Live assignment events.
    pub push: crate::push::PushHub,
    /// Per-device connection, upload and request-rate limits.
    pub device_limits: crate::device_limits::DeviceLimits,
    /// This node's id (random per start), for state several nodes share.
    pub node_id: String,
    /// The database's epoch (crate::database_epoch): sent in the Welcome,
    /// every receipt and with feed cursors.
    pub database_epoch: String,
    /// Officers online now (for the console).
    pub presence: crate::presence::Presence,
    /// Officers' live positions, from datagrams (for the console).
    pub positions: Arc<crate::positions::PositionBoard>,
    /// Request and upload counters (for /metrics).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Admission of new handshakes (cap and Retry).
    pub handshakes: crate::handshake_gate::HandshakeGate,
    /// Live connections, for closing those of revoked devices.
    pub live: crate::revocation::LiveConnections,
    /// Fires when the server begins shutting down (long-lived streams end).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The server clock, ms since the Unix epoch (injectable for tests).
    pub clock: fn() -> i64,
    /// Password checks, at most `password_checks_max` at once.
    pub password_checks: crate::password_checks::PasswordChecks,
    /// Failed sign-ins in a row, per account and source: backoff and lockout.
    pub sign_in_lockout: Arc<crate::sign_in_lockout::SignInLockout>,
    /// The platforms allowed to post AI-video alerts.
    pub alert_sources: Arc<crate::intake::alert_sources::AlertSources>,
    /// Zones, their teams and the auto-dispatch rules.
    pub zones: Arc<crate::intake::zones::Zones>,
}

impl AppState {
    /// Officers online now, as the console shows them: this node's live
    /// sessions plus, when nodes share a database, the other nodes'.
    pub async fn online_now(&self) -> HashMap<String, OfficerPresence> {
        let storage: &dyn PeopleStore = &*self.storage;
        let shared = self.push.is_relayed().then_some((storage, self.node_id.as_str()));
        crate::presence::current(&self.presence, shared, (self.clock)()).await
    }

    /// What validation needs now: the server clock and the allowed skew.
    pub fn validation_context(&self) -> fieldlink_protocol::validate::ValidationContext {
        fieldlink_protocol::validate::ValidationContext {
            now_ms: (self.clock)(),
            clock_skew_ms_max: self.config.clock_skew_ms_max,
        }
    }
}

pub use crate::clock::system_clock_ms;
