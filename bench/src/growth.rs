//! Scenario 5, growth: how the ingest rate, ack latency, push latency and
//! the server's memory per terminal change as one fleet grows from 1 to
//! 1,024 terminals, so that a super-linear cost shows. The server runs as a
//! child process (its resident memory is its own, and its CPU is not the
//! terminals'); at each size every terminal holds an open assignment feed,
//! then all submit records for a window, then one team assignment is
//! broadcast to all of them.
//!
//! `bench/plot_growth.py FILE.json OUT.png` draws the figures as a plot.

use std::time::{Duration, Instant};

use fieldlink_client::Client;
use fieldlink_tests::{assignment_for_team, connect};
use tokio::sync::mpsc;

use crate::connections::ChildServer;
use crate::ingest::{close_all, fleet_at, run_terminals};
use crate::report::Figure;
use crate::stats::percentile;

/// The demo team the fleet's officers belong to.
const TEAM: &str = "team-chengnan";
/// How long a broadcast may take to reach everyone.
const PUSH_DEADLINE: Duration = Duration::from_secs(120);

/// How to run it.
pub struct Plan {
    /// Fleet sizes, ascending.
    pub terminals: Vec<usize>,
    /// How long each ingest measurement runs.
    pub window: Duration,
    /// Broadcasts per size.
    pub pushes: usize,
}

/// Runs scenario 5.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = ChildServer::start("server")?;
    let supervisor = connect(server.addr, "device-001", "supervisor-01")
        .await
        .map_err(|e| format!("supervisor: {e}"))?;
    let largest = plan.terminals.iter().copied().max().unwrap_or(1);
    // Memory per terminal is the growth from the previous size to this one
    // (the first size only gives the server's resident set: it includes
    // what the server allocates once, on first use), measured after each
    // size's records and pushes.
    let mut previous: Option<(usize, f64)> = None;

    let (sender, mut arrivals) = mpsc::unbounded_channel::<(String, Instant)>();
    let mut terminals: Vec<(Client, &'static str)> = Vec::with_capacity(largest);
    let mut feeds = Vec::with_capacity(largest);
    let mut figures = Vec::new();
    for &count in &plan.terminals {
        let more = fleet_at(server.addr, count - terminals.len()).await?;
        for (client, officer) in more {
            feeds.push(crate::push::forward_new_assignments(&client, sender.clone()));
            terminals.push((client, officer));
        }
        // One broadcast unmeasured: every feed is live before anything counts.
        broadcast(&supervisor, &mut arrivals, count).await?;
        let ingest = run_terminals(&terminals, plan.window).await?;
        let mut push = Vec::new();
        for _ in 0..plan.pushes {
            push.extend(broadcast(&supervisor, &mut arrivals, count).await?);
        }
        // After this size's work, so what the work allocates once (caches,
        // batch buffers) is in every size's figure, not in the next size's.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_kib = server.rss_kib()?;
        let metric = |what: &str| format!("{count} terminals: {what}");
        for (what, value, unit) in [
            ("acks/s", ingest.acks_per_s, "/s"),
            ("ack p50", ingest.p50_ms, "ms"),
            ("ack p99", ingest.p99_ms, "ms"),
            ("push p50", percentile(&mut push, 50.0), "ms"),
            ("push p99", percentile(&mut push, 99.0), "ms"),
            ("push max", percentile(&mut push, 100.0), "ms"),
            ("server RSS", rss_kib / 1024.0, "MiB"),
        ] {
            figures.push(Figure::plain("growth", &metric(what), value, unit));
        }
        if let Some((before, before_kib)) = previous {
            figures.push(Figure::plain(
                "growth",
                &metric("server KiB per added terminal"),
                (rss_kib - before_kib) / (count - before) as f64,
                "KiB",
            ));
        }
        previous = Some((count, rss_kib));
    }
    for feed in feeds {
        feed.abort();
    }
    close_all(
        terminals
            .into_iter()
            .map(|(client, _)| client)
            .chain([supervisor]),
    )
    .await;
    Ok(figures)
}

/// Dispatches one team assignment and waits until `count` terminals have it;
/// returns each one's latency from the dispatch request, ms.
async fn broadcast(
    supervisor: &Client,
    arrivals: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    count: usize,
) -> Result<Vec<f64>, String> {
    let assignment = assignment_for_team(TEAM);
    let t0 = Instant::now();
    supervisor
        .create_assignment(&assignment)
        .await
        .map_err(|e| format!("dispatch: {e}"))?;
    let deadline = tokio::time::Instant::now() + PUSH_DEADLINE;
    let mut latencies = Vec::with_capacity(count);
    while latencies.len() < count {
        let (id, at) = tokio::time::timeout_at(deadline, arrivals.recv())
            .await
            .map_err(|_| format!("only {} of {count} terminals got the broadcast", latencies.len()))?
            .ok_or("the feeds stopped")?;
        if id == assignment.id {
            latencies.push(at.saturating_duration_since(t0).as_secs_f64() * 1e3);
        }
    }
    Ok(latencies)
}
