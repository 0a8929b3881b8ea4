//! The flags every command shares: which server, which certificates, which
//! officer; `--dev` fills them in from certs-dev and the demo accounts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use fieldlink_client::{Client, ClientConfig, Credentials, LogTrust, Transport};

use super::error::CliError;

/// Password of the demo accounts (`--dev`).
const DEV_PASSWORD: &str = "demo-password";
/// The first demo officer.
pub const DEV_OFFICER: &str = "officer-01";
/// The demo supervisor (`--dev` with `dispatch` and `sim`).
pub const DEV_SUPERVISOR: &str = "supervisor-01";

/// Where and as whom to connect.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Server UDP address.
    #[arg(long, global = true, default_value = "127.0.0.1:4433")]
    pub server: SocketAddr,
    /// How to reach it: `quic`, `tcp` (TLS and HTTP/2, where UDP is
    /// blocked), or `auto` (QUIC first, TCP if no QUIC handshake completes
    /// within a second).
    #[arg(long, global = true, default_value = "auto", value_parser = parse_transport)]
    pub transport: Transport,
    /// The server's TCP address [default: the --server address].
    #[arg(long, global = true)]
    pub tcp_server: Option<SocketAddr>,
    /// Name on the server's certificate.
    #[arg(long, global = true, default_value = "localhost")]
    pub server_name: String,
    /// Agency CA certificate (PEM).
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// This device's certificate (PEM).
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,
    /// This device's private key (PEM).
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// Officer id to sign in as.
    #[arg(long, global = true)]
    pub officer: Option<String>,
    /// Name of the environment variable holding the officer's password.
    #[arg(long, global = true, default_value = "FIELDLINK_PASSWORD")]
    pub password_env: String,
    /// The transparency log's verifier key file (the server's `log-key`
    /// output) [--dev: certs-dev/log.pub].
    #[arg(long, global = true)]
    pub log_key: Option<PathBuf>,
    /// The transparency log's origin, the first line of its checkpoints.
    #[arg(long, global = true, default_value = "fieldlink.local/evidence")]
    pub log_origin: String,
    /// Development defaults: certs-dev CA, device-001, officer-01 with the demo password.
    #[arg(long, global = true)]
    pub dev: bool,
}

impl ConnectionArgs {
    /// The officer named with `--officer`, else the first demo officer.
    pub fn officer_or_demo(&self) -> String {
        self.officer.clone().unwrap_or_else(|| DEV_OFFICER.to_owned())
    }

    /// Connects and signs in (as the demo supervisor with `--dev` when
    /// `supervisor`).
    pub async fn connect(&self, supervisor: bool) -> Result<Client, CliError> {
        Ok(Client::connect(self.client_config(supervisor)?).await?)
    }

    /// The SDK configuration these flags describe; a missing flag is a usage
    /// error.
    pub fn client_config(&self, supervisor: bool) -> Result<ClientConfig, CliError> {
        let dev_dir = dev_certs_dir();
        let pick = |given: &Option<PathBuf>, dev_file: &str, flag: &str| match (given, self.dev) {
            (Some(path), _) => Ok(path.clone()),
            (None, true) => Ok(dev_dir.join(dev_file)),
            (None, false) => Err(CliError::Usage(format!("{flag} is required (or --dev)"))),
        };
        let ca = pick(&self.ca, "ca.pem", "--ca")?;
        let cert = pick(&self.cert, "device-001.pem", "--cert")?;
        let key = pick(&self.key, "device-001.key", "--key")?;
        let officer = match (&self.officer, self.dev) {
            (Some(officer), _) => officer.clone(),
            (None, true) if supervisor => DEV_SUPERVISOR.to_owned(),
            (None, true) => DEV_OFFICER.to_owned(),
            (None, false) => return Err(CliError::Usage("--officer is required (or --dev)".into())),
        };
        let password = match (std::env::var(&self.password_env), self.dev) {
            (Ok(password), _) => password,
            (Err(_), true) => DEV_PASSWORD.to_owned(),
            (Err(_), false) => {
                return Err(CliError::Usage(format!(
                    "set the officer's password in the environment variable {}",
                    self.password_env
                )))
            }
        };
        let mut config = ClientConfig::from_files(
            self.server,
            &self.server_name,
            &ca,
            &cert,
            &key,
            Credentials::Password {
                officer_id: officer,
                password,
            },
        )?;
        config.transport = self.transport;
        config.tcp_addr = self.tcp_server;
        let log_key = match (&self.log_key, self.dev) {
            (Some(path), _) => Some(path.clone()),
            (None, true) => Some(dev_dir.join("log.pub")),
            (None, false) => None,
        };
        if let Some(path) = log_key {
            config.log = Some(LogTrust::from_file(&path, &self.log_origin)?);
        }
        Ok(config)
    }
}

fn parse_transport(text: &str) -> Result<Transport, String> {
    text.parse()
}

/// `./certs-dev` when run from the repository root, else the one beside the sources.
pub fn dev_certs_dir() -> PathBuf {
    let local = PathBuf::from("certs-dev");
    if local.join("ca.pem").exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("certs-dev")
}
