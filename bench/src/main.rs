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
mod ceiling;
mod connections;
mod cpu_time;
mod decode_budget;
mod fleet_directory;
mod growth;
mod hj212;
mod ingest;
mod instructions;
mod log;
mod log_acks;
mod mqtt;
mod photo;
mod pinning;
mod positions;
mod postgres;
mod push;
mod raw_quic;
mod report;
mod sink;
mod stats;
mod tcp;
mod video;
mod yearly_stats;

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
    /// Run one scenario only: ingest, photo, video, decode, push, conns, growth, postgres, positions, tcp,
    /// log, hj212, stats or instructions (instructions runs only when named: it runs the server under valgrind).
    #[arg(long)]
    only: Option<String>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Internal: run a child server (`server` or `raw`) storing in DIR.
    #[arg(long, num_args = 2, value_names = ["KIND", "DIR"], hide = true)]
    child: Option<Vec<String>>,
}

const SCENARIOS: [&str; 14] = [
    "ingest",
    "photo",
    "video",
    "decode",
    "push",
    "conns",
    "growth",
    "postgres",
    "positions",
    "tcp",
    "log",
    "hj212",
    "stats",
    "instructions",
];

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

/// Runs one scenario, saying how long it took.
async fn timed<T>(name: &str, scenario: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let result = scenario.await;
    eprintln!("{name}: done in {:.1} s", started.elapsed().as_secs_f64());
    result
}

