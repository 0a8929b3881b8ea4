//! `fieldlink proof ITEM_ID`: an item's inclusion proof in the transparency
//! log, verified (checkpoint signature, audit path, consistency with the
//! checkpoint verified before), printed as one JSON line.

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::print_line;

/// Verifies and prints the proof. Without a trusted log key (`--log-key`,
/// or `--dev`) it refuses to run.
pub async fn run(connection: &ConnectionArgs, item_id: &str) -> Result<(), CliError> {
    let config = connection.client_config(false)?;
    if config.log.is_none() {
        return Err(CliError::Usage("--log-key is required (or --dev)".into()));
    }
    let client = fieldlink_client::Client::connect(config).await?;
    let verified = client.inclusion_proof(item_id).await?;
    let leaf = &verified.leaf;
    print_line(&serde_json::json!({
        "verified": true,
        "item_id": leaf.item_id.to_string(),
        "kind": format!("{:?}", leaf.kind),
        "leaf_index": verified.leaf_index,
        "server_seq": leaf.server_seq,
        "received_at_ms": leaf.received_at_ms,
        "sha256": hex::encode(leaf.sha256),
        "sm3": hex::encode(leaf.sm3),
        "device_id": leaf.device_id,
        "officer_id": leaf.officer_id,
        "leaf": hex::encode(&verified.proof.leaf),
        "audit_path": verified.proof.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        "checkpoint": {
            "origin": verified.checkpoint.origin,
            "size": verified.checkpoint.size,
            "root": hex::encode(verified.checkpoint.root),
            "note": verified.checkpoint.note,
        },
    }))?;
    client.close().await;
    Ok(())
}
