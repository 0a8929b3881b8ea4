//! Scenario 2, photo ingest: MB/s (10^6 bytes) of 4 MiB JPEG uploads, one at
//! a time and 8 at once, digests (SHA-256 and SM3) and fsync included,
//! beside, in the same rounds, a raw quinn transfer of the same bytes over
//! the same TLS, transport settings and socket buffers (one stream per
//! photo, read to its end, a receipt-sized answer), the SHA-256 and SM3
//! hashing rates, which bound it (the server hashes every byte with both),
//! and the rate at which the same disk takes 4 MiB files durably.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{photos, record};

use crate::baselines;
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
/// each sending its share one photo after another.
async fn raw_transfer_mb_per_s(
    connections: &[quinn::Connection],
    uploaders: usize,
    bodies: &[Vec<u8>],
) -> Result<f64, String> {
    let started = Instant::now();
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
    Ok(bytes as f64 / 1e6 / started.elapsed().as_secs_f64())
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
    let mut next_body = 0usize;
    for _ in 0..plan.rounds {
        disk_rates.push(
            baselines::durable_write_mb_per_s(server.data_dir.path(), &bodies[..8.min(bodies.len())])
                .map_err(|e| format!("disk baseline: {e}"))?,
        );
        let (sha256, sm3) = baselines::hashing_mb_per_s(&bodies[0]);
        sha256_rates.push(sha256);
        sm3_rates.push(sm3);
        for (uploaders, out) in [(1usize, &mut single), (8usize, &mut eight)] {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for (client, officer) in terminals.iter().take(uploaders) {
                let mut mine = Vec::new();
                for _ in 0..plan.photos_per_uploader {
                    // A fresh evidence id for every upload, cycling the bodies.
                    mine.push(bodies[next_body % bodies.len()].clone());
                    next_body += 1;
                }
                let (client, officer) = (client.clone(), *officer);
                tasks.push(tokio::spawn(async move {
                    for body in mine {
                        let item = record(officer);
                        client
                            .submit_inspection(&item)
                            .await
                            .map_err(|e| format!("record: {e}"))?;
                        let upload = PhotoUpload::new(
                            &item.id,
                            "image/jpeg",
                            fieldlink_client::now_ms() - 60_000,
                            body,
                        );
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
            let bytes = (uploaders * plan.photos_per_uploader * PHOTO_BYTES) as f64;
            out.push(bytes / 1e6 / started.elapsed().as_secs_f64());
        }
        // Let the thumbnails made after the receipts finish between rounds.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let per_round = &bodies[..8 * plan.photos_per_uploader];
        raw_single
            .push(raw_transfer_mb_per_s(&raw_connections, 1, &per_round[..plan.photos_per_uploader]).await?);
        raw_eight.push(raw_transfer_mb_per_s(&raw_connections, 8, per_round).await?);
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
    figures.extend(acks_beside_uploads(&terminals[0].0, terminals[0].1).await?);
    for connection in raw_connections {
        connection.close(0u32.into(), b"done");
    }
    crate::ingest::close_all(terminals.into_iter().map(|(client, _)| client)).await;
    server.server.shutdown().await;
    Ok(figures)
}

/// Records acknowledged one after another on one terminal's connection, p99
/// in ms: idle, then while 4 large photo uploads share the connection (the
/// SDK sends upload streams at a lower priority than everything else).
async fn acks_beside_uploads(
    client: &fieldlink_client::Client,
    officer: &'static str,
) -> Result<Vec<Figure>, String> {
    const RECORDS: usize = 100;
    const UPLOADS: usize = 4;
    const UPLOAD_BYTES: usize = 24 * 1024 * 1024;
    async fn ack_p99(client: &fieldlink_client::Client, officer: &str) -> Result<f64, String> {
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
        Ok(crate::stats::percentile(&mut latencies, 0.99))
    }
    let idle = ack_p99(client, officer).await?;
    let uploads: Vec<_> = (0..UPLOADS as u64)
        .map(|seed| {
            let client = client.clone();
            let body = photos::pad_jpeg(photos::jpeg(640, 480, 1_000 + seed), UPLOAD_BYTES);
            tokio::spawn(async move {
                let upload = PhotoUpload::new(
                    &uuid::Uuid::now_v7().to_string(),
                    "image/jpeg",
                    fieldlink_client::now_ms() - 60_000,
                    body,
                );
                client
                    .upload_photo(&upload, |_| {})
                    .await
                    .map_err(|e| format!("upload: {e}"))
            })
        })
        .collect();
    // Measured from when the uploads have started sending.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let busy = ack_p99(client, officer).await?;
    let still_uploading = uploads.iter().filter(|u| !u.is_finished()).count();
    for upload in uploads {
        upload.await.map_err(|e| e.to_string())??;
    }
    Ok(vec![Figure::plain(
        "photo",
        &format!("record ack p99 beside {UPLOADS} 24 MiB uploads on one connection ({still_uploading} still running at the end)"),
        busy,
        "ms",
    )
    .against("the same connection idle", idle)
    .goal("<= 3 x idle p99", busy <= 3.0 * idle)])
}
