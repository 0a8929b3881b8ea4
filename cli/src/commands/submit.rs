//! `fieldlink submit …`: submits an item from a JSON file, prints its receipt.

use std::path::PathBuf;

use clap::Subcommand;
use fieldlink_protocol::pb;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::{print_line, read_json, receipt_json};

/// Which kind of item the file holds.
#[derive(Debug, Subcommand)]
pub enum SubmitKind {
    /// An inspection record (JSON file, `-` for standard input).
    Inspection {
        /// The JSON file.
        file: PathBuf,
    },
    /// An electronic-service confirmation (JSON file).
    Service {
        /// The JSON file.
        file: PathBuf,
    },
    /// A service event (JSON file).
    ServiceEvent {
        /// The JSON file.
        file: PathBuf,
    },
    /// Remote-interview metadata (JSON file).
    Interview {
        /// The JSON file.
        file: PathBuf,
    },
    /// A grid worker's report (JSON file); sign in as the grid worker with `--officer`.
    GridReport {
        /// The JSON file.
        file: PathBuf,
    },
}

enum Item {
    Inspection(pb::InspectionRecord),
    Service(pb::ServiceConfirmation),
    ServiceEvent(pb::ServiceEvent),
    Interview(pb::InterviewRecord),
    GridReport(pb::GridReport),
}

/// Reads and parses the file before connecting (a bad file is a usage
/// error), submits it and prints the receipt as one JSON line.
pub async fn run(connection: &ConnectionArgs, kind: SubmitKind) -> Result<(), CliError> {
    let item = match kind {
        SubmitKind::Inspection { file } => Item::Inspection(read_json(&file)?),
        SubmitKind::Service { file } => Item::Service(read_json(&file)?),
        SubmitKind::ServiceEvent { file } => Item::ServiceEvent(read_json(&file)?),
        SubmitKind::Interview { file } => Item::Interview(read_json(&file)?),
        SubmitKind::GridReport { file } => Item::GridReport(read_json(&file)?),
    };
    let client = connection.connect(false).await?;
    let receipt = match &item {
        Item::Inspection(record) => client.submit_inspection(record).await?,
        Item::Service(service) => client.submit_service(service).await?,
        Item::ServiceEvent(event) => client.submit_service_event(event).await?,
        Item::Interview(interview) => client.submit_interview(interview).await?,
        Item::GridReport(report) => client.submit_grid_report(report).await?,
    };
    print_line(&receipt_json(&receipt))?;
    client.close().await;
    Ok(())
}
