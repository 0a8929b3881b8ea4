//! Scenario 2, photo ingest: MB/s (10^6 bytes) of 4 MiB JPEG uploads, one at
//! a time and 8 at once, digests (SHA-256 and SM3) and fsync included,
//! beside, in the same rounds, a raw quinn transfer of the same bytes over
//! the same TLS, transport settings and socket buffers (one stream per
//! photo, read to its end, a receipt-sized answer), the SHA-256 and SM3
//! hashing rates, which bound it (the server hashes every byte with both),
//! and the rate at which the same disk takes 4 MiB files durably.
//!
//! The terminals sign their captures, and hash each photo when it is taken
//! (before the timed part, as a handheld does when its camera saves the
//! file), not while they send it. Each stretch's CPU time is measured too:
//! no upload can cost less CPU per MB than the raw transfer plus the
//! server's hashing, which gives this machine's ceiling for the goal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{photos, record};

use crate::baselines;
use crate::cpu_time::{self, Cost, Stretch};
use crate::ingest::{bench_server, fleet};
use crate::raw_quic::{self, Mode, RawServer};
use crate::report::Figure;
use crate::stats::median;

const PHOTO_BYTES: usize = 4 * 1024 * 1024;

/// How to run the scenario.
pub struct Plan {
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Photos each uploader sends per round.
    pub photos_per_uploader: usize,
}

/// MB/s of `bodies` sent over raw quinn, `uploaders` connections at once,
/// each sending its share one photo after another; its cost added to `cost`.
async fn raw_transfer_mb_per_s(
    connections: &[quinn::Connection],
    uploaders: usize,
    bodies: &[Vec<u8>],
    cost: &mut Cost,
) -> Result<f64, String> {
    let stretch = Stretch::start();
    let mut tasks = Vec::new();
    for (index, connection) in connections.iter().take(uploaders).enumerate() {
        let connection = connection.clone();
        let mine: Vec<Vec<u8>> = bodies.iter().skip(index).step_by(uploaders).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for body in &mine {
                raw_quic::request(&connection, body).await?;
            }
            Ok::<_, String>(mine.iter().map(Vec::len).sum::<usize>())
        }));
    }
    let mut bytes = 0;
    for task in tasks {
        bytes += task.await.map_err(|e| e.to_string())??;
    }
    let (wall, cpu) = stretch.end();
    let megabytes = bytes as f64 / 1e6;
    cost.add(megabytes, cpu);
    Ok(megabytes / wall)
}

