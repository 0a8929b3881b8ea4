//! `fieldlink dispatch …`: the supervisor's side: dispatch, cancel, reassign,
//! review and list assignments.

use std::path::PathBuf;

use clap::Subcommand;
use fieldlink_protocol::pb;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::{print_line, read_json};

/// What to do.
#[derive(Debug, Subcommand)]
pub enum DispatchCommand {
    /// Dispatch the assignment in a JSON file (see `fieldlink example assignment`).
    Create {
        /// The JSON file.
        file: PathBuf,
    },
    /// Cancel an assignment.
    Cancel {
        /// The assignment id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Give an assignment to another officer or team.
    Reassign {
        /// The assignment id.
        id: String,
        /// The new officer.
        #[arg(long, conflicts_with = "to_team", required_unless_present = "to_team")]
        to_officer: Option<String>,
        /// The new team.
        #[arg(long)]
        to_team: Option<String>,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Review completed work (PENDING_REVIEW): approve it, or return it to
    /// the officer with a reason.
    Review {
        /// The assignment id.
        id: String,
        /// `approve` or `return`.
        verdict: Verdict,
        /// Why (required to return).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List assignments as JSON lines, newest first.
    List {
        /// Only this state, e.g. `accepted`.
        #[arg(long)]
        state: Option<String>,
        /// Only this team's.
        #[arg(long)]
        team: Option<String>,
        /// Only this officer's.
        #[arg(long)]
        officer_id: Option<String>,
        /// Only overdue ones.
        #[arg(long)]
        overdue: bool,
    },
}

/// A review's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verdict {
    /// The work is done: the assignment is completed, its incident closed.
    Approve,
    /// The work goes back to the officer.
    Return,
}

/// Runs one command as a supervisor; prints results as JSON lines.
pub async fn run(connection: &ConnectionArgs, command: DispatchCommand) -> Result<(), CliError> {
    // Parse what the command names before connecting: a bad file or state
    // is a usage error.
    let draft = match &command {
        DispatchCommand::Create { file } => Some(read_json::<pb::Assignment>(file)?),
        _ => None,
    };
    let state = match &command {
        DispatchCommand::List {
            state: Some(name), ..
        } => state_number(name)?,
        _ => 0,
    };
    let client = connection.connect(true).await?;
    match command {
        DispatchCommand::List {
            team,
            officer_id,
            overdue,
            ..
        } => {
            let list = client
                .list_assignments(&pb::ListAssignments {
                    state,
                    team_id: team.unwrap_or_default(),
                    officer_id: officer_id.unwrap_or_default(),
                    overdue_only: overdue,
                    ..Default::default()
                })
                .await?;
            for assignment in &list.assignments {
                print_line(assignment)?;
            }
        }
        DispatchCommand::Create { .. } => {
            let draft = draft.ok_or_else(|| CliError::Usage("no assignment".into()))?;
            print_line(&client.create_assignment(&draft).await?)?;
        }
        DispatchCommand::Review { id, verdict, reason } => {
            let approve = verdict == Verdict::Approve;
            print_line(&client.review_assignment(&id, approve, &reason).await?)?;
        }
        DispatchCommand::Cancel { id, reason } => {
            print_line(&client.cancel_assignment(&id, &reason).await?)?;
        }
        DispatchCommand::Reassign {
            id,
            to_officer,
            to_team,
            reason,
        } => {
            let assignee = match (to_officer, to_team) {
                (Some(officer), _) => pb::reassign_assignment::Assignee::OfficerId(officer),
                (None, Some(team)) => pb::reassign_assignment::Assignee::TeamId(team),
                (None, None) => return Err(CliError::Usage("--to-officer or --to-team".into())),
            };
            print_line(&client.reassign_assignment(&id, assignee, &reason).await?)?;
        }
    }
    client.close().await;
    Ok(())
}

/// `accepted`, `en-route`, … as the wire's enum value.
fn state_number(name: &str) -> Result<i32, CliError> {
    pb::AssignmentState::from_str_name(&format!(
        "ASSIGNMENT_STATE_{}",
        name.to_uppercase().replace('-', "_")
    ))
    .map(|state| state as i32)
    .ok_or_else(|| CliError::Usage(format!("unknown state {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_named_as_on_the_command_line() {
        assert_eq!(
            state_number("en-route").unwrap(),
            pb::AssignmentState::EnRoute as i32
        );
        assert_eq!(
            state_number("accepted").unwrap(),
            pb::AssignmentState::Accepted as i32
        );
        assert!(matches!(state_number("lost"), Err(CliError::Usage(_))));
    }
}
