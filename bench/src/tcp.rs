//! fieldlink/1 over TCP (TLS 1.3, HTTP/2) beside QUIC, in the same rounds
//! against the same server: records from a fleet of terminals, many records
//! in flight on one connection, and photo uploads. On loopback, and (as
//! root) across a veth link that drops packets at random (nftables), where
//! QUIC should win: a lost TCP segment stalls every stream of its
//! connection, a lost QUIC packet only the streams whose data it carried.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fieldlink_client::{PhotoUpload, Transport};
use fieldlink_tests::{netns, photos, record};

use crate::connections::ChildServer;
use crate::ingest::{self, close_all, fleet_over, run_terminals};
use crate::report::Figure;
use crate::stats::{median, percentile};

/// How to run the scenario.
pub struct Plan {
    /// Terminals submitting records one after another.
    pub terminals: usize,
    /// Records in flight at once on one terminal's connection.
    pub in_flight: usize,
    /// Photos uploaded one after another, and their size.
    pub uploads: usize,
    pub photo_bytes: usize,
    /// Rounds (QUIC then TCP in each; medians over them).
    pub rounds: usize,
    /// Time each record measurement runs.
    pub window: Duration,
    /// The impaired link: random loss (%) each way.
    pub loss_percent: f64,
}

/// One transport's figures in one round.
#[derive(Default)]
struct Round {
    fleet_acks: f64,
    fleet_p99: f64,
    one_acks: f64,
    one_p99: f64,
    upload_mb_s: f64,
}

/// Runs the comparison on loopback, then across the impaired link.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();
    let server = ingest::bench_server().await;
    figures.extend(compare(plan, "loopback", server.addr(), server.tcp_addr()).await?);
    drop(server);
    match netns::unavailable(&["ip", "nft"]) {
        Some(reason) => eprintln!("tcp: the impaired comparison is skipped: {reason}"),
        None => {
            let loss = plan.loss_percent;
            let network = netns::Namespace::create(1)?;
            network.lose(loss)?;
            let mut wrapper = vec![
                "env".to_owned(),
                format!("FIELDLINK_BENCH_LISTEN={}", network.inside_ip),
            ];
            wrapper.extend(network.exec_prefix());
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let mut child = ChildServer::start_in("server", dir, &wrapper)?;
            // A fresh namespace: TCP got the QUIC port number.
            let label = format!("veth, {loss} % loss each way");
            let compared = compare(plan, &label, child.addr, child.addr).await;
            child.finish(Duration::from_secs(10));
            figures.extend(compared?);
        }
    }
    Ok(figures)
}

async fn compare(plan: &Plan, link: &str, quic: SocketAddr, tcp: SocketAddr) -> Result<Vec<Figure>, String> {
    let mut rounds: [Vec<Round>; 2] = [Vec::new(), Vec::new()];
    for round in 0..plan.rounds {
        for (slot, transport) in [Transport::Quic, Transport::Tcp].into_iter().enumerate() {
            let measured = measure(plan, quic, tcp, transport).await?;
            eprintln!(
                "tcp [{link}] round {round} {transport}: {:.0} records/s (p99 {:.1} ms), one connection {:.0}/s (p99 {:.1} ms), uploads {:.1} MB/s",
                measured.fleet_acks, measured.fleet_p99, measured.one_acks, measured.one_p99, measured.upload_mb_s
            );
            rounds[slot].push(measured);
        }
    }
    let of =
        |slot: usize, pick: fn(&Round) -> f64| median(&rounds[slot].iter().map(pick).collect::<Vec<_>>());
    let figure = |metric: String, unit: &str, pick: fn(&Round) -> f64| {
        Figure::plain("tcp", &format!("{metric} over TCP [{link}]"), of(1, pick), unit)
            .against("QUIC", of(0, pick))
    };
    Ok(vec![
        figure(format!("records/s, {} terminals", plan.terminals), "/s", |r| {
            r.fleet_acks
        }),
        figure(
            format!("record ack p99, {} terminals", plan.terminals),
            "ms",
            |r| r.fleet_p99,
        ),
        figure(
            format!("records/s, {} in flight on one connection", plan.in_flight),
            "/s",
            |r| r.one_acks,
        ),
        figure(
            format!("record ack p99, {} in flight on one connection", plan.in_flight),
            "ms",
            |r| r.one_p99,
        ),
        figure(
            format!("photo upload, {} × {} KiB", plan.uploads, plan.photo_bytes / 1024),
            "MB/s",
            |r| r.upload_mb_s,
        ),
    ])
}

async fn measure(
    plan: &Plan,
    quic: SocketAddr,
    tcp: SocketAddr,
    transport: Transport,
) -> Result<Round, String> {
    let fleet = fleet_over(quic, Some(tcp), transport, plan.terminals, true).await?;
    let fleet_run = run_terminals(&fleet, plan.window).await?;
    close_all(fleet.into_iter().map(|(client, _)| client)).await;

    let mut one = fleet_over(quic, Some(tcp), transport, 1, true).await?;
    let (client, officer) = one.pop().ok_or("no terminal")?;
    let deadline = Instant::now() + plan.window;
    let started = Instant::now();
    let tasks: Vec<_> = (0..plan.in_flight)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                // Bounded by the window and 100,000 records per task.
                while Instant::now() < deadline && latencies.len() < 100_000 {
                    let began = Instant::now();
                    client
                        .submit_inspection(&record(officer))
                        .await
                        .map_err(|e| format!("submit: {e}"))?;
                    latencies.push(began.elapsed().as_secs_f64() * 1e3);
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let one_acks = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let one_p99 = percentile(&mut latencies, 99.0);

    let started = Instant::now();
    for seed in 0..plan.uploads as u64 {
        let body = photos::pad_jpeg(photos::jpeg(640, 480, 7_000 + seed), plan.photo_bytes);
        let upload = PhotoUpload::new(
            &uuid::Uuid::now_v7().to_string(),
            "image/jpeg",
            fieldlink_client::now_ms() - 60_000,
            body,
        );
        client
            .upload_photo(&upload, |_| {})
            .await
            .map_err(|e| format!("upload: {e}"))?;
    }
    let upload_mb_s = (plan.uploads * plan.photo_bytes) as f64 / 1e6 / started.elapsed().as_secs_f64();
    client.close().await;
    Ok(Round {
        fleet_acks: fleet_run.acks_per_s,
        fleet_p99: fleet_run.p99_ms,
        one_acks,
        one_p99,
        upload_mb_s,
    })
}
