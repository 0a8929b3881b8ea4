//! Shared by the examples: the development connection settings.
//!
//! The examples talk to `cargo run -p fieldlink-server -- serve --dev` on
//! 127.0.0.1:4433 with the development certificates. A real terminal app
//! reads its device certificate and key from the platform's secure storage
//! and asks the officer for their password once per shift.

use std::path::PathBuf;

use fieldlink_client::{ClientConfig, Credentials};

/// Settings for `device` signing in as `officer` with the demo password.
pub fn dev_config(device: &str, officer: &str) -> ClientConfig {
    let certs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs-dev");
    let server = std::env::var("FIELDLINK_SERVER").unwrap_or_else(|_| "127.0.0.1:4433".into());
    ClientConfig::from_files(
        server.parse().expect("FIELDLINK_SERVER is an address"),
        "localhost",
        &certs.join("ca.pem"),
        &certs.join(format!("{device}.pem")),
        &certs.join(format!("{device}.key")),
        Credentials::Password {
            officer_id: officer.into(),
            password: "demo-password".into(),
        },
    )
    .expect("the development certificates are in certs-dev/")
}
