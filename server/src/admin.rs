//! What the administration commands do to a server's stored data (the
//! `fieldlink-server tokens` and `devices` commands): each opens the
//! database the configuration names, does one thing, and closes it. Running
//! nodes act on the result within `directory_refresh_interval_ms`.

use crate::config::Config;
use crate::storage::DeviceRecord;

/// Why a command failed.
pub type AdminError = Box<dyn std::error::Error + Send + Sync>;

/// Revokes every session token of `officer_id`; returns how many. Every
/// node ends the sessions holding them at its next refresh.
pub async fn revoke_tokens(config: &Config, officer_id: &str) -> Result<u64, AdminError> {
    fieldlink_protocol::validate::officer_id("officer", officer_id)?;
    let (storage, _) = crate::stored_data::open(config).await?;
    let (_, officers) = storage.load_directory().await?;
    if !officers.iter().any(|o| o.id == officer_id) {
        storage.close().await;
        return Err(format!("{officer_id} is not in the directory").into());
    }
    let revoked = storage
        .revoke_session_tokens(officer_id, crate::state::system_clock_ms())
        .await;
    storage.close().await;
    Ok(revoked?)
}

/// Every device certificate the nodes have seen, with its revocation.
pub async fn devices(config: &Config) -> Result<Vec<DeviceRecord>, AdminError> {
    let (storage, _) = crate::stored_data::open(config).await?;
    let devices = storage.devices().await;
    storage.close().await;
    Ok(devices?)
}
