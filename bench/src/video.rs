//! Scenario video: one large H.264 video (1 GiB; 256 MiB with --quick)
//! uploaded through the server — the structural check on the writer
//! thread, SHA-256 and SM3, fsync steps, the streamed re-hash before the
//! receipt — beside, in the same rounds, a raw quinn single-stream transfer
//! of the same bytes over the same TLS and transport settings; and the
//! process's resident memory while it runs (the video itself is in memory
//! before the baseline is read: what grows is the server's and the
//! transport's working memory). The terminal sends unsigned (its own SM3
//! is a capture-time cost, not the transfer's).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldlink_client::PhotoUpload;

use crate::cpu_time::{self, Cost, Stretch};
use crate::decode_budget::resident_bytes;
use crate::ingest::{bench_server, fleet_signing};
use crate::raw_quic::{self, Mode, RawServer};
use crate::report::Figure;
use crate::stats::median;

/// How to run the scenario.
pub struct Plan {
    /// The video's size.
    pub mebibytes: usize,
    /// Rounds (medians are taken over them).
    pub rounds: usize,
}

/// Runs the scenario.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = bench_server().await;
    // The terminal does not sign: a device signature covers the video's SM3,
    // which a terminal computes once at capture time (the outbox signs
    // then), not while it sends; the raw baseline hashes nothing either.
    let terminals = fleet_signing(server.addr(), 1, false).await?;
    let (client, _) = terminals.first().ok_or("no terminal")?.clone();
    let raw_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let raw = RawServer::start(
        &fieldlink_tests::dev_config(raw_dir.path()),
        Mode::Answer(Arc::new(vec![0u8; 120])),
    )?;
    let config = fieldlink_tests::client_config(raw.addr()?, "device-001", "officer-01");
    let quic = fieldlink_client::raw::quic_client_config(&config).map_err(|e| e.to_string())?;
    let (_raw_endpoint, raw_connection) = raw_quic::connect(&config, &quic).await?;

    let video = fieldlink_tests::media::large_video(plan.mebibytes);
    let megabytes = video.len() as f64 / 1e6;
    let mut ours = Vec::new();
    let mut raw_rates = Vec::new();
    let mut growth = 0u64;
    let (mut raw_cost, mut our_cost) = (Cost::default(), Cost::default());
    for round in 0..plan.rounds {
        let stretch = Stretch::start();
        raw_quic::request(&raw_connection, &video).await?;
        let (wall, cpu) = stretch.end();
        raw_rates.push(megabytes / wall);
        raw_cost.add(megabytes, cpu);

        // A fresh copy under a new id each round: the store is
        // content-addressed, so the bytes differ by their last one.
        let mut body = video.clone();
        if let Some(last) = body.last_mut() {
            *last = round as u8;
        }
        let upload = PhotoUpload::new(
            &uuid::Uuid::now_v7().to_string(),
            "video/mp4",
            fieldlink_client::now_ms() - 60_000,
            body,
        );
        let before = resident_bytes();
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let sampling = Arc::clone(&sampling);
            tokio::spawn(async move {
                let mut peak = 0;
                while sampling.load(Ordering::Relaxed) {
                    peak = peak.max(resident_bytes());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                peak
            })
        };
        let stretch = Stretch::start();
        let receipt = client.upload_photo(&upload, |_| {}).await;
        let (elapsed, cpu) = stretch.end();
        our_cost.add(megabytes, cpu);
        sampling.store(false, Ordering::Relaxed);
        let peak = sampler.await.map_err(|e| e.to_string())?;
        receipt.map_err(|e| format!("upload: {e}"))?;
        ours.push(megabytes / elapsed);
        growth = growth.max(peak.saturating_sub(before));
    }
    let label = format!("one {} MiB H.264 video", plan.mebibytes);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let raw_ms_per_mb = raw_cost.cpu_ms_per_mb();
    let (sha256, sm3) = crate::baselines::hashing_mb_per_s(&video[..video.len().min(16 << 20)]);
    let hashing_ms_per_mb = cpu_time::server_hashing_ms_per_mb(sha256, sm3);
    let cores = cpu_time::cores();
    let ceiling = cpu_time::ceiling_mb_per_s(cores, raw_ms_per_mb + hashing_ms_per_mb);
    let figures = vec![
        Figure::plain(
            "video",
            &format!("{label}: CPU per MB (terminal and server)"),
            our_cost.cpu_ms_per_mb(),
            "ms",
        )
        .against("raw quinn transfer", raw_ms_per_mb),
        Figure::plain(
            "video",
            &format!(
                "{label}: ceiling on {cores} cores (raw quinn's CPU per MB + the server's SHA-256, SM3 and read-back SHA-256, {hashing_ms_per_mb:.2} ms/MB)"
            ),
            ceiling.min(median(&raw_rates) * 10.0),
            "MB/s",
        )
        .against("raw quinn transfer, one stream", median(&raw_rates)),
        Figure::plain("video", &format!("{label}: upload"), median(&ours), "MB/s")
            .against("raw quinn transfer, one stream", median(&raw_rates))
            .goal(">= 0.5 x raw quinn", median(&ours) / median(&raw_rates) >= 0.5),
        Figure::plain(
            "video",
            &format!("{label}: resident memory growth during the upload"),
            mib(growth),
            "MiB",
        )
        .goal("< 64 MiB", growth < 64 * 1024 * 1024),
    ];
    raw_connection.close(0u32.into(), b"done");
    crate::ingest::close_all(terminals.into_iter().map(|(client, _)| client)).await;
    server.server.shutdown().await;
    Ok(figures)
}
