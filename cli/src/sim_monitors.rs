//! The simulator's monitors: kitchen-fume monitors speaking HJ 212 to the
//! server's listener, a reading every few seconds, now and then a run of
//! readings over the limit (an alarm, so the console's triage queue fills
//! live). Bounded by the run's duration; answers are awaited one at a time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fieldlink_hj212::{real_time_packet, split_frame, DataSegment, Framed, MonitorIdentity, SEGMENT_LEN_MAX};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The demo registry's monitors (server/data/demo-monitors.toml).
pub const DEMO_MONITORS: [&str; 4] = [
    "LB330201000000000000001A",
    "LB330201000000000000002B",
    "LB330201000000000000003C",
    "LB330201000000000000004D",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct MonitorPlan {
    /// The server's HJ 212 address.
    pub hj212: SocketAddr,
    /// Monitors (each a connection; MNs taken from `mns` in turn).
    pub monitors: usize,
    /// Their MNs.
    pub mns: Vec<String>,
    /// Their password.
    pub password: String,
    /// Time between readings.
    pub interval: Duration,
    /// How long to run.
    pub duration: Duration,
    /// Seed.
    pub seed: u64,
}

/// What the monitors did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MonitorSummary {
    /// Readings sent.
    pub packets_sent: u64,
    /// Readings the server answered (stored).
    pub packets_answered: u64,
    /// Runs of readings over the limit sent (each should raise an alarm).
    pub exceedances: u64,
    /// Monitors that lost their connection or were refused.
    pub errors: u64,
}

/// Runs the monitors for the plan's duration.
pub async fn run(plan: MonitorPlan) -> MonitorSummary {
    let deadline = Instant::now() + plan.duration;
    let tasks: Vec<_> = (0..plan.monitors)
        .map(|index| {
            let plan = plan.clone();
            tokio::spawn(async move { monitor(&plan, index, deadline).await })
        })
        .collect();
    let mut summary = MonitorSummary::default();
    for task in tasks {
        let one = task.await.unwrap_or(MonitorSummary {
            errors: 1,
            ..Default::default()
        });
        summary.packets_sent += one.packets_sent;
        summary.packets_answered += one.packets_answered;
        summary.exceedances += one.exceedances;
        summary.errors += one.errors;
    }
    summary
}

async fn monitor(plan: &MonitorPlan, index: usize, deadline: Instant) -> MonitorSummary {
    let mut summary = MonitorSummary::default();
    if plan.mns.is_empty() {
        return summary;
    }
    let identity = MonitorIdentity {
        st: "31".into(),
        mn: plan.mns[index % plan.mns.len()].clone(),
        pw: plan.password.clone(),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed.wrapping_add(index as u64));
    let Ok(mut stream) = TcpStream::connect(plan.hj212).await else {
        summary.errors += 1;
        return summary;
    };
    let mut buffer = Vec::new();
    let mut over_left = 0u32;
    // Distinct QNs: monitors sharing an MN count milliseconds apart.
    let mut sent_at = fieldlink_client::now_ms() + index as i64;
    while Instant::now() < deadline {
        if over_left == 0 && rng.gen_bool(0.05) {
            over_left = 3 + rng.gen_range(0..3);
            summary.exceedances += 1;
        }
        let value = if over_left > 0 {
            over_left -= 1;
            rng.gen_range(2.1..4.0)
        } else {
            rng.gen_range(0.3..1.8)
        };
        sent_at = sent_at.max(fieldlink_client::now_ms()) + plan.mns.len().max(1) as i64 * 1000;
        let value = (value * 100.0_f64).round() / 100.0;
        let packet = real_time_packet(&identity, sent_at, sent_at, &[("a34041", value, 'N')], true);
        summary.packets_sent += 1;
        if stream.write_all(&packet).await.is_err() {
            summary.errors += 1;
            return summary;
        }
        match answer(&mut stream, &mut buffer).await {
            Some(segment) if segment.cn == fieldlink_hj212::cn::DATA_ANSWER => summary.packets_answered += 1,
            _ => {
                summary.errors += 1;
                return summary;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(plan.interval.min(left)).await;
    }
    summary
}

async fn answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<DataSegment> {
    loop {
        if let Ok(Framed::Packet(packet)) = split_frame(buffer, SEGMENT_LEN_MAX) {
            let length = packet.bytes.len();
            let segment = DataSegment::parse(packet.segment).ok();
            buffer.drain(..length);
            return segment;
        }
        let mut chunk = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}