/// Runs scenario 2.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = bench_server().await;
    let terminals = fleet(&server, 8).await?;
    let raw_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let raw = RawServer::start(
        &fieldlink_tests::dev_config(raw_dir.path()),
        Mode::Answer(Arc::new(vec![0u8; 120])),
    )?;
    let mut raw_connections = Vec::new();
    let mut raw_endpoints = Vec::new();
    for device in ["device-001", "device-002", "device-003"].iter().cycle().take(8) {
        let config = fieldlink_tests::client_config(raw.addr()?, device, "officer-01");
        let quic = fieldlink_client::raw::quic_client_config(&config).map_err(|e| e.to_string())?;
        let (endpoint, connection) = raw_quic::connect(&config, &quic).await?;
        raw_endpoints.push(endpoint);
        raw_connections.push(connection);
    }
    // Distinct photos (the store is content-addressed: equal bytes would
    // be stored once). Each is a valid JPEG padded to 4 MiB.
    let photo_count = 8 * plan.photos_per_uploader;
    let bodies: Vec<Vec<u8>> = (0..photo_count as u64)
        .map(|seed| photos::pad_jpeg(photos::jpeg(640, 480, seed), PHOTO_BYTES))
        .collect();

    let mut disk_rates = Vec::new();
    let mut sha256_rates = Vec::new();
    let mut sm3_rates = Vec::new();
    let mut single = Vec::new();
    let mut eight = Vec::new();
    let mut raw_single = Vec::new();
    let mut raw_eight = Vec::new();
    let [mut cost_single, mut cost_eight, mut raw_cost_single, mut raw_cost_eight] = [Cost::default(); 4];
    let mut next_body = 0usize;
    for _ in 0..plan.rounds {
        disk_rates.push(
            baselines::durable_write_mb_per_s(server.data_dir.path(), &bodies[..8.min(bodies.len())])
                .map_err(|e| format!("disk baseline: {e}"))?,
        );
        let (sha256, sm3) = baselines::hashing_mb_per_s(&bodies[0]);
        sha256_rates.push(sha256);
        sm3_rates.push(sm3);
        for (uploaders, out, cost) in [
            (1usize, &mut single, &mut cost_single),
            (8usize, &mut eight, &mut cost_eight),
        ] {
            // Taken before the timed part: each photo's record, and its
            // digests, computed when the camera saved it.
            let mut taken = Vec::new();
            for (client, officer) in terminals.iter().take(uploaders) {
                let mut mine = Vec::new();
                for _ in 0..plan.photos_per_uploader {
                    // A fresh evidence id for every upload, cycling the bodies.
                    let item = record(officer);
                    let upload = PhotoUpload::new(
                        &item.id,
                        "image/jpeg",
                        fieldlink_client::now_ms() - 60_000,
                        bodies[next_body % bodies.len()].clone(),
                    )
                    .with_sm3();
                    mine.push((item, upload));
                    next_body += 1;
                }
                taken.push((client.clone(), mine));
            }
            let stretch = Stretch::start();
            let mut tasks = Vec::new();
            for (client, mine) in taken {
                tasks.push(tokio::spawn(async move {
                    for (item, upload) in mine {
                        client
                            .submit_inspection(&item)
                            .await
                            .map_err(|e| format!("record: {e}"))?;
                        client
                            .upload_photo(&upload, |_| {})
                            .await
                            .map_err(|e| format!("upload: {e}"))?;
                    }
                    Ok::<_, String>(())
                }));
            }
            for task in tasks {
                task.await.map_err(|e| e.to_string())??;
            }
            let (wall, cpu) = stretch.end();
            let megabytes = (uploaders * plan.photos_per_uploader * PHOTO_BYTES) as f64 / 1e6;
            cost.add(megabytes, cpu);
            out.push(megabytes / wall);
        }
        // Let the thumbnails made after the receipts finish between rounds.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let per_round = &bodies[..8 * plan.photos_per_uploader];
        raw_single.push(
            raw_transfer_mb_per_s(
                &raw_connections,
                1,
                &per_round[..plan.photos_per_uploader],
                &mut raw_cost_single,
            )
            .await?,
        );
        raw_eight.push(raw_transfer_mb_per_s(&raw_connections, 8, per_round, &mut raw_cost_eight).await?);
    }
    let sha256 = median(&sha256_rates);
    let sm3 = median(&sm3_rates);
    // Both digests over every byte on one core each: the combined bound.
    let both = 1.0 / (1.0 / sha256 + 1.0 / sm3);
    let figures = vec![
        Figure::plain("photo", "SHA-256 hashing, one core", sha256, "MB/s"),
        Figure::plain("photo", "SM3 hashing, one core", sm3, "MB/s"),
        Figure::plain(
            "photo",
            "4 MiB files written and fsync'd, one after another",
            median(&disk_rates),
            "MB/s",
        ),
        Figure::plain("photo", "4 MiB uploads, 1 at a time", median(&single), "MB/s")
            .against("SHA-256 + SM3 on one core", both),
        Figure::plain("photo", "4 MiB uploads, 1 at a time", median(&single), "MB/s")
            .against("raw quinn transfer, 1 at a time", median(&raw_single)),
        Figure::plain("photo", "4 MiB uploads, 8 at once", median(&eight), "MB/s")
            .against("SHA-256 + SM3 on one core", both),
        Figure::plain("photo", "4 MiB uploads, 8 at once", median(&eight), "MB/s")
            .against("raw quinn transfer, 8 at once", median(&raw_eight))
            .goal(
                ">= 0.55 x raw quinn (SHA-256 and SM3)",
                median(&eight) / median(&raw_eight) >= 0.55,
            ),
    ];
    let mut figures = figures;
    let hashing_ms_per_mb = cpu_time::server_hashing_ms_per_mb(sha256, sm3);
    let cores = cpu_time::cores();
    for (label, ours, raw_cost, raw_rate) in [
        ("1 at a time", cost_single, raw_cost_single, median(&raw_single)),
        ("8 at once", cost_eight, raw_cost_eight, median(&raw_eight)),
    ] {
        figures.push(
            Figure::plain(
                "photo",
                &format!("CPU per MB, 4 MiB uploads {label} (terminals and server)"),
                ours.cpu_ms_per_mb(),
                "ms",
            )
            .against("raw quinn transfer", raw_cost.cpu_ms_per_mb()),
        );
        let ceiling = cpu_time::ceiling_mb_per_s(cores, raw_cost.cpu_ms_per_mb() + hashing_ms_per_mb);
        figures.push(
            Figure::plain(
                "photo",
                &format!(
                    "ceiling {label} on {cores} cores: raw quinn's CPU per MB + the server's SHA-256, SM3 and read-back SHA-256 ({hashing_ms_per_mb:.2} ms/MB)"
                ),
                ceiling.min(raw_rate * 10.0),
                "MB/s",
            )
            .against(&format!("raw quinn transfer, {label}"), raw_rate),
        );
    }
    figures.extend(acks_beside_uploads(&terminals[0].0, terminals[0].1, "server in this process").await?);
    // The same against a server in a process of its own: the terminals'
    // work then no longer shares the server's async runtime (it still
    // shares the machine's two cores).
    {
        let mut child = crate::connections::ChildServer::start("server")?;
        let terminal = crate::ingest::fleet_at(child.addr, 1).await?;
        let (client, officer) = terminal.first().ok_or("no terminal")?.clone();
        let measured = acks_beside_uploads(&client, officer, "server a child process").await;
        crate::ingest::close_all(terminal.into_iter().map(|(client, _)| client)).await;
        child.finish(Duration::from_secs(30));
        figures.extend(measured?);
    }
    // And with the server and the terminals each on a core of their own
    // (`taskset`): what the server's priorities give when the load
    // generator no longer takes the server's CPU, as terminals on their
    // own handhelds do not.
    match crate::pinning::Pinned::split() {
        Ok(pinned) => {
            let measured = async {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                let mut child =
                    crate::connections::ChildServer::start_in("server", dir, &pinned.server_wrapper())?;
                let terminal = crate::ingest::fleet_at(child.addr, 1).await?;
                let (client, officer) = terminal.first().ok_or("no terminal")?.clone();
                let measured = acks_beside_uploads(
                    &client,
                    officer,
                    "server a child process on core 0, terminals on core 1",
                )
                .await;
                crate::ingest::close_all(terminal.into_iter().map(|(client, _)| client)).await;
                child.finish(Duration::from_secs(30));
                measured
            }
            .await;
            drop(pinned);
            figures.extend(measured?);
        }
        Err(why) => eprintln!("photo: acks with the server on a core of its own skipped: {why}"),
    }
    for connection in raw_connections {
        connection.close(0u32.into(), b"done");
    }
    crate::ingest::close_all(terminals.into_iter().map(|(client, _)| client)).await;
    server.server.shutdown().await;
    Ok(figures)
}

