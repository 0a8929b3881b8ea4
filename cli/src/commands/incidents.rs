//! `fieldlink incidents …`: the supervisor's triage of work that came in
//! (monitor alarms, camera alerts, grid reports): list, show, dispatch to a
//! team, dismiss, merge, split; and `incidents mine`, a grid worker's own
//! reports with what became of them. Prints JSON lines.

use clap::Subcommand;
use fieldlink_protocol::pb;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::print_line;

/// What to do.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents as JSON lines, newest first.
    List {
        /// Only this state: new, dispatched, pending-review, closed, dismissed.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one incident with its events (sources included) as one JSON line.
    Show {
        /// The incident id.
        id: String,
    },
    /// Dispatch a NEW incident to a team as an assignment.
    Dispatch {
        /// The incident id.
        id: String,
        /// The team (default: the incident's, from its source).
        #[arg(long)]
        team: Option<String>,
        /// The catalogue matter (default: the incident's).
        #[arg(long)]
        matter_code: Option<String>,
        /// Instructions for the officers.
        #[arg(long, default_value = "")]
        instructions: String,
        /// Urgent instead of normal priority.
        #[arg(long)]
        urgent: bool,
    },
    /// Merge a NEW incident into another that covers the same matter.
    Merge {
        /// The incident merged away.
        id: String,
        /// The incident that carries on.
        #[arg(long)]
        into: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Split reports off a NEW incident into a new one (they are about
    /// something else); prints the new incident.
    Split {
        /// The incident split.
        id: String,
        /// The reports to move: their item ids (see `incidents show`), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        items: Vec<String>,
        /// The new incident's category (default: the same).
        #[arg(long, default_value = "")]
        category: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// A grid worker's own reports and what became of them, newest first
    /// (sign in as the grid worker: `--officer grid-01`).
    Mine,
    /// Dismiss a NEW incident with a reason.
    Dismiss {
        /// The incident id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
}

/// Runs one command as a supervisor.
pub async fn run(connection: &ConnectionArgs, command: IncidentsCommand) -> Result<(), CliError> {
    let state = match &command {
        IncidentsCommand::List { state: Some(name) } => state_number(name)?,
        _ => 0,
    };
    // Everything but `mine` is the supervisor's.
    let client = connection
        .connect(!matches!(command, IncidentsCommand::Mine))
        .await?;
    match command {
        IncidentsCommand::List { .. } => {
            let mut after = String::new();
            loop {
                let page = client
                    .list_incidents(&pb::ListIncidents {
                        state,
                        limit: 0,
                        after: after.clone(),
                    })
                    .await?;
                for incident in &page.incidents {
                    print_line(incident)?;
                }
                if page.next_after.is_empty() {
                    break;
                }
                after = page.next_after;
            }
        }
        IncidentsCommand::Show { id } => print_line(&client.incident(&id).await?)?,
        IncidentsCommand::Dispatch {
            id,
            team,
            matter_code,
            instructions,
            urgent,
        } => {
            let priority = if urgent {
                pb::Priority::Urgent
            } else {
                pb::Priority::Normal
            };
            let detail = client
                .dispatch_incident(&pb::DispatchIncident {
                    incident_id: id,
                    team_id: team.unwrap_or_default(),
                    matter_code: matter_code.unwrap_or_default(),
                    instructions,
                    priority: priority as i32,
                    ..Default::default()
                })
                .await?;
            print_line(&detail)?;
        }
        IncidentsCommand::Merge { id, into, reason } => {
            print_line(&client.merge_incidents(&id, &into, &reason).await?)?
        }
        IncidentsCommand::Split {
            id,
            items,
            category,
            reason,
        } => print_line(&client.split_incident(&id, &items, &category, &reason).await?)?,
        IncidentsCommand::Mine => {
            let mut after = String::new();
            loop {
                let page = client
                    .my_reports(&pb::ListMyReports {
                        limit: 0,
                        after: after.clone(),
                    })
                    .await?;
                for report in &page.reports {
                    print_line(report)?;
                }
                if page.next_after.is_empty() {
                    break;
                }
                after = page.next_after;
            }
        }
        IncidentsCommand::Dismiss { id, reason } => {
            print_line(&client.dismiss_incident(&id, &reason).await?)?
        }
    }
    client.close().await;
    Ok(())
}

/// `new`, `pending-review`, … as the wire's enum value.
fn state_number(name: &str) -> Result<i32, CliError> {
    pb::IncidentState::from_str_name(&format!(
        "INCIDENT_STATE_{}",
        name.to_uppercase().replace('-', "_")
    ))
    .map(|state| state as i32)
    .ok_or_else(|| CliError::Usage(format!("unknown incident state {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_named_as_on_the_command_line() {
        assert_eq!(
            state_number("pending-review").unwrap(),
            pb::IncidentState::PendingReview as i32
        );
        assert_eq!(state_number("new").unwrap(), pb::IncidentState::New as i32);
        assert!(matches!(state_number("open"), Err(CliError::Usage(_))));
    }
}
