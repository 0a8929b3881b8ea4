//! `fieldlink assignments …`: the officer's side of an assignment: watch the
//! feed, accept or reject, report on the way, on site, complete.

use clap::Subcommand;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::print_line;

/// What to do.
#[derive(Debug, Subcommand)]
pub enum AssignmentsCommand {
    /// Print assignment events as JSON lines as they arrive (after the last
    /// acknowledged one), until interrupted or `--count` events.
    Watch {
        /// Exit after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Accept an assignment.
    Accept {
        /// The assignment id.
        id: String,
    },
    /// Reject an assignment, with a reason.
    Reject {
        /// The assignment id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Report being on the way.
    EnRoute {
        /// The assignment id.
        id: String,
    },
    /// Report arriving.
    OnSite {
        /// The assignment id.
        id: String,
    },
    /// Complete, naming the stored records that close it.
    Complete {
        /// The assignment id.
        id: String,
        /// Record ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        records: Vec<String>,
    },
}

/// Runs one command; prints each event or the updated assignment as a JSON line.
pub async fn run(connection: &ConnectionArgs, command: AssignmentsCommand) -> Result<(), CliError> {
    let client = connection.connect(false).await?;
    let result = match command {
        AssignmentsCommand::Watch { count } => {
            let mut feed = client.assignments();
            let mut printed = 0;
            while count.is_none_or(|count| printed < count) {
                match feed.next().await {
                    Some(Ok(event)) => {
                        print_line(&event)?;
                        printed += 1;
                    }
                    Some(Err(error)) => return Err(error.into()),
                    None => break,
                }
            }
            client.close().await;
            return Ok(());
        }
        AssignmentsCommand::Accept { id } => client.accept_assignment(&id).await?,
        AssignmentsCommand::Reject { id, reason } => client.reject_assignment(&id, &reason).await?,
        AssignmentsCommand::EnRoute { id } => client.en_route(&id).await?,
        AssignmentsCommand::OnSite { id } => client.on_site(&id).await?,
        AssignmentsCommand::Complete { id, records } => client.complete_assignment(&id, &records).await?,
    };
    print_line(&result)?;
    client.close().await;
    Ok(())
}
