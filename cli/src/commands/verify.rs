//! `fieldlink verify FILE`: checks a case export package offline (no
//! server): every file's SHA-256 and SM3, every inclusion proof, the
//! checkpoint's signature and the export's own logged event. Prints one
//! JSON summary; exits 1 when any check fails, naming the item and what
//! failed.

use std::path::Path;

use super::connection::{dev_certs_dir, ConnectionArgs};
use super::error::CliError;
use super::output::print_line;

/// Verifies the package at `file`. The checkpoint is checked against the
/// trusted log key (`--log-key`, or certs-dev's with `--dev`); without one,
/// against the package's own `log.pub`, and the summary says so. Each
/// witness key file names a witness whose cosignature is required. Device
/// certificates are checked against the agency CA (`--ca`, or certs-dev's
/// with `--dev`), else against the package's own.
pub fn run(
    connection: &ConnectionArgs,
    file: &Path,
    witness_key_files: &[std::path::PathBuf],
) -> Result<(), CliError> {
    let key_file = match (&connection.log_key, connection.dev) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(dev_certs_dir().join("log.pub")),
        (None, false) => None,
    };
    let trusted = key_file
        .map(|path| {
            std::fs::read_to_string(&path).map_err(|error| {
                CliError::Usage(format!("cannot read the log key {}: {error}", path.display()))
            })
        })
        .transpose()?;
    let witnesses = witness_key_files
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|key| key.trim().to_owned())
                .map_err(|error| {
                    CliError::Usage(format!("cannot read the witness key {}: {error}", path.display()))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The agency CA device certificates must chain to: `--ca`, or
    // certs-dev's with `--dev`; else the package's own.
    let ca_file = match (&connection.ca, connection.dev) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(dev_certs_dir().join("ca.pem")),
        (None, false) => None,
    };
    let ca_pem = ca_file
        .map(|path| {
            std::fs::read(&path)
                .map_err(|error| CliError::Usage(format!("cannot read the CA {}: {error}", path.display())))
        })
        .transpose()?;
    let trust = fieldlink_client::evidence_export::Trust {
        log_key: trusted.as_deref(),
        witness_keys: &witnesses,
        ca_pem: ca_pem.as_deref(),
    };
    let summary = fieldlink_client::evidence_export::verify_package(file, &trust)
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let mut json = serde_json::to_value(&summary)?;
    json["log_key_trusted"] = serde_json::Value::Bool(trusted.is_some());
    print_line(&json)?;
    if summary.ok {
        Ok(())
    } else {
        Err(CliError::Unverified(format!(
            "{} check(s) failed in {}",
            summary.failures.len(),
            file.display()
        )))
    }
}
