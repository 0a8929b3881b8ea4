//! `fieldlink`: the command line for terminals and operators.
//!
//! `fieldlink example inspection` prints a valid record as proto3 JSON;
//! `fieldlink submit inspection FILE.json` submits one and prints its receipt
//! as one line of JSON. `--dev` means the certs-dev CA, device-001 and the
//! first demo officer. Each command family lives in its own module under
//! `commands/`; this file only parses the arguments and maps failures to
//! exit codes (2 for usage errors, 1 for everything else).

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::assignments::AssignmentsCommand;
use commands::case::CaseCommand;
use commands::connection::ConnectionArgs;
use commands::dispatch::DispatchCommand;
use commands::error::CliError;
use commands::example::ItemKind;
use commands::incidents::IncidentsCommand;
use commands::monitor::MonitorCommand;
use commands::outbox::OutboxCommand;
use commands::photo::PhotoCommand;
use commands::sim::SimArgs;
use commands::stats::StatsArgs;
use commands::submit::SubmitKind;

/// The fieldlink command line.
#[derive(Debug, Parser)]
#[command(name = "fieldlink", version)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an example item as JSON (the proto3 JSON mapping), ready to submit.
    Example {
        #[command(subcommand)]
        kind: ItemKind,
    },
    /// Submit an item from a JSON file and print its receipt as one JSON line.
    Submit {
        #[command(subcommand)]
        kind: SubmitKind,
    },
    /// Media evidence (photos, video, audio, PDF documents) attached to a
    /// record, service, interview or grid report (`photo` is the same command).
    #[command(alias = "photo")]
    Media {
        #[command(subcommand)]
        command: PhotoCommand,
    },
    /// Cases.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// The officer's assignments: watch the feed, move them along the lifecycle.
    Assignments {
        #[command(subcommand)]
        command: AssignmentsCommand,
    },
    /// The statistics of a period, from the supervisor console's API, as
    /// JSON or CSV (signed in as the demo supervisor with --dev).
    Stats(StatsArgs),
    /// Supervisors: dispatch, cancel, reassign and list assignments. With
    /// `--dev` these sign in as the demo supervisor.
    Dispatch {
        #[command(subcommand)]
        command: DispatchCommand,
    },
    /// Supervisors: triage incidents (monitor alarms, camera alerts, grid
    /// reports): list, show, dispatch to a team, dismiss. With `--dev` these
    /// sign in as the demo supervisor.
    Incidents {
        #[command(subcommand)]
        command: IncidentsCommand,
    },
    /// Play an online monitor speaking HJ 212 (docs/intake.md): send readings.
    Monitor {
        #[command(subcommand)]
        command: MonitorCommand,
    },
    /// The terminal's durable outbox: queue items offline, sync them later.
    Outbox {
        /// The outbox database file.
        #[arg(long)]
        db: PathBuf,
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Run a fleet of simulated terminals against a server and print one JSON
    /// summary line. Bounded in time; loopback servers only in tests.
    Sim(SimArgs),
    /// Print an item's inclusion proof in the transparency log as one JSON
    /// line, after verifying it (checkpoint signature, audit path,
    /// consistency). Exits non-zero if anything does not verify.
    Proof {
        /// The item's id (a record, photo, service, event or interview).
        item_id: String,
    },
    /// Check a case export package offline (from `fieldlink-server export
    /// case`): digests, proofs, the checkpoint's signature, the logged
    /// export. Prints one JSON summary; exits 1 naming each failed check.
    Verify {
        /// The package file.
        file: PathBuf,
        /// Require a cosignature of the checkpoint by this witness (its
        /// cosignature verifier key file). Repeat for several.
        #[arg(long = "witness-key")]
        witness_keys: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fieldlink: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report();
            ExitCode::from(error.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let connection = &cli.connection;
    match cli.command {
        Command::Example { kind } => commands::example::run(connection, kind),
        Command::Submit { kind } => commands::submit::run(connection, kind).await,
        Command::Media { command } => commands::photo::run(connection, command).await,
        Command::Case { command } => commands::case::run(connection, command).await,
        Command::Assignments { command } => commands::assignments::run(connection, command).await,
        Command::Dispatch { command } => commands::dispatch::run(connection, command).await,
        Command::Stats(args) => commands::stats::run(connection, args).await,
        Command::Incidents { command } => commands::incidents::run(connection, command).await,
        Command::Monitor { command } => commands::monitor::run(connection.dev, command).await,
        Command::Outbox { db, command } => commands::outbox::run(connection, &db, command).await,
        Command::Sim(args) => commands::sim::run(connection, args).await,
        Command::Proof { item_id } => commands::proof::run(connection, &item_id).await,
        Command::Verify { file, witness_keys } => commands::verify::run(connection, &file, &witness_keys),
    }
}
