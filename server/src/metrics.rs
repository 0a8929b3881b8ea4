//! Counters for `/metrics` (Prometheus text format): requests by kind and
//! result, upload bytes, push lag. Connection, session and commit figures
//! come from their owners when rendered.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, Cow<'static, str>), u64>>,
    /// Photo bytes received on upload streams.
    pub upload_bytes: AtomicU64,
    /// Assignment events published to live feeds.
    pub push_events: AtomicU64,
    /// Sum of (publish time − commit time) of those events, ms.
    pub push_lag_ms_total: AtomicU64,
    /// The largest such lag, ms.
    pub push_lag_ms_max: AtomicU64,
    /// Evidence scrubs completed (see [`crate::audit::run_scrub`]).
    pub scrubs: AtomicU64,
    /// Problems the newest scrub found; anything but 0 needs a person.
    pub evidence_problems: AtomicU64,
    /// Checkpoints witnesses cosigned.
    pub witness_cosignatures: AtomicU64,
    /// Checkpoints a witness refused (a fork, or a bad proof): needs a person.
    pub witness_refusals: AtomicU64,
    /// CRL files refused (not signed by an agency CA, older than the one in
    /// force, unreadable): the previous CRL stays in force.
    pub crl_refusals: AtomicU64,
    /// Accounts or sources locked after failed sign-ins in a row.
    pub sign_in_lockouts: AtomicU64,
    /// HJ 212 packets and connections by outcome ("stored", "bad_crc", …).
    hj212: Mutex<BTreeMap<&'static str, u64>>,
    /// HJ 212 connections open.
    pub hj212_connections: AtomicU64,
    /// Media jobs by outcome ("done", "undecodable", "retried", "given_up").
    media_jobs: Mutex<BTreeMap<&'static str, u64>>,
    /// Incidents opened by a report.
    pub incidents_opened: AtomicU64,
    /// Reports that joined an open incident.
    pub incident_reports_joined: AtomicU64,
}

