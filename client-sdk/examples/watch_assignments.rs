//! Watch the officer's assignments and accept each new one.
//!
//! Simplified: every assignment is accepted at once and nothing else is
//! done with it. The feed resumes after the last event the app took, across
//! reconnects and restarts, so nothing is lost and nothing is shown twice.
//!
//! Dispatch one with `cargo run -q -p fieldlink-cli -- --dev example assignment > a.json`
//! and `cargo run -q -p fieldlink-cli -- --dev dispatch create a.json`, then
//! `cargo run -p fieldlink-client --example watch_assignments`.

mod common;

use fieldlink_client::Client;
use fieldlink_protocol::pb::AssignmentEventKind;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::connect(common::dev_config("device-001", "officer-01")).await?;
    let mut feed = client.assignments();
    while let Some(event) = feed.next().await {
        let event = event?;
        let assignment = event.assignment.clone().unwrap_or_default();
        println!(
            "#{} {:?}: {} ({})",
            event.seq,
            event.kind(),
            assignment.title,
            assignment.id
        );
        if event.kind() == AssignmentEventKind::Created {
            match client.accept_assignment(&assignment.id).await {
                Ok(_) => println!("  accepted"),
                Err(error) => println!("  not accepted: {error}"),
            }
        }
    }
    Ok(())
}
