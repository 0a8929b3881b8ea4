//! `fieldlink outbox …`: the terminal's durable outbox: queue items offline,
//! sync them later, print what it holds.

use std::path::Path;

use clap::Subcommand;
use fieldlink_cli::photos::{jpeg_with_exif, pad_jpeg, Exif};
use fieldlink_client::outbox::{ItemState, Outbox, OutboxConfig};
use fieldlink_client::PhotoUpload;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::print_line;

/// What to do with the outbox.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Queue N demo records (with photos) by the signed-in officer. Works offline.
    EnqueueDemo {
        /// Records to queue.
        #[arg(long, default_value_t = 10)]
        records: usize,
        /// Photos per record.
        #[arg(long, default_value_t = 1)]
        photos_per_record: usize,
        /// Size of each photo in bytes.
        #[arg(long, default_value_t = 200_000)]
        photo_bytes: usize,
    },
    /// Send what is queued. Prints a status line at the end.
    Sync {
        /// Exit once every item is acknowledged or parked.
        #[arg(long)]
        until_settled: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Print the count of items by state as one JSON line.
    Status,
}

/// Runs one command on the outbox in `db`, then prints its status line.
pub async fn run(connection: &ConnectionArgs, db: &Path, command: OutboxCommand) -> Result<(), CliError> {
    let outbox = Outbox::open(OutboxConfig::new(db))
        .await
        .map_err(|e| CliError::Usage(format!("cannot open the outbox {}: {e}", db.display())))?;
    match command {
        OutboxCommand::EnqueueDemo {
            records,
            photos_per_record,
            photo_bytes,
        } => {
            enqueue_demo(
                &outbox,
                &connection.officer_or_demo(),
                records,
                photos_per_record,
                photo_bytes,
            )
            .await?
        }
        OutboxCommand::Sync {
            until_settled,
            timeout,
        } => {
            let client = fieldlink_client::Client::new(connection.client_config(false)?)?;
            let sync = outbox.start_sync(client);
            let timeout = std::time::Duration::from_secs(timeout);
            if until_settled {
                let settled = outbox.settled(timeout).await;
                sync.stop().await;
                if !settled? {
                    return Err(CliError::Incomplete("the outbox did not settle in time".into()));
                }
            } else {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = tokio::time::sleep(timeout) => {}
                }
                sync.stop().await;
            }
        }
        OutboxCommand::Status => {}
    }
    print_status(&outbox).await
}

async fn enqueue_demo(
    outbox: &Outbox,
    officer: &str,
    records: usize,
    photos_per_record: usize,
    photo_bytes: usize,
) -> Result<(), CliError> {
    for index in 0..records {
        let now = fieldlink_client::now_ms();
        let mut record = fieldlink_protocol::inspection::example_record(officer, now);
        for photo_index in 0..photos_per_record {
            let exif = Exif {
                captured_at_ms: now - 60_000,
                position: Some((29.8683, 121.5440)),
            };
            let jpeg = pad_jpeg(
                jpeg_with_exif(160, 120, (index * 100 + photo_index) as u64, exif),
                photo_bytes,
            );
            let photo =
                PhotoUpload::new(&record.id, "image/jpeg", now - 60_000, jpeg).at(29.8683, 121.5440, 5.0);
            record.photo_ids.push(photo.evidence_id().to_owned());
            outbox.enqueue_photo(&photo).await?;
        }
        outbox.enqueue_inspection(&record).await?;
    }
    Ok(())
}

/// One JSON line: the item count, the count by state, and each
/// acknowledged item's receipt.
async fn print_status(outbox: &Outbox) -> Result<(), CliError> {
    let items = outbox.items().await?;
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    for item in &items {
        let name = match item.state {
            ItemState::Queued => "queued",
            ItemState::Sending { .. } => "sending",
            ItemState::Waiting => "waiting",
            ItemState::Acknowledged { .. } => "acknowledged",
            ItemState::FailedRetryable { .. } => "failed_retryable",
            ItemState::FailedPermanent { .. } => "failed_permanent",
        };
        *counts.entry(name).or_default() += 1;
    }
    let acknowledged: Vec<serde_json::Value> = items
        .iter()
        .filter_map(|item| match &item.state {
            ItemState::Acknowledged { server_seq, sha256 } => Some(serde_json::json!({
                "id": item.id, "kind": item.kind, "server_seq": server_seq, "sha256": sha256,
            })),
            _ => None,
        })
        .collect();
    print_line(&serde_json::json!({ "items": items.len(), "states": counts, "acknowledged": acknowledged }))
}
