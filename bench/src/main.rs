//! fieldlink-bench: runs each workload against a real fieldlink server on
//! loopback (in-process, real QUIC and a real SQLite file on this disk) and,
//! in the same run, the raw baseline it is compared with; prints a table and
//! optionally writes every figure, its baseline and the ratio as JSON.
//!
//! ```sh
//! cargo run --release -p fieldlink-bench -- --quick
//! cargo run --release -p fieldlink-bench -- --only ingest --json bench.json
//! ```
//!
//! No figure is an absolute time alone: each is a median of rounds and,
//! where the issue sets a goal, a ratio to a baseline measured alongside.

mod baselines;
mod connections;
mod ingest;
mod photo;
mod postgres;
mod report;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Benchmarks against their same-run baselines (see docs/benchmarks.md).
#[derive(Debug, Parser)]
#[command(name = "fieldlink-bench", version)]
struct Args {
    /// Short rounds (under a minute in all on a 2-core machine).
    #[arg(long)]
    quick: bool,
    /// Run one scenario only: ingest, photo, conns or postgres.
    #[arg(long)]
    only: Option<String>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Internal: run a child server (`server` or `raw`) storing in DIR.
    #[arg(long, num_args = 2, value_names = ["KIND", "DIR"], hide = true)]
    child: Option<Vec<String>>,
}

const SCENARIOS: [&str; 4] = ["ingest", "photo", "conns", "postgres"];

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(child) = &args.child {
        return match connections::child(&child[0], std::path::Path::new(&child[1])) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("child: {error}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(only) = &args.only {
        if !SCENARIOS.contains(&only.as_str()) {
            eprintln!("unknown scenario {only}; one of: {}", SCENARIOS.join(", "));
            return std::process::ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fieldlink-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    let mut figures = Vec::new();
    if wanted("ingest") {
        let plan = if args.quick {
            ingest::Plan {
                terminals: vec![1, 16, 256],
                rounds: 2,
                window: Duration::from_millis(1_500),
            }
        } else {
            ingest::Plan {
                terminals: vec![1, 16, 256, 1_024],
                rounds: 3,
                window: Duration::from_secs(5),
            }
        };
        eprintln!("ingest: {:?} terminals, {} rounds", plan.terminals, plan.rounds);
        figures.extend(ingest::run(&plan).await?);
    }
    if wanted("photo") {
        let plan = if args.quick {
            photo::Plan {
                rounds: 2,
                photos_per_uploader: 1,
            }
        } else {
            photo::Plan {
                rounds: 3,
                photos_per_uploader: 3,
            }
        };
        eprintln!("photo: {} rounds", plan.rounds);
        figures.extend(photo::run(&plan).await?);
    }
    if wanted("conns") {
        let plan = connections::Plan {
            terminals: if args.quick { vec![200] } else { vec![1_000, 5_000] },
            window: if args.quick {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(5)
            },
        };
        eprintln!("conns: {:?} idle terminals", plan.terminals);
        figures.extend(connections::run(&plan).await?);
    }
    if wanted("postgres") {
        let plan = postgres::Plan {
            terminals: 256,
            rounds: if args.quick { 2 } else { 3 },
            window: if args.quick {
                Duration::from_millis(1_500)
            } else {
                Duration::from_secs(5)
            },
        };
        eprintln!("postgres: {} terminals, {} rounds", plan.terminals, plan.rounds);
        figures.extend(postgres::run(&plan).await?);
    }
    report::print_table(&figures);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
