//! `fieldlink sim`: a fleet of simulated terminals against a server, one
//! JSON summary line at the end (the simulator is `fieldlink_cli::sim`).

use clap::Args;

use super::connection::{dev_certs_dir, ConnectionArgs, DEV_SUPERVISOR};
use super::error::CliError;
use super::output::print_line;

/// The fleet.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Simulated terminals.
    #[arg(long, default_value_t = 4)]
    terminals: usize,
    /// How long to run, seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seed for choices and photo contents.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Photos per inspection record.
    #[arg(long, default_value_t = 1)]
    photos_per_record: usize,
    /// Share (0-1) of its own outgoing datagrams each terminal drops.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Officers to sign in as, comma-separated [--dev: officer-01..officer-04].
    #[arg(long, value_delimiter = ',')]
    officers: Vec<String>,
    /// Dispatch assignments as this supervisor [--dev: supervisor-01]; `none` to not dispatch.
    #[arg(long)]
    dispatcher: Option<String>,
    /// Most assignments to dispatch.
    #[arg(long, default_value_t = 1000)]
    assignments_max: u64,
    /// Kitchen-fume monitors speaking HJ 212 beside the terminals (the
    /// demo registry's MNs in turn), a reading every 2 s, now and then over
    /// the limit: the console's triage queue fills live.
    #[arg(long, default_value_t = 0)]
    monitors: usize,
    /// The server's HJ 212 address, for `--monitors`.
    #[arg(long, default_value = "127.0.0.1:9212")]
    hj212: std::net::SocketAddr,
    /// The monitors' MNs, comma-separated [default: the demo registry's].
    #[arg(long, value_delimiter = ',')]
    monitor_mns: Vec<String>,
    /// The monitors' password [--dev: 123456].
    #[arg(long)]
    monitor_password: Option<String>,
    /// Grid workers (网格员) reporting from their terminals, each report
    /// with a photo, about every `--report-every-ms`; they sign in as
    /// `--grid-worker-ids`.
    #[arg(long, default_value_t = 0)]
    grid_workers: usize,
    /// Grid workers to sign in as, comma-separated [--dev: grid-01,grid-02].
    #[arg(long, value_delimiter = ',')]
    grid_worker_ids: Vec<String>,
    /// AI-video cameras posting signed alerts with a snapshot to the
    /// console's webhook, about every `--report-every-ms` each.
    #[arg(long, default_value_t = 0)]
    cameras: usize,
    /// The console's address, for `--cameras` (plain HTTP, as under --dev).
    #[arg(long, default_value = "127.0.0.1:8080")]
    console: std::net::SocketAddr,
    /// Mean time between one grid worker's or camera's reports, ms.
    #[arg(long, default_value_t = 10_000)]
    report_every_ms: u64,
    /// The cameras' alert source id [--dev: demo-video-platform].
    #[arg(long)]
    camera_source: Option<String>,
    /// The environment variable holding the source's HMAC secret [--dev: the demo secret].
    #[arg(long, default_value = "FIELDLINK_CAMERA_SECRET")]
    camera_secret_env: String,
}

/// The demo alert source (server/src/intake/alert_sources.rs), for --dev.
const DEMO_CAMERA_SOURCE: &str = "demo-video-platform";
const DEMO_CAMERA_SECRET: &str = "dev-webhook-secret-not-for-production";

