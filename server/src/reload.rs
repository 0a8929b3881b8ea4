//! Administration without a restart: the directory and the catalogue are
//! reloaded on SIGHUP and from the console, each checked whole first (a bad
//! file is refused and the one in force stays); an officer the directory no
//! longer lists, or lists as not enrolled, loses their session tokens and
//! their live sessions at once. Every node also re-reads the stored
//! directory and the revoked tokens every `directory_refresh_interval_ms`,
//! so a reload on one node, or `fieldlink-server tokens revoke`, ends the
//! sessions on all of them.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::catalogue::{Catalogue, CatalogueError};
use crate::directory::{Directory, DirectoryFile};
use crate::state::AppState;
use crate::storage::StorageError;

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The directory file is unreadable or invalid; the directory in force stays.
    #[error("directory: {0}")]
    Directory(String),
    /// The catalogue file is unreadable or invalid; the catalogue in force stays.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The database could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a directory reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DirectoryReloaded {
    /// People in the directory now.
    pub officers: usize,
    /// Of them, enrolled.
    pub enrolled: usize,
    /// Officers who were enrolled and no longer are.
    pub disabled: Vec<String>,
    /// Live sessions ended.
    pub sessions_closed: usize,
}

/// What a catalogue reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogueReloaded {
    /// Versions in the file.
    pub versions: usize,
    /// The version in force now.
    pub current: Option<String>,
    /// Its matters.
    pub matters: usize,
}

/// Reads the directory file (when one is configured) into the database —
/// those it lists upserted, enrolled officers it does not list disabled —
/// and puts the stored directory in force.
pub async fn reload_directory(state: &AppState) -> Result<DirectoryReloaded, ReloadError> {
    if let Some(path) = &state.config.directory {
        let file = DirectoryFile::from_file(path).map_err(ReloadError::Directory)?;
        state
            .storage
            .upsert_directory(&file.teams, &file.officers)
            .await?;
        let listed: Vec<String> = file.officers.iter().map(|o| o.id.clone()).collect();
        state.storage.disable_officers_not_in(&listed).await?;
    }
    apply_stored_directory(state).await
}

/// Puts the directory stored in the database in force: those no longer
/// enrolled lose their tokens and live sessions.
pub async fn apply_stored_directory(state: &AppState) -> Result<DirectoryReloaded, ReloadError> {
    let (teams, officers) = state.storage.load_directory().await?;
    let fresh = Directory::new(teams, officers);
    let before = state.directory.get();
    let disabled: Vec<String> = before
        .officers()
        .into_iter()
        .filter(|o| o.enrolled && fresh.enrolled_officer(&o.id).is_none())
        .map(|o| o.id.clone())
        .collect();
    let now_ms = (state.clock)();
    for officer in &disabled {
        state.storage.revoke_session_tokens(officer, now_ms).await?;
    }
    let summary = DirectoryReloaded {
        officers: fresh.len(),
        enrolled: fresh.officers().iter().filter(|o| o.enrolled).count(),
        disabled: disabled.clone(),
        sessions_closed: 0,
    };
    if *before != fresh {
        state.directory.replace(fresh);
    }
    let sessions_closed = state.live.close_officers(&disabled.into_iter().collect());
    if sessions_closed > 0 || !summary.disabled.is_empty() {
        tracing::info!(disabled = ?summary.disabled, sessions_closed, "directory: officers taken out of service");
    }
    Ok(DirectoryReloaded {
        sessions_closed,
        ..summary
    })
}

/// Reads the catalogue file (the demo one under `--dev` without a file) and
/// puts it in force.
pub async fn reload_catalogue(state: &AppState) -> Result<CatalogueReloaded, ReloadError> {
    Ok(put_catalogue(state, read_catalogue(state).await?))
}

/// Reads and checks the configured catalogue file (the demo one under
/// `--dev` without a file), changing nothing.
pub async fn read_catalogue(state: &AppState) -> Result<Catalogue, ReloadError> {
    Ok(match state.config.catalogue.clone() {
        Some(path) => tokio::task::spawn_blocking(move || Catalogue::from_file(&path))
            .await
            .map_err(|e| CatalogueError::Invalid(e.to_string()))??,
        None => Catalogue::demo(),
    })
}

/// Puts a checked catalogue in force.
pub fn put_catalogue(state: &AppState, catalogue: Catalogue) -> CatalogueReloaded {
    let summary = CatalogueReloaded {
        versions: catalogue.versions().len(),
        current: catalogue.current().map(|v| v.version.clone()),
        matters: catalogue.len(),
    };
    state.catalogue.replace(catalogue);
    tracing::info!(versions = summary.versions, current = ?summary.current, "catalogue reloaded");
    summary
}

/// Every `interval`: the stored directory put in force (another node's
/// reload), and the live sessions of tokens revoked since the last look
/// (`tokens revoke`, any node's reload) ended. Until `shutdown`.
pub async fn refresh_from_database(state: AppState, interval: Duration, shutdown: CancellationToken) {
    // Looks back a little more than an interval: clocks of several nodes
    // differ, and closing a session twice is harmless.
    let overlap_ms = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_mul(2);
    let mut since_ms = (state.clock)();
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
        let now_ms = (state.clock)();
        match state
            .storage
            .tokens_revoked_since(since_ms.saturating_sub(overlap_ms))
            .await
        {
            Ok(digests) => {
                let revoked: HashSet<Vec<u8>> = digests.into_iter().collect();
                let closed = state.live.close_tokens(&revoked);
                if closed > 0 {
                    tracing::info!(closed, "sessions of revoked tokens ended");
                }
                since_ms = now_ms;
            }
            Err(error) => tracing::warn!(%error, "cannot read revoked session tokens"),
        }
        if let Err(error) = apply_stored_directory(&state).await {
            tracing::warn!(%error, "cannot refresh the directory from the database");
        }
    }
}

/// Reloads both on every SIGHUP until `shutdown` (Unix).
#[cfg(unix)]
pub async fn reload_on_hangup(state: AppState, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: reload from the console instead");
        return;
    };
    loop {
        tokio::select! {
            received = hangups.recv() => if received.is_none() { return },
            () = shutdown.cancelled() => return,
        }
        tracing::info!("SIGHUP: reloading the directory and the catalogue");
        match reload_directory(&state).await {
            Ok(done) => tracing::info!(?done, "directory reloaded"),
            Err(error) => tracing::error!(%error, "directory reload refused; the directory in force stays"),
        }
        if let Err(error) = reload_catalogue(&state).await {
            tracing::error!(%error, "catalogue reload refused; the catalogue in force stays");
        }
    }
}
