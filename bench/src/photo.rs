//! Scenario 2, photo ingest: MB/s (10^6 bytes) of 4 MiB JPEG uploads, one at
//! a time and 8 at once, digests (SHA-256 and SM3) and fsync included,
//! beside the same run's SHA-256 and SM3 hashing rates, which bound it: the
//! server hashes every byte with both.

use std::time::{Duration, Instant};

use fieldlink_client::PhotoUpload;
use fieldlink_tests::{photos, record};

use crate::baselines;
use crate::ingest::{bench_server, fleet};
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

/// Runs scenario 2.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let server = bench_server().await;
    let terminals = fleet(&server, 8).await?;
    // Distinct photos (the store is content-addressed: equal bytes would
    // be stored once). Each is a valid JPEG padded to 4 MiB.
    let photo_count = 8 * plan.photos_per_uploader;
    let bodies: Vec<Vec<u8>> = (0..photo_count as u64)
        .map(|seed| photos::pad_jpeg(photos::jpeg(640, 480, seed), PHOTO_BYTES))
        .collect();

    let mut sha256_rates = Vec::new();
    let mut sm3_rates = Vec::new();
    let mut single = Vec::new();
    let mut eight = Vec::new();
    let mut next_body = 0usize;
    for _ in 0..plan.rounds {
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
    }
    let sha256 = median(&sha256_rates);
    let sm3 = median(&sm3_rates);
    // Both digests over every byte on one core each: the combined bound.
    let both = 1.0 / (1.0 / sha256 + 1.0 / sm3);
    let figures = vec![
        Figure::plain("photo", "SHA-256 hashing, one core", sha256, "MB/s"),
        Figure::plain("photo", "SM3 hashing, one core", sm3, "MB/s"),
        Figure::plain("photo", "4 MiB uploads, 1 at a time", median(&single), "MB/s")
            .against("SHA-256 + SM3 on one core", both),
        Figure::plain("photo", "4 MiB uploads, 8 at once", median(&eight), "MB/s")
            .against("SHA-256 + SM3 on one core", both),
    ];
    for (client, _) in terminals {
        client.close().await;
    }
    server.server.shutdown().await;
    Ok(figures)
}
