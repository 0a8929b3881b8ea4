//! The connection settings as JSON: one string, the same from every
//! language, instead of a C struct per SDK version.

use std::time::Duration;

use fieldlink_client::{ClientConfig, Credentials};
use serde::Deserialize;

use crate::status::{Failure, FlStatus};

/// The JSON `fl_client_connect` takes. Paths are read at connect time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigJson {
    /// The server's address, `host:port` with an IP (`127.0.0.1:4433`).
    server_addr: String,
    /// The name on the server's certificate.
    server_name: String,
    /// PEM files: the agency CA, this device's certificate and key.
    ca_pem_path: String,
    cert_pem_path: String,
    key_pem_path: String,
    /// The officer's sign-in: a password (first sign-in of a shift) or a
    /// session token from an earlier one.
    officer_id: Option<String>,
    password: Option<String>,
    session_token: Option<String>,
    /// Deadlines, ms (defaults 10,000 and 30,000).
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    /// Sign each item with the device key (default true).
    sign_captures: Option<bool>,
    /// `auto` (default: QUIC first, TCP where UDP is blocked), `quic` or `tcp`.
    transport: Option<String>,
    /// The server's TCP address (default: `server_addr`).
    tcp_server_addr: Option<String>,
}

/// Reads the JSON and the files it names.
pub(crate) fn client_config(json: &str) -> Result<ClientConfig, Failure> {
    let parsed: ConfigJson = serde_json::from_str(json)
        .map_err(|e| Failure::new(FlStatus::Config, format!("config JSON: {e}")))?;
    let credentials = match (parsed.officer_id, parsed.password, parsed.session_token) {
        (Some(officer_id), Some(password), None) => Credentials::Password { officer_id, password },
        (_, None, Some(token)) => Credentials::Token(token),
        _ => {
            return Err(Failure::new(
                FlStatus::Config,
                "config JSON: give officer_id and password, or session_token",
            ))
        }
    };
    let addr = parsed.server_addr.parse().map_err(|e| {
        Failure::new(
            FlStatus::Config,
            format!("server_addr {:?}: {e}", parsed.server_addr),
        )
    })?;
    let mut config = ClientConfig::from_files(
        addr,
        &parsed.server_name,
        parsed.ca_pem_path.as_ref(),
        parsed.cert_pem_path.as_ref(),
        parsed.key_pem_path.as_ref(),
        credentials,
    )?;
    if let Some(ms) = parsed.connect_timeout_ms {
        config.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = parsed.request_timeout_ms {
        config.request_timeout = Duration::from_millis(ms);
    }
    if let Some(sign) = parsed.sign_captures {
        config.sign_captures = sign;
    }
    if let Some(transport) = parsed.transport {
        config.transport = transport
            .parse()
            .map_err(|e: String| Failure::new(FlStatus::Config, format!("transport: {e}")))?;
    }
    if let Some(tcp) = parsed.tcp_server_addr {
        let addr = tcp
            .parse()
            .map_err(|e| Failure::new(FlStatus::Config, format!("tcp_server_addr {tcp:?}: {e}")))?;
        config.tcp_addr = Some(addr);
    }
    Ok(config)
}
