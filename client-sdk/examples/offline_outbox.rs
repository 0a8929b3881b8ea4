//! Work offline: queue records in the durable outbox, send when possible.
//!
//! Simplified: five example records are queued and the program waits until
//! the outbox has settled. Start it with the server stopped to see items
//! wait (failed-retryable), then start the server: they drain by themselves.
//! Kill it at any moment and run it again: nothing is lost or sent twice.
//!
//! `cargo run -p fieldlink-client --example offline_outbox`

mod common;

use std::time::Duration;

use fieldlink_client::outbox::{Outbox, OutboxConfig};
use fieldlink_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let outbox = Outbox::open(OutboxConfig::new("example-outbox.sqlite")).await?;
    for _ in 0..5 {
        let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
        let id = outbox.enqueue_inspection(&record).await?;
        println!("queued {id}");
    }
    let mut updates = outbox.subscribe();
    tokio::spawn(async move {
        while let Some(update) = updates.next().await {
            match update {
                Ok(update) => println!("{} → {:?}", update.item_id, update.state),
                Err(lagged) => println!("{lagged}"),
            }
        }
    });
    // A client that connects when it can: the app may start offline.
    let client = Client::new(common::dev_config("device-001", "officer-01"))?;
    let sync = outbox.start_sync(client);
    let settled = outbox.settled(Duration::from_secs(600)).await?;
    sync.stop().await;
    println!("settled: {settled}");
    Ok(())
}
