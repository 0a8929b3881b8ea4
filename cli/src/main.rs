//! `fieldlink`: the command line for terminals and operators.
//!
//! `fieldlink example inspection` prints a valid record as proto3 JSON;
//! `fieldlink submit inspection FILE.json` submits one and prints its receipt
//! as one line of JSON. `--dev` means the certs-dev CA, device-001 and the
//! first demo officer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;

use fieldlink_client::{Client, ClientConfig, Credentials, PhotoUpload};
use fieldlink_protocol::pb;

/// Password of the demo accounts (`--dev`).
const DEV_PASSWORD: &str = "demo-password";
/// The first demo officer.
const DEV_OFFICER: &str = "officer-01";

/// The fieldlink command line.
#[derive(Debug, Parser)]
#[command(name = "fieldlink", version)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Args)]
struct ConnectionArgs {
    /// Server UDP address.
    #[arg(long, global = true, default_value = "127.0.0.1:4433")]
    server: SocketAddr,
    /// Name on the server's certificate.
    #[arg(long, global = true, default_value = "localhost")]
    server_name: String,
    /// Agency CA certificate (PEM).
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    /// This device's certificate (PEM).
    #[arg(long, global = true)]
    cert: Option<PathBuf>,
    /// This device's private key (PEM).
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// Officer id to sign in as.
    #[arg(long, global = true)]
    officer: Option<String>,
    /// Name of the environment variable holding the officer's password.
    #[arg(long, global = true, default_value = "FIELDLINK_PASSWORD")]
    password_env: String,
    /// Development defaults: certs-dev CA, device-001, officer-01 with the demo password.
    #[arg(long, global = true)]
    dev: bool,
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
    /// Photo evidence.
    Photo {
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
    /// Supervisors: dispatch, cancel, reassign and list assignments. With
    /// `--dev` these sign in as the demo supervisor.
    Dispatch {
        #[command(subcommand)]
        command: DispatchCommand,
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
    Sim {
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
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Queue N demo records (with photos) by the signed-in officer. Works offline.
    EnqueueDemo {
        /// Records to queue.
        #[arg(long, default_value_t = 10)]
        records: usize,
        /// Photos per record.
        #[arg(long, default_value_t = 1)]
        photos_per_record: usize,
        /// Size of each photo in bytes.
        #[arg(long, default_value_t = 200_000)]
        photo_bytes: usize,
    },
    /// Send what is queued. Prints a status line at the end.
    Sync {
        /// Exit once every item is acknowledged or parked.
        #[arg(long)]
        until_settled: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Print the count of items by state as one JSON line.
    Status,
}

#[derive(Debug, Subcommand)]
enum AssignmentsCommand {
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

#[derive(Debug, Subcommand)]
enum DispatchCommand {
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

#[derive(Debug, Subcommand)]
enum CaseCommand {
    /// List every item of a case in time order, one JSON line each.
    Show {
        /// The case id.
        case_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PhotoCommand {
    /// Upload a JPEG or PNG as evidence for a record; prints the receipt as one
    /// JSON line (`id`, `sha256`, `sm3`, `size`, `flags`, …). Shows a progress
    /// bar on a terminal; resumes by itself after a dropped connection.
    Upload {
        /// The photo file.
        file: PathBuf,
        /// The inspection record (UUIDv7) the photo belongs to.
        #[arg(long)]
        record: String,
        /// Evidence id (UUIDv7) to use, e.g. to resume an earlier upload; new if absent.
        #[arg(long)]
        id: Option<String>,
        /// Capture time in ms since the Unix epoch [default: the file's modification time].
        #[arg(long)]
        captured_at_ms: Option<i64>,
        /// Capture latitude in degrees (with --longitude).
        #[arg(long, requires = "longitude", allow_hyphen_values = true)]
        latitude: Option<f64>,
        /// Capture longitude in degrees (with --latitude).
        #[arg(long, requires = "latitude", allow_hyphen_values = true)]
        longitude: Option<f64>,
        /// The case the photo belongs to.
        #[arg(long)]
        case: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ItemKind {
    /// An inspection record.
    Inspection,
    /// An electronic-service confirmation (电子送达).
    Service {
        /// The case id to put in it.
        #[arg(long, default_value = "CASE-DEMO-0001")]
        case: String,
    },
    /// A later event of a service: delivered or confirmed.
    ServiceEvent {
        /// The service's id.
        #[arg(long)]
        service: String,
        /// `delivered` or `confirmed`.
        #[arg(long, default_value = "delivered")]
        kind: String,
    },
    /// An assignment for `fieldlink dispatch create`.
    Assignment {
        /// For this officer.
        #[arg(long, conflicts_with = "team")]
        to: Option<String>,
        /// For this team.
        #[arg(long)]
        team: Option<String>,
    },
    /// Remote-interview metadata (远程询问); the second interviewer is officer-02.
    Interview {
        /// The case id to put in it.
        #[arg(long, default_value = "CASE-DEMO-0001")]
        case: String,
        /// The second interviewer.
        #[arg(long, default_value = "officer-02")]
        with: String,
    },
}

#[derive(Debug, Subcommand)]
enum SubmitKind {
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
}

/// Why a command failed; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// Bad arguments or input file (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The SDK failed or the server refused (exit 1).
    #[error("{0}")]
    Client(#[from] fieldlink_client::Error),
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
        Err(CliError::Usage(message)) => {
            eprintln!("fieldlink: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Client(error)) => {
            print_client_error(&error);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Example { kind } => {
            let officer = cli
                .connection
                .officer
                .clone()
                .unwrap_or_else(|| DEV_OFFICER.to_owned());
            let now_ms = fieldlink_client::now_ms();
            let json = match kind {
                ItemKind::Inspection => {
                    to_json(&fieldlink_protocol::inspection::example_record(&officer, now_ms))
                }
                ItemKind::Service { case } => to_json(&fieldlink_protocol::service::example_service(
                    &officer, &case, now_ms,
                )),
                ItemKind::ServiceEvent { service, kind } => {
                    let kind = match kind.as_str() {
                        "delivered" => pb::ServiceEventKind::Delivered,
                        "confirmed" => pb::ServiceEventKind::Confirmed,
                        other => return Err(CliError::Usage(format!("unknown event kind {other}"))),
                    };
                    let confirmed = kind == pb::ServiceEventKind::Confirmed;
                    to_json(&pb::ServiceEvent {
                        id: uuid::Uuid::now_v7().to_string(),
                        service_id: service,
                        kind: kind as i32,
                        at_ms: now_ms - 1000,
                        confirmation_method: if confirmed {
                            pb::ConfirmationMethod::ReplyCode as i32
                        } else {
                            0
                        },
                        confirmation_reference: if confirmed { "8841".into() } else { String::new() },
                        signature_evidence_id: String::new(),
                    })
                }
                ItemKind::Assignment { to, team } => to_json(&pb::Assignment {
                    id: uuid::Uuid::now_v7().to_string(),
                    title: "巡查城南路占道经营 Patrol Chengnan Road for obstructions".into(),
                    instructions: "核查占道堆放情况，拍照取证，必要时责令改正。".into(),
                    matter_code: "ZJ-001".into(),
                    place: Some(pb::Place {
                        latitude: 29.8683,
                        longitude: 121.5440,
                        address: "城南路 18 号".into(),
                        accuracy_m: 0.0,
                    }),
                    priority: pb::Priority::Normal as i32,
                    due_at_ms: now_ms + 4 * 60 * 60 * 1000,
                    assignee: Some(match team {
                        Some(team) => pb::assignment::Assignee::TeamId(team),
                        None => {
                            pb::assignment::Assignee::OfficerId(to.unwrap_or_else(|| DEV_OFFICER.to_owned()))
                        }
                    }),
                    ..Default::default()
                }),
                ItemKind::Interview { case, with } => to_json(
                    &fieldlink_protocol::interview::example_interview([&officer, &with], &case, now_ms),
                ),
            }?;
            println!("{json}");
            Ok(())
        }
        Command::Assignments { command } => {
            let client = Client::connect(client_config(&cli.connection, false)?).await?;
            let result = match command {
                AssignmentsCommand::Watch { count } => {
                    let mut feed = client.assignments();
                    let mut printed = 0;
                    while count.is_none_or(|count| printed < count) {
                        match feed.next().await {
                            Some(Ok(event)) => {
                                println!(
                                    "{}",
                                    serde_json::to_string(&event)
                                        .map_err(|e| CliError::Usage(e.to_string()))?
                                );
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
                AssignmentsCommand::Complete { id, records } => {
                    client.complete_assignment(&id, &records).await?
                }
            };
            println!(
                "{}",
                serde_json::to_string(&result).map_err(|e| CliError::Usage(e.to_string()))?
            );
            client.close().await;
            Ok(())
        }
        Command::Dispatch { command } => {
            // Parse the file first: a bad file is a usage error.
            let draft = match &command {
                DispatchCommand::Create { file } => Some(read_json::<pb::Assignment>(file)?),
                _ => None,
            };
            let client = Client::connect(client_config(&cli.connection, true)?).await?;
            match command {
                DispatchCommand::List {
                    state,
                    team,
                    officer_id,
                    overdue,
                } => {
                    let state = match state {
                        None => 0,
                        Some(name) => pb::AssignmentState::from_str_name(&format!(
                            "ASSIGNMENT_STATE_{}",
                            name.to_uppercase().replace('-', "_")
                        ))
                        .ok_or_else(|| CliError::Usage(format!("unknown state {name}")))?
                            as i32,
                    };
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
                        println!(
                            "{}",
                            serde_json::to_string(assignment).map_err(|e| CliError::Usage(e.to_string()))?
                        );
                    }
                }
                DispatchCommand::Create { .. } => {
                    let draft = draft.ok_or_else(|| CliError::Usage("no assignment".into()))?;
                    let result = client.create_assignment(&draft).await?;
                    println!(
                        "{}",
                        serde_json::to_string(&result).map_err(|e| CliError::Usage(e.to_string()))?
                    );
                }
                DispatchCommand::Cancel { id, reason } => {
                    let result = client.cancel_assignment(&id, &reason).await?;
                    println!(
                        "{}",
                        serde_json::to_string(&result).map_err(|e| CliError::Usage(e.to_string()))?
                    );
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
                    let result = client.reassign_assignment(&id, assignee, &reason).await?;
                    println!(
                        "{}",
                        serde_json::to_string(&result).map_err(|e| CliError::Usage(e.to_string()))?
                    );
                }
            }
            client.close().await;
            Ok(())
        }
        Command::Outbox { db, command } => run_outbox(&cli.connection, &db, command).await,
        Command::Sim {
            terminals,
            duration,
            seed,
            photos_per_record,
            loss,
            officers,
            dispatcher,
            assignments_max,
        } => {
            if !(0.0..=1.0).contains(&loss) {
                return Err(CliError::Usage("--loss must be between 0 and 1".into()));
            }
            let officers = if officers.is_empty() {
                (1..=4).map(|i| format!("officer-0{i}")).collect()
            } else {
                officers
            };
            let supervisor = match dispatcher.as_deref() {
                Some("none") => None,
                Some(name) => Some(name.to_owned()),
                None => cli.connection.dev.then(|| DEV_SUPERVISOR.to_owned()),
            };
            // Fail early on unusable settings, before any terminal starts.
            client_config(&cli.connection, false)?;
            let config = fieldlink_cli::sim::SimConfig {
                terminals: terminals.max(1),
                duration: std::time::Duration::from_secs(duration),
                seed,
                photos_per_record,
                loss,
                officers,
                devices: vec!["device-001".into(), "device-002".into(), "device-003".into()],
                supervisor,
                assignments_max,
            };
            let connection = &cli.connection;
            let summary = fieldlink_cli::sim::run(config, |officer, device| {
                let mut args = connection.clone();
                args.officer = Some(officer.to_owned());
                if args.dev && args.cert.is_none() {
                    args.cert = Some(dev_certs_dir().join(format!("{device}.pem")));
                    args.key = Some(dev_certs_dir().join(format!("{device}.key")));
                }
                client_config(&args, false).map_err(|error| match error {
                    CliError::Client(error) => error,
                    CliError::Usage(message) => fieldlink_client::Error::Config(message),
                })
            })
            .await;
            println!(
                "{}",
                serde_json::to_string(&summary).map_err(|e| CliError::Usage(e.to_string()))?
            );
            Ok(())
        }
        Command::Case {
            command: CaseCommand::Show { case_id },
        } => {
            let client = Client::connect(client_config(&cli.connection, false)?).await?;
            let items = client.case_items(&case_id).await?;
            for item in &items.items {
                let state = pb::ServiceState::try_from(item.service_state)
                    .ok()
                    .filter(|s| *s != pb::ServiceState::Unspecified)
                    .map(|s| s.as_str_name());
                println!(
                    "{}",
                    serde_json::json!({
                        "occurred_at_ms": item.occurred_at_ms,
                        "kind": item.kind,
                        "id": item.item_id,
                        "server_seq": item.server_seq,
                        "received_at_ms": item.received_at_ms,
                        "sha256": hex::encode(&item.sha256),
                        "device_id": item.device_id,
                        "officer_id": item.officer_id,
                        "service_state": state,
                    })
                );
            }
            client.close().await;
            Ok(())
        }
        Command::Photo {
            command:
                PhotoCommand::Upload {
                    file,
                    record,
                    id,
                    captured_at_ms,
                    latitude,
                    longitude,
                    case,
                },
        } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let content_type = match bytes.get(..3) {
                Some([0xFF, 0xD8, 0xFF]) => "image/jpeg",
                Some([0x89, b'P', b'N']) => "image/png",
                _ => {
                    return Err(CliError::Usage(format!(
                        "{} is neither a JPEG nor a PNG",
                        file.display()
                    )))
                }
            };
            let captured_at_ms = match captured_at_ms {
                Some(ms) => ms,
                None => modified_ms(&file).unwrap_or_else(fieldlink_client::now_ms),
            };
            let evidence_id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let mut photo = PhotoUpload::with_id(&evidence_id, &record, content_type, captured_at_ms, bytes);
            if let (Some(latitude), Some(longitude)) = (latitude, longitude) {
                photo = photo.at(latitude, longitude, 0.0);
            }
            if let Some(case) = case {
                photo = photo.in_case(&case);
            }
            let client = Client::connect(client_config(&cli.connection, false)?).await?;
            let mut bar = ProgressBar::new(std::io::stderr().is_terminal());
            let receipt = client
                .upload_photo(&photo, |p| bar.show(p.sent_bytes, p.total_bytes))
                .await;
            bar.done();
            let receipt = receipt?;
            println!("{}", photo_receipt_json(&receipt));
            client.close().await;
            Ok(())
        }
        Command::Submit { kind } => {
            // Read and parse before connecting: a bad file is a usage error.
            enum Item {
                Inspection(pb::InspectionRecord),
                Service(pb::ServiceConfirmation),
                ServiceEvent(pb::ServiceEvent),
                Interview(pb::InterviewRecord),
            }
            let item = match kind {
                SubmitKind::Inspection { file } => Item::Inspection(read_json(&file)?),
                SubmitKind::Service { file } => Item::Service(read_json(&file)?),
                SubmitKind::ServiceEvent { file } => Item::ServiceEvent(read_json(&file)?),
                SubmitKind::Interview { file } => Item::Interview(read_json(&file)?),
            };
            let client = Client::connect(client_config(&cli.connection, false)?).await?;
            let receipt = match &item {
                Item::Inspection(record) => client.submit_inspection(record).await?,
                Item::Service(service) => client.submit_service(service).await?,
                Item::ServiceEvent(event) => client.submit_service_event(event).await?,
                Item::Interview(interview) => client.submit_interview(interview).await?,
            };
            println!("{}", receipt_json(&receipt));
            client.close().await;
            Ok(())
        }
    }
}

fn to_json<T: serde::Serialize>(item: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(item).map_err(|e| CliError::Usage(e.to_string()))
}

fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, CliError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not a valid item: {e}", file.display())))
}

/// The receipt as one line of JSON: `id`, `server_seq`, `received_at_ms`,
/// `sha256` (hex) and `replayed`.
fn receipt_json(receipt: &pb::Receipt) -> serde_json::Value {
    serde_json::json!({
        "id": receipt.item_id,
        "server_seq": receipt.server_seq,
        "received_at_ms": receipt.received_at_ms,
        "sha256": hex::encode(&receipt.sha256),
        "replayed": receipt.replayed,
    })
}

/// A photo receipt as one line of JSON.
fn photo_receipt_json(receipt: &pb::Receipt) -> serde_json::Value {
    let flags: Vec<&str> = receipt
        .flags
        .iter()
        .map(|flag| {
            pb::EvidenceFlag::try_from(*flag)
                .map(|f| f.as_str_name())
                .unwrap_or("UNKNOWN")
        })
        .collect();
    serde_json::json!({
        "id": receipt.item_id,
        "server_seq": receipt.server_seq,
        "received_at_ms": receipt.received_at_ms,
        "sha256": hex::encode(&receipt.sha256),
        "sm3": hex::encode(&receipt.sm3),
        "size": receipt.size_bytes,
        "flags": flags,
        "replayed": receipt.replayed,
    })
}

fn modified_ms(file: &Path) -> Option<i64> {
    let modified = std::fs::metadata(file).ok()?.modified().ok()?;
    Some(modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// Upload progress: a bar redrawn in place on a terminal; nothing otherwise
/// (the receipt line on stdout is the output that counts).
struct ProgressBar {
    terminal: bool,
    drawn_percent: Option<u64>,
}

impl ProgressBar {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            drawn_percent: None,
        }
    }

    fn show(&mut self, sent_bytes: u64, total_bytes: u64) {
        if !self.terminal || total_bytes == 0 {
            return;
        }
        let percent = sent_bytes.saturating_mul(100) / total_bytes;
        if self.drawn_percent == Some(percent) {
            return;
        }
        self.drawn_percent = Some(percent);
        let filled = (percent / 4) as usize;
        eprint!(
            "\r[{}{}] {percent:>3}% {:.1}/{:.1} MiB",
            "#".repeat(filled),
            " ".repeat(25 - filled.min(25)),
            sent_bytes as f64 / 1_048_576.0,
            total_bytes as f64 / 1_048_576.0
        );
    }

    fn done(&self) {
        if self.terminal && self.drawn_percent.is_some() {
            eprintln!();
        }
    }
}

/// `fieldlink outbox …`.
async fn run_outbox(connection: &ConnectionArgs, db: &Path, command: OutboxCommand) -> Result<(), CliError> {
    use fieldlink_client::outbox::{ItemState, Outbox, OutboxConfig};
    let outbox = Outbox::open(OutboxConfig::new(db))
        .await
        .map_err(|e| CliError::Usage(format!("cannot open the outbox: {e}")))?;
    match command {
        OutboxCommand::EnqueueDemo {
            records,
            photos_per_record,
            photo_bytes,
        } => {
            let officer = connection
                .officer
                .clone()
                .unwrap_or_else(|| DEV_OFFICER.to_owned());
            for index in 0..records {
                let now = fieldlink_client::now_ms();
                let mut record = fieldlink_protocol::inspection::example_record(&officer, now);
                for photo_index in 0..photos_per_record {
                    let jpeg = fieldlink_cli::photos::pad_jpeg(
                        fieldlink_cli::photos::jpeg_with_exif(
                            160,
                            120,
                            (index * 100 + photo_index) as u64,
                            fieldlink_cli::photos::Exif {
                                captured_at_ms: now - 60_000,
                                position: Some((29.8683, 121.5440)),
                            },
                        ),
                        photo_bytes,
                    );
                    let photo = PhotoUpload::new(&record.id, "image/jpeg", now - 60_000, jpeg)
                        .at(29.8683, 121.5440, 5.0);
                    record.photo_ids.push(photo.evidence_id().to_owned());
                    outbox
                        .enqueue_photo(&photo)
                        .await
                        .map_err(|e| CliError::Usage(e.to_string()))?;
                }
                outbox
                    .enqueue_inspection(&record)
                    .await
                    .map_err(|e| CliError::Usage(e.to_string()))?;
            }
        }
        OutboxCommand::Sync {
            until_settled,
            timeout,
        } => {
            let client = Client::new(client_config(connection, false)?)?;
            let sync = outbox.start_sync(client);
            let timeout = std::time::Duration::from_secs(timeout);
            if until_settled {
                let settled = outbox
                    .settled(timeout)
                    .await
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                sync.stop().await;
                if !settled {
                    return Err(CliError::Usage("the outbox did not settle in time".into()));
                }
            } else {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    () = tokio::time::sleep(timeout) => {}
                }
                sync.stop().await;
            }
        }
        OutboxCommand::Status => {}
    }
    let items = outbox.items().await.map_err(|e| CliError::Usage(e.to_string()))?;
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    for item in &items {
        let name = match item.state {
            ItemState::Queued => "queued",
            ItemState::Sending { .. } => "sending",
            ItemState::Acknowledged { .. } => "acknowledged",
            ItemState::FailedRetryable { .. } => "failed_retryable",
            ItemState::FailedPermanent { .. } => "failed_permanent",
        };
        *counts.entry(name).or_default() += 1;
    }
    let acknowledged: Vec<serde_json::Value> = items
        .iter()
        .filter_map(|item| match &item.state {
            ItemState::Acknowledged { server_seq, sha256 } => Some(serde_json::json!({
                "id": item.id, "kind": item.kind, "server_seq": server_seq, "sha256": sha256,
            })),
            _ => None,
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({ "items": items.len(), "states": counts, "acknowledged": acknowledged })
    );
    Ok(())
}

/// The demo supervisor (`--dev` with `dispatch`).
const DEV_SUPERVISOR: &str = "supervisor-01";

fn client_config(args: &ConnectionArgs, supervisor: bool) -> Result<ClientConfig, CliError> {
    let dev_dir = dev_certs_dir();
    let pick = |given: &Option<PathBuf>, dev_file: &str, flag: &str| match (given, args.dev) {
        (Some(path), _) => Ok(path.clone()),
        (None, true) => Ok(dev_dir.join(dev_file)),
        (None, false) => Err(CliError::Usage(format!("{flag} is required (or --dev)"))),
    };
    let ca = pick(&args.ca, "ca.pem", "--ca")?;
    let cert = pick(&args.cert, "device-001.pem", "--cert")?;
    let key = pick(&args.key, "device-001.key", "--key")?;
    let officer = match (&args.officer, args.dev) {
        (Some(officer), _) => officer.clone(),
        (None, true) if supervisor => DEV_SUPERVISOR.to_owned(),
        (None, true) => DEV_OFFICER.to_owned(),
        (None, false) => return Err(CliError::Usage("--officer is required (or --dev)".into())),
    };
    let password = match (std::env::var(&args.password_env), args.dev) {
        (Ok(password), _) => password,
        (Err(_), true) => DEV_PASSWORD.to_owned(),
        (Err(_), false) => {
            return Err(CliError::Usage(format!(
                "set the officer's password in the environment variable {}",
                args.password_env
            )))
        }
    };
    Ok(ClientConfig::from_files(
        args.server,
        &args.server_name,
        &ca,
        &cert,
        &key,
        Credentials::Password {
            officer_id: officer,
            password,
        },
    )?)
}

/// `./certs-dev` when run from the repository root, else the one beside the sources.
fn dev_certs_dir() -> PathBuf {
    let local = PathBuf::from("certs-dev");
    if local.join("ca.pem").exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("certs-dev")
}

/// Prints a failure to stderr: the typed status as JSON when the server refused.
fn print_client_error(error: &fieldlink_client::Error) {
    match error.status() {
        Some(status) => {
            let json = serde_json::json!({
                "error": {
                    "code": status.code_or_unknown().as_str_name(),
                    "reason": status.reason,
                    "message": status.message,
                    "field": status.field,
                    "retryable": status.retryable,
                    "conflicting_seq": status.conflicting_seq,
                }
            });
            eprintln!("{json}");
        }
        None => eprintln!(
            "fieldlink: {error} (retryable: {})",
            if error.is_retryable() { "yes" } else { "no" }
        ),
    }
}
