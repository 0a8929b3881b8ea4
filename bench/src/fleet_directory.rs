//! A directory of many officers for the scenarios that need one terminal per
//! officer (one assignment each), and the terminals that sign in as them.
//!
//! Every officer's password hash uses argon2id with the smallest parameters
//! (8 KiB, 1 pass): thousands of sign-ins are set-up here, not what is
//! measured. Production directories use `fieldlink-server hash-password`.

use std::fmt::Write;
use std::net::SocketAddr;

use argon2::password_hash::{PasswordHasher, SaltString};
use fieldlink_client::{Client, ClientConfig};
use fieldlink_tests::{client_config, PASSWORD};

/// The team every bench officer belongs to.
pub const TEAM: &str = "bench-team";

/// The id of bench officer `index`.
pub fn officer(index: usize) -> String {
    format!("bench-{index:05}")
}

/// Writes a directory with `count` officers in [`TEAM`] and `supervisor-01`.
pub fn write(count: usize) -> Result<tempfile::NamedTempFile, String> {
    let params = argon2::Params::new(8, 1, 1, None).map_err(|e| e.to_string())?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::from_b64("ZmllbGRsaW5rYmVuY2g").map_err(|e| e.to_string())?;
    let hash = hasher
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let mut text = format!("[[teams]]\nid = \"{TEAM}\"\nname = \"{TEAM}\"\n\n");
    let people = (0..count)
        .map(|index| (officer(index), "officer"))
        .chain(std::iter::once(("supervisor-01".to_owned(), "supervisor")));
    for (number, (id, role)) in people.enumerate() {
        let _ = writeln!(
            text,
            "[[officers]]\nid = \"{id}\"\nname = \"{id}\"\nteam_id = \"{TEAM}\"\n\
             credential_number = \"B{number:05}\"\nrole = \"{role}\"\npassword_hash = \"{hash}\"\n"
        );
    }
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), text).map_err(|e| e.to_string())?;
    Ok(file)
}

/// The terminal configuration of bench officer `index` (on one of the three
/// dev device certificates).
pub fn terminal_config(addr: SocketAddr, index: usize) -> ClientConfig {
    let device = ["device-001", "device-002", "device-003"][index % 3];
    client_config(addr, device, &officer(index))
}

/// Connects every configuration, `parallel` at a time, in order.
pub async fn connect_all(configs: Vec<ClientConfig>, parallel: usize) -> Result<Vec<Client>, String> {
    let mut clients = Vec::with_capacity(configs.len());
    let mut configs = configs.into_iter().peekable();
    while configs.peek().is_some() {
        let batch: Vec<_> = configs
            .by_ref()
            .take(parallel.max(1))
            .map(|config| tokio::spawn(Client::connect(config)))
            .collect();
        for task in batch {
            clients.push(
                task.await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("terminal sign-in: {e}"))?,
            );
        }
    }
    Ok(clients)
}