/// Runs the fleet for its duration and prints the summary.
pub async fn run(connection: &ConnectionArgs, args: SimArgs) -> Result<(), CliError> {
    if !(0.0..=1.0).contains(&args.loss) {
        return Err(CliError::Usage("--loss must be between 0 and 1".into()));
    }
    let officers = if args.officers.is_empty() {
        (1..=4).map(|i| format!("officer-0{i}")).collect()
    } else {
        args.officers
    };
    let supervisor = match args.dispatcher.as_deref() {
        Some("none") => None,
        Some(name) => Some(name.to_owned()),
        None => connection.dev.then(|| DEV_SUPERVISOR.to_owned()),
    };
    // Fail early on unusable settings, before any terminal starts.
    connection.client_config(false)?;
    let config = fieldlink_cli::sim::SimConfig {
        terminals: args.terminals.max(1),
        duration: std::time::Duration::from_secs(args.duration),
        seed: args.seed,
        photos_per_record: args.photos_per_record,
        loss: args.loss,
        officers,
        devices: vec!["device-001".into(), "device-002".into(), "device-003".into()],
        supervisor,
        assignments_max: args.assignments_max,
    };
    let monitor_plan = fieldlink_cli::sim_monitors::MonitorPlan {
        hj212: args.hj212,
        monitors: args.monitors,
        mns: if args.monitor_mns.is_empty() {
            fieldlink_cli::sim_monitors::DEMO_MONITORS
                .map(str::to_owned)
                .to_vec()
        } else {
            args.monitor_mns
        },
        password: match (args.monitor_password, connection.dev) {
            (Some(password), _) => password,
            (None, true) => "123456".into(),
            (None, false) if args.monitors > 0 => {
                return Err(CliError::Usage(
                    "--monitor-password is required with --monitors (or --dev)".into(),
                ))
            }
            (None, false) => String::new(),
        },
        interval: std::time::Duration::from_secs(2),
        duration: config.duration,
        seed: config.seed,
    };
    let grid_workers = if args.grid_worker_ids.is_empty() {
        fieldlink_cli::sim_reporters::DEMO_GRID_WORKERS
            .map(str::to_owned)
            .to_vec()
    } else {
        args.grid_worker_ids
    };
    let (camera_source, camera_secret) = match (args.camera_source, std::env::var(&args.camera_secret_env)) {
        (Some(source), Ok(secret)) => (source, secret),
        (None, _) if connection.dev => (DEMO_CAMERA_SOURCE.to_owned(), DEMO_CAMERA_SECRET.to_owned()),
        _ if args.cameras > 0 => {
            return Err(CliError::Usage(format!(
                "--cameras needs --camera-source and the secret in {} (or --dev)",
                args.camera_secret_env
            )))
        }
        _ => (String::new(), String::new()),
    };
    let reporter_plan = fieldlink_cli::sim_reporters::ReporterPlan {
        grid_workers: args.grid_workers,
        cameras: args.cameras,
        console: args.console,
        camera_source,
        camera_secret,
        interval: std::time::Duration::from_millis(args.report_every_ms.max(100)),
        duration: config.duration,
        seed: config.seed,
    };
    // Device `device` signed in as `officer`, as these flags say.
    let settings = |officer: &str, device: &str| {
        let mut args = connection.clone();
        args.officer = Some(officer.to_owned());
        if args.dev && args.cert.is_none() {
            args.cert = Some(dev_certs_dir().join(format!("{device}.pem")));
            args.key = Some(dev_certs_dir().join(format!("{device}.key")));
        }
        args.client_config(false).map_err(|error| match error {
            CliError::Client(error) => error,
            other => fieldlink_client::Error::Config(other.to_string()),
        })
    };
    let devices = config.devices.clone();
    let monitors = tokio::spawn(fieldlink_cli::sim_monitors::run(monitor_plan));
    let reporters = fieldlink_cli::sim_reporters::run(reporter_plan, |index| {
        let officer = &grid_workers[index % grid_workers.len().max(1)];
        settings(officer, &devices[index % devices.len()])
    });
    let (summary, reporters) = tokio::join!(fieldlink_cli::sim::run(config, &settings), reporters);
    let monitors = monitors.await.unwrap_or_default();
    let mut line = serde_json::to_value(&summary)?;
    if args.monitors > 0 {
        line["monitors"] = serde_json::to_value(&monitors)?;
    }
    if args.grid_workers > 0 || args.cameras > 0 {
        line["reporters"] = serde_json::to_value(&reporters)?;
    }
    print_line(&line)
}
