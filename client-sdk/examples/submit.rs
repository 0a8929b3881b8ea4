//! Submit one inspection record and print its receipt.
//!
//! Simplified: the record is the protocol crate's example, and errors end
//! the program. A real app shows the receipt's sequence number to the
//! officer as proof that the record is stored, and keeps the record for a
//! retry when `error.is_retryable()`.
//!
//! Run `cargo run -p fieldlink-server -- serve --dev`, then
//! `cargo run -p fieldlink-client --example submit`.

mod common;

use fieldlink_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::connect(common::dev_config("device-001", "officer-01")).await?;
    let record = fieldlink_protocol::inspection::example_record("officer-01", fieldlink_client::now_ms());
    match client.submit_inspection(&record).await {
        Ok(receipt) => println!(
            "stored as #{} at {} ms, sha256 {}",
            receipt.server_seq,
            receipt.received_at_ms,
            receipt
                .sha256
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        Err(error) if error.is_retryable() => println!("not stored yet, try again later: {error}"),
        Err(error) => println!("refused: {error}"),
    }
    client.close().await;
    Ok(())
}