async fn run(args: &Args) -> Result<(), String> {
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    let quick = args.quick;
    let started = std::time::Instant::now();
    let mut figures = Vec::new();
    if wanted("ingest") {
        let plan = ingest::Plan {
            terminals: if quick {
                vec![1, 16, 256]
            } else {
                vec![1, 16, 256, 1_024]
            },
            rounds: if quick { 2 } else { 3 },
            window: if quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
        };
        eprintln!("ingest: {:?} terminals, {} rounds", plan.terminals, plan.rounds);
        figures.extend(timed("ingest", ingest::run(&plan)).await?);
        let plan = ceiling::Plan {
            rounds: if quick { 2 } else { 3 },
            window: if quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
        };
        eprintln!(
            "ingest: in-memory sink vs raw quinn, {} in flight",
            ceiling::IN_FLIGHT
        );
        let ceiling = timed("ceiling", ceiling::run(&plan)).await?;
        figures.extend(ceiling.figures);
        let large_fleet = format!("acks/s, {} terminals", ceiling::LARGE_FLEET);
        if let Some(stored) = figures
            .iter()
            .find(|f| f.scenario == "ingest" && f.metric == large_fleet)
        {
            let ratio = stored.value / ceiling.sink_large_fleet;
            figures.push(
                report::Figure::plain("ingest", &large_fleet, stored.value, "/s")
                    .against("in-memory sink, same fleet", ceiling.sink_large_fleet)
                    .goal(">= 0.7 x the in-memory sink at 256 terminals", ratio >= 0.7),
            );
        }
    }
    if wanted("photo") {
        let plan = photo::Plan {
            rounds: if quick { 2 } else { 3 },
            photos_per_uploader: if quick { 1 } else { 3 },
        };
        eprintln!("photo: {} rounds", plan.rounds);
        figures.extend(timed("photo", photo::run(&plan)).await?);
    }
    if wanted("video") {
        let plan = video::Plan {
            mebibytes: if quick { 256 } else { 1024 },
            rounds: if quick { 1 } else { 2 },
        };
        eprintln!("video: one {} MiB video, {} rounds", plan.mebibytes, plan.rounds);
        figures.extend(timed("video", video::run(&plan)).await?);
    }
    if wanted("decode") {
        let plan = decode_budget::Plan {
            uploads: if quick { 4 } else { 16 },
        };
        eprintln!("decode: {} huge PNGs at once", plan.uploads);
        figures.extend(timed("decode", decode_budget::run(&plan)).await?);
    }
    if wanted("push") {
        let plan = push::Plan {
            broadcast_to: if quick { vec![250] } else { vec![1_000, 5_000] },
            each_to: if quick { 250 } else { 1_000 },
            rounds: if quick { 2 } else { 5 },
        };
        eprintln!(
            "push: broadcast to {:?}, one each to {}; Mosquitto at {}",
            plan.broadcast_to,
            plan.each_to,
            push::MOSQUITTO
        );
        figures.extend(timed("push", push::run(&plan)).await?);
    }
    if wanted("conns") {
        let plan = connections::Plan {
            terminals: if quick {
                vec![200]
            } else {
                vec![1_000, 5_000, 10_000]
            },
            window: if quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
        };
        eprintln!("conns: {:?} idle terminals", plan.terminals);
        figures.extend(timed("connections", connections::run(&plan)).await?);
    }
    if wanted("growth") {
        let plan = growth::Plan {
            terminals: if quick {
                vec![1, 16, 256]
            } else {
                vec![1, 4, 16, 64, 256, 1_024]
            },
            window: if quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(3)
            },
            pushes: if quick { 2 } else { 5 },
        };
        eprintln!("growth: {:?} terminals", plan.terminals);
        figures.extend(timed("growth", growth::run(&plan)).await?);
    }
    if wanted("postgres") {
        let plan = postgres::Plan {
            terminals: 256,
            rounds: if quick { 2 } else { 3 },
            window: if quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
        };
        eprintln!("postgres: {} terminals, {} rounds", plan.terminals, plan.rounds);
        figures.extend(timed("postgres", postgres::run(&plan)).await?);
    }
    if wanted("positions") {
        let plan = positions::Plan {
            terminals: if quick { 1_000 } else { 10_000 },
            seconds: if quick { 3 } else { 10 },
        };
        eprintln!("positions: {} terminals, {} s", plan.terminals, plan.seconds);
        figures.extend(timed("positions", positions::run(&plan)).await?);
    }
    if wanted("tcp") {
        let plan = tcp::Plan {
            terminals: if quick { 16 } else { 64 },
            in_flight: 16,
            uploads: if quick { 4 } else { 8 },
            photo_bytes: 4 << 20,
            rounds: if quick { 1 } else { 3 },
            window: Duration::from_secs(if quick { 2 } else { 5 }),
            loss_percent: 2.0,
        };
        eprintln!(
            "tcp: QUIC and TCP, {} terminals, {} in flight on one connection, uploads",
            plan.terminals, plan.in_flight
        );
        figures.extend(timed("tcp", tcp::run(&plan)).await?);
    }
    if wanted("log") {
        let plan = log::Plan {
            rounds: if quick { 2 } else { 5 },
            batches_per_round: if quick { 20 } else { 50 },
            leaves: if quick { 100_000 } else { 1_000_000 },
            proofs: if quick { 200 } else { 1_000 },
        };
        eprintln!("log: cost on commits, proofs at {} leaves", plan.leaves);
        figures.extend(timed("log", log::run(&plan)).await?);
        let plan = log_acks::Plan {
            terminals: 64,
            rounds: if quick { 2 } else { 4 },
            window: Duration::from_secs(if quick { 5 } else { 10 }),
        };
        eprintln!(
            "log: acks/s of {} terminals with and without the log",
            plan.terminals
        );
        figures.extend(timed("log", log_acks::run(&plan)).await?);
    }
    if wanted("hj212") {
        let plan = hj212::Plan {
            monitors: 1_000,
            rounds: if quick { 2 } else { 4 },
            window: Duration::from_secs(if quick { 3 } else { 10 }),
            exceeding: if quick { 30 } else { 200 },
        };
        eprintln!("hj212: {} monitors held open", plan.monitors);
        figures.extend(timed("hj212", hj212::run(&plan)).await?);
    }
    if wanted("stats") {
        let plan = yearly_stats::Plan {
            items: if quick { 100_000 } else { 1_000_000 },
            rounds: 3,
        };
        eprintln!("stats: a year's report over {} inspections", plan.items);
        figures.extend(timed("stats", yearly_stats::run(&plan)).await?);
    }
    // Only when named: the server runs under valgrind, minutes per run.
    if args.only.as_deref() == Some("instructions") {
        let plan = instructions::Plan {
            records: if quick { (40, 200) } else { (100, 1_100) },
            terminals: if quick { 20 } else { 100 },
            broadcasts: if quick { (1, 4) } else { (2, 12) },
            singles: if quick { (2, 20) } else { (10, 110) },
            handshakes: if quick { (4, 20) } else { (10, 60) },
        };
        eprintln!(
            "instructions: the server under callgrind; records {:?}, {} feeds, broadcasts {:?}, singles {:?}, handshakes {:?}",
            plan.records, plan.terminals, plan.broadcasts, plan.singles, plan.handshakes
        );
        figures.extend(timed("instructions", instructions::run(&plan)).await?);
    }
    report::print_table(&figures);
    eprintln!("finished in {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
