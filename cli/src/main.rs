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
use fieldlink_client::{Client, ClientConfig, Credentials};
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

#[derive(Debug, Args)]
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
}

#[derive(Debug, Subcommand)]
enum ItemKind {
    /// An inspection record.
    Inspection,
}

#[derive(Debug, Subcommand)]
enum SubmitKind {
    /// An inspection record (JSON file, `-` for standard input).
    Inspection {
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
        Command::Example {
            kind: ItemKind::Inspection,
        } => {
            let officer = cli
                .connection
                .officer
                .clone()
                .unwrap_or_else(|| DEV_OFFICER.to_owned());
            let record = fieldlink_protocol::inspection::example_record(&officer, fieldlink_client::now_ms());
            let json = serde_json::to_string_pretty(&record).map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{json}");
            Ok(())
        }
        Command::Submit {
            kind: SubmitKind::Inspection { file },
        } => {
            let record: pb::InspectionRecord = read_json(&file)?;
            let client = Client::connect(client_config(&cli.connection)?).await?;
            let receipt = client.submit_inspection(&record).await?;
            println!("{}", receipt_json(&receipt));
            client.close().await;
            Ok(())
        }
    }
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

fn client_config(args: &ConnectionArgs) -> Result<ClientConfig, CliError> {
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
