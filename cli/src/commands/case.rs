//! `fieldlink case …`: a case's items.

use clap::Subcommand;
use fieldlink_protocol::pb;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::print_line;

/// What to do with a case.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// List every item of a case in time order, one JSON line each.
    Show {
        /// The case id.
        case_id: String,
    },
}

/// Runs a case command.
pub async fn run(connection: &ConnectionArgs, command: CaseCommand) -> Result<(), CliError> {
    let CaseCommand::Show { case_id } = command;
    let client = connection.connect(false).await?;
    let items = client.case_items(&case_id).await?;
    for item in &items.items {
        let state = pb::ServiceState::try_from(item.service_state)
            .ok()
            .filter(|s| *s != pb::ServiceState::Unspecified)
            .map(|s| s.as_str_name());
        print_line(&serde_json::json!({
            "occurred_at_ms": item.occurred_at_ms,
            "kind": item.kind,
            "id": item.item_id,
            "server_seq": item.server_seq,
            "received_at_ms": item.received_at_ms,
            "sha256": hex::encode(&item.sha256),
            "device_id": item.device_id,
            "officer_id": item.officer_id,
            "service_state": state,
        }))?;
    }
    client.close().await;
    Ok(())
}