/// Records acknowledged one after another on one terminal's connection, p99
/// in ms: idle, then while 4 body-camera videos upload on the same
/// connection (the SDK sends upload streams at a lower priority than
/// everything else).
async fn acks_beside_uploads(
    client: &fieldlink_client::Client,
    officer: &'static str,
    server: &str,
) -> Result<Vec<Figure>, String> {
    const RECORDS: usize = 100;
    const UPLOADS: usize = 4;
    const VIDEO_MIB: usize = 48;
    /// (p99, max) in ms.
    async fn ack_latencies(client: &fieldlink_client::Client, officer: &str) -> Result<(f64, f64), String> {
        let mut latencies = Vec::with_capacity(RECORDS);
        for _ in 0..RECORDS {
            let item = record(officer);
            let started = Instant::now();
            client
                .submit_inspection(&item)
                .await
                .map_err(|e| format!("record: {e}"))?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        Ok((
            crate::stats::percentile(&mut latencies, 99.0),
            crate::stats::percentile(&mut latencies, 100.0),
        ))
    }
    let idle = ack_latencies(client, officer).await?;
    let video = fieldlink_tests::media::large_video(VIDEO_MIB);
    // Four videos, their digests taken when they were recorded; each
    // differs in its last byte (the store is content-addressed).
    let videos: Vec<PhotoUpload> = (0..UPLOADS as u8)
        .map(|index| {
            let mut body = video.clone();
            if let Some(last) = body.last_mut() {
                *last = index;
            }
            PhotoUpload::new(
                &uuid::Uuid::now_v7().to_string(),
                "video/mp4",
                fieldlink_client::now_ms() - 60_000,
                body,
            )
            .with_sm3()
        })
        .collect();
    let uploads: Vec<_> = videos
        .into_iter()
        .map(|upload| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .upload_photo(&upload, |_| {})
                    .await
                    .map_err(|e| format!("upload: {e}"))
            })
        })
        .collect();
    // Measured from when the uploads have started sending.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let busy = ack_latencies(client, officer).await?;
    let still_uploading = uploads.iter().filter(|u| !u.is_finished()).count();
    for upload in uploads {
        upload.await.map_err(|e| e.to_string())??;
    }
    let label = format!(
        "beside {UPLOADS} {VIDEO_MIB} MiB videos uploading on one connection, {server} ({still_uploading} still running at the end)"
    );
    Ok(vec![
        Figure::plain("photo", &format!("record ack p99 {label}"), busy.0, "ms")
            .against("the same connection idle", idle.0)
            .goal("<= 3 x idle p99", busy.0 <= 3.0 * idle.0),
        Figure::plain("photo", &format!("record ack max {label}"), busy.1, "ms")
            .against("the same connection idle", idle.1),
    ])
}
