//! Scenario "decode": uploads of small files that decode huge — a 64 Mpx
//! 16-bit RGBA PNG (7,999 × 7,999, all zeros) compresses to well under
//! 1 MB and decodes to 512 MB. Several terminals upload it at once; the
//! figures are the time to every receipt (nothing is decoded before it),
//! the time until every thumbnail is made (the media worker decodes under
//! its memory budget), and the server's peak resident memory while both
//! happen. The server runs as a child process, so the peak (its VmHWM) is
//! its own, whatever scenarios this process ran before.

use std::io::Write;
use std::time::{Duration, Instant};

use fieldlink_client::PhotoUpload;

use crate::connections::ChildServer;
use crate::ingest::fleet_at;
use crate::report::Figure;

/// The image's side, pixels (64 Mpx, under the 16,384-a-side limit).
const SIDE: u32 = 7_999;

/// How to run the scenario.
pub struct Plan {
    /// Uploads at once (each from its own terminal connection).
    pub uploads: usize,
}

/// The PNG, written row by row (never 512 MB in memory).
fn huge_png() -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIDE, SIDE);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    let mut stream = writer.stream_writer().map_err(|e| e.to_string())?;
    let row = vec![0u8; SIDE as usize * 8];
    for _ in 0..SIDE {
        stream.write_all(&row).map_err(|e| e.to_string())?;
    }
    stream.finish().map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// This process's resident memory, bytes (Linux).
pub(crate) fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = status
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The child server's database, read-only (to watch its media queue).
fn open_database(server: &ChildServer) -> Result<rusqlite::Connection, String> {
    rusqlite::Connection::open_with_flags(
        server.data_dir().join("fieldlink.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| e.to_string())
}

/// Post-processing jobs still queued.
fn jobs_pending(database: &rusqlite::Connection) -> Result<i64, String> {
    database
        .query_row("SELECT COUNT(*) FROM media_jobs", [], |row| row.get(0))
        .map_err(|e| e.to_string())
}

/// Runs the scenario.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let png = huge_png()?;
    let mut server = ChildServer::start("server")?;
    let terminals = fleet_at(server.addr, plan.uploads).await?;
    let before_kib = server.rss_kib()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (client, _) in &terminals {
        let (client, bytes) = (client.clone(), png.clone());
        tasks.push(tokio::spawn(async move {
            let upload = PhotoUpload::new(
                &uuid::Uuid::now_v7().to_string(),
                "image/png",
                fieldlink_client::now_ms() - 60_000,
                bytes,
            );
            client
                .upload_photo(&upload, |_| {})
                .await
                .map_err(|e| format!("upload: {e}"))
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let receipts_s = started.elapsed().as_secs_f64();
    // Bounded wait for the thumbnails: 30 s a decode at most.
    let deadline = Instant::now() + Duration::from_secs(30 * plan.uploads as u64 + 60);
    let database = open_database(&server)?;
    while jobs_pending(&database)? > 0 {
        if Instant::now() > deadline {
            return Err("the thumbnails were not made in time".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let thumbnails_s = started.elapsed().as_secs_f64();
    let peak_kib = server.peak_rss_kib()?;
    let label = format!(
        "{} uploads at once of a 64 Mpx 16-bit PNG ({} KB)",
        plan.uploads,
        png.len() / 1000
    );
    let figures = vec![
        Figure::plain("decode", &format!("{label}: all receipts"), receipts_s, "s"),
        Figure::plain("decode", &format!("{label}: all thumbnails"), thumbnails_s, "s"),
        Figure::plain(
            "decode",
            &format!("{label}: server resident memory before"),
            before_kib / 1024.0,
            "MiB",
        ),
        Figure::plain(
            "decode",
            &format!("{label}: server peak resident memory (VmHWM)"),
            peak_kib / 1024.0,
            "MiB",
        )
        .goal("< 1 GiB", peak_kib < 1024.0 * 1024.0),
    ];
    crate::ingest::close_all(terminals.into_iter().map(|(client, _)| client)).await;
    server.finish(Duration::from_secs(30));
    Ok(figures)
}