impl Metrics {
    /// Counts one request of `kind` that ended with `result` ("ok" or a status reason).
    pub fn request(&self, kind: &'static str, result: Cow<'static, str>) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((kind, result)).or_default() += 1;
    }

    /// Counts one published event committed at `committed_at_ms`.
    pub fn pushed(&self, committed_at_ms: i64, now_ms: i64) {
        let lag = u64::try_from(now_ms.saturating_sub(committed_at_ms)).unwrap_or(0);
        self.push_events.fetch_add(1, Ordering::Relaxed);
        self.push_lag_ms_total.fetch_add(lag, Ordering::Relaxed);
        self.push_lag_ms_max.fetch_max(lag, Ordering::Relaxed);
    }

    /// Counts one HJ 212 packet or connection outcome.
    pub fn hj212(&self, outcome: &'static str) {
        let mut counts = self.hj212.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(outcome).or_default() += 1;
    }

    /// Counts one media job's outcome.
    pub fn media_job(&self, outcome: &'static str) {
        let mut counts = self.media_jobs.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(outcome).or_default() += 1;
    }

    /// Media job outcomes counted so far.
    pub fn media_job_outcomes(&self) -> BTreeMap<&'static str, u64> {
        self.media_jobs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// HJ 212 outcomes counted so far.
    pub fn hj212_outcomes(&self) -> BTreeMap<&'static str, u64> {
        self.hj212.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts one incident report.
    pub fn incident_report(&self, joined: bool, replayed: bool) {
        match (joined, replayed) {
            (_, true) => {}
            (true, false) => {
                self.incident_reports_joined.fetch_add(1, Ordering::Relaxed);
            }
            (false, false) => {
                self.incidents_opened.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Requests counted so far, by (kind, result).
    pub fn requests(&self) -> BTreeMap<(&'static str, Cow<'static, str>), u64> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Everything `/metrics` shows, gathered by the caller.
pub struct Snapshot<'a> {
    /// The counters.
    pub metrics: &'a Metrics,
    /// Terminal connections open (QUIC and TCP).
    pub connections: u64,
    /// Of those, over TCP (TLS, HTTP/2).
    pub tcp_connections: u64,
    /// Officer sessions open.
    pub sessions: u64,
    /// Handshakes in progress.
    pub handshakes_pending: u64,
    /// Group commit: transactions, items, the largest batch, total commit time (µs).
    pub commits: (u64, u64, u64, u64),
    /// Position datagrams kept, and dropped by reason.
    pub positions: (u64, Vec<(&'static str, u64)>),
}

/// Renders the Prometheus text exposition format.
pub fn render(s: &Snapshot<'_>) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    gauge(
        "fieldlink_connections",
        "Terminal connections open (QUIC and TCP).",
        "gauge",
        s.connections,
    );
    gauge(
        "fieldlink_tcp_connections",
        "Terminal connections open over TCP (TLS, HTTP/2), where UDP is blocked.",
        "gauge",
        s.tcp_connections,
    );
    gauge(
        "fieldlink_sessions",
        "Officer sessions open.",
        "gauge",
        s.sessions,
    );
    gauge(
        "fieldlink_handshakes_pending",
        "Handshakes in progress.",
        "gauge",
        s.handshakes_pending,
    );
    gauge(
        "fieldlink_commit_batches_total",
        "Group-commit transactions.",
        "counter",
        s.commits.0,
    );
    gauge(
        "fieldlink_evidence_scrubs_total",
        "Background audits of the stored evidence completed.",
        "counter",
        s.metrics.scrubs.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_evidence_problems",
        "Altered, missing or unlogged evidence the newest scrub found (0: intact).",
        "gauge",
        s.metrics.evidence_problems.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_crl_refusals_total",
        "CRL files refused (unsigned, older than the one in force, unreadable); the previous CRL stays in force.",
        "counter",
        s.metrics.crl_refusals.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_sign_in_lockouts_total",
        "Accounts or sources (devices, console addresses) locked after failed sign-ins in a row.",
        "counter",
        s.metrics.sign_in_lockouts.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_witness_cosignatures_total",
        "Checkpoints a witness cosigned.",
        "counter",
        s.metrics.witness_cosignatures.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_witness_refusals_total",
        "Checkpoints a witness refused as not extending what it cosigned (anything but 0 needs a person).",
        "counter",
        s.metrics.witness_refusals.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_commit_items_total",
        "Items committed.",
        "counter",
        s.commits.1,
    );
    gauge(
        "fieldlink_commit_batch_items_max",
        "The largest batch so far.",
        "gauge",
        s.commits.2,
    );
    gauge(
        "fieldlink_commit_duration_microseconds_total",
        "Time spent in group commits.",
        "counter",
        s.commits.3,
    );
    let m = s.metrics;
    gauge(
        "fieldlink_upload_bytes_total",
        "Photo bytes received.",
        "counter",
        m.upload_bytes.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_push_events_total",
        "Assignment events pushed to live feeds.",
        "counter",
        m.push_events.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_push_lag_milliseconds_total",
        "Sum of commit-to-push lag.",
        "counter",
        m.push_lag_ms_total.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_push_lag_milliseconds_max",
        "The largest commit-to-push lag.",
        "gauge",
        m.push_lag_ms_max.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_hj212_connections",
        "HJ 212 monitor connections open.",
        "gauge",
        m.hj212_connections.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_incidents_opened_total",
        "Incidents opened by a report.",
        "counter",
        m.incidents_opened.load(Ordering::Relaxed),
    );
    gauge(
        "fieldlink_incident_reports_joined_total",
        "Reports that joined an open incident.",
        "counter",
        m.incident_reports_joined.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP fieldlink_hj212_packets_total HJ 212 packets and connections by outcome.\n# TYPE fieldlink_hj212_packets_total counter"
    );
    for (outcome, count) in m.hj212_outcomes() {
        let _ = writeln!(
            out,
            "fieldlink_hj212_packets_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP fieldlink_media_jobs_total Post-processing jobs (thumbnails) by outcome.\n# TYPE fieldlink_media_jobs_total counter"
    );
    for (outcome, count) in m.media_job_outcomes() {
        let _ = writeln!(out, "fieldlink_media_jobs_total{{outcome=\"{outcome}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP fieldlink_positions_total Position datagrams kept, and dropped by reason.\n# TYPE fieldlink_positions_total counter"
    );
    let _ = writeln!(
        out,
        "fieldlink_positions_total{{result=\"kept\"}} {}",
        s.positions.0
    );
    for (reason, count) in &s.positions.1 {
        let _ = writeln!(out, "fieldlink_positions_total{{result=\"{reason}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP fieldlink_requests_total Requests by kind and result.\n# TYPE fieldlink_requests_total counter"
    );
    for ((kind, result), count) in m.requests() {
        let _ = writeln!(
            out,
            "fieldlink_requests_total{{kind=\"{kind}\",result=\"{result}\"}} {count}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_in_the_exposition_format() {
        let metrics = Metrics::default();
        metrics.request("submit_inspection", "ok".into());
        metrics.request("submit_inspection", "ok".into());
        metrics.request("upload_photo", "OFFSET_MISMATCH".to_owned().into());
        metrics.pushed(100, 130);
        let text = render(&Snapshot {
            metrics: &metrics,
            connections: 3,
            tcp_connections: 1,
            sessions: 2,
            handshakes_pending: 0,
            commits: (1, 2, 2, 500),
            positions: (3, vec![("too_frequent", 2)]),
        });
        assert!(text.contains("fieldlink_requests_total{kind=\"submit_inspection\",result=\"ok\"} 2"));
        assert!(text.contains("fieldlink_requests_total{kind=\"upload_photo\",result=\"OFFSET_MISMATCH\"} 1"));
        assert!(text.contains("fieldlink_connections 3\n"));
        assert!(text.contains("fieldlink_tcp_connections 1\n"));
        assert!(text.contains("fieldlink_push_lag_milliseconds_max 30\n"));
    }
}
