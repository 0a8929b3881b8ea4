//! Upload a photo with a progress bar; a dropped connection resumes by itself.
//!
//! Simplified: the photo is read from the path given (any JPEG or PNG) and
//! linked to a fresh record id. A real app links it to the record being
//! written, and keeps the evidence id with the file so that an upload
//! interrupted by an app restart continues where the server's copy ends
//! (`PhotoUpload::with_id`), or uses the outbox, which does that for you.
//!
//! `cargo run -p fieldlink-client --example upload_photo -- site.jpg`

mod common;

use fieldlink_client::{Client, PhotoUpload};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: upload_photo FILE.jpg")?;
    let bytes = std::fs::read(&path)?;
    let content_type = if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else {
        "image/jpeg"
    };
    let record_id = uuid::Uuid::now_v7().to_string();
    let photo = PhotoUpload::new(&record_id, content_type, fieldlink_client::now_ms(), bytes)
        .at(29.8683, 121.5440, 8.0);
    let client = Client::connect(common::dev_config("device-001", "officer-01")).await?;
    let receipt = client
        .upload_photo(&photo, |p| {
            eprint!("\r{:>3}%", p.sent_bytes * 100 / p.total_bytes.max(1))
        })
        .await?;
    eprintln!();
    println!(
        "stored {} bytes as #{}; review flags: {:?}",
        receipt.size_bytes, receipt.server_seq, receipt.flags
    );
    client.close().await;
    Ok(())
}
