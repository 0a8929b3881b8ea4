//! Starting, running and stopping the server.
//!
//! [`start`] opens storage, loads the directory and catalogue, binds the QUIC
//! endpoint and returns a [`RunningServer`]; [`run`] does the same and serves
//! until a shutdown signal. Shutdown is graceful: stop accepting, let
//! in-flight requests finish their commits, then close every connection with
//! the `SHUTTING_DOWN` application code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fieldlink_protocol::close_code;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalogue::{Catalogue, CatalogueError};
use crate::config::{Config, ConfigError};
use crate::connection;
use crate::directory::{Directory, DirectoryFile};
use crate::evidence::Evidence;
use crate::handshake_gate::Admission;
use crate::state::{system_clock_ms, AppState};
use crate::storage::group_commit::{CommitStats, GroupCommitter};
use crate::storage::postgres::PgStorage;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{Storage, StorageError};
use crate::{tls, transport};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// TLS files missing or refused.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The catalogue could not be loaded.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The directory could not be loaded or imported.
    #[error("directory: {0}")]
    Directory(String),
    /// Storage could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database's epoch could not be settled.
    #[error("database epoch: {0}")]
    Epoch(#[from] crate::database_epoch::EpochError),
    /// The monitor registry, the alert sources or the zones could not be loaded.
    #[error("intake: {0}")]
    Intake(String),
    /// The transparency log's key is missing or refused.
    #[error(transparent)]
    LogKey(#[from] crate::transparency::LogKeyError),
    /// The socket or endpoint could not be set up.
    #[error("cannot listen on {addr}: {detail}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What went wrong.
        detail: String,
    },
}

/// A server that is accepting connections.
pub struct RunningServer {
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    console_addr: Option<SocketAddr>,
    console_https_addr: Option<SocketAddr>,
    hj212_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    state: AppState,
}

impl RunningServer {
    /// The bound UDP address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound TCP address of fieldlink/1 over TLS and HTTP/2, when served.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The console's HTTP address, when it serves one.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// The HJ 212 listener's address, when monitors are served.
    pub fn hj212_addr(&self) -> Option<SocketAddr> {
        self.hj212_addr
    }

    /// The console's HTTPS address, when it serves one.
    pub fn console_https_addr(&self) -> Option<SocketAddr> {
        self.console_https_addr
    }

    /// The shared state, for tests and tools that inspect storage.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops gracefully and waits until done.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until the server stops (after [`RunningServer::shutdown_token`] fires).
    pub async fn wait(self) {
        // Our copy of the state holds the commit queue open; the writer ends
        // only when every copy is gone.
        let Self { task, state, .. } = self;
        drop(state);
        let _ = task.await;
    }

    /// The token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Starts the server with `config`.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    start_with_clock(config, system_clock_ms).await
}

/// Starts the server with an injected clock (tests).
pub async fn start_with_clock(config: Config, clock: fn() -> i64) -> Result<RunningServer, ServerError> {
    start_wrapped(config, clock, |storage| storage).await
}

/// Starts the server storing through `wrap(storage)`, where `storage` is
/// what the configuration names: a harness can put a layer between the
/// services and the database (the benchmarks' in-memory commit sink).
pub async fn start_wrapped(
    config: Config,
    clock: fn() -> i64,
    wrap: impl FnOnce(Arc<dyn Storage>) -> Arc<dyn Storage>,
) -> Result<RunningServer, ServerError> {
    config.check()?;
    let tls_files = config.tls_files()?;
    if !config.dev && tls_files.crl.is_none() {
        tracing::warn!("no CRL (--allow-no-crl): a lost or stolen handheld cannot be revoked");
    }
    let crypto = tls::server_config(&tls_files, config.dev)?;
    let log_signer = Arc::new(crate::transparency::LogSigner::load(
        &config.log_key_file()?,
        &config.log_origin,
        config.dev,
    )?);
    let catalogue = match &config.catalogue {
        Some(path) => Catalogue::from_file(path)?,
        None => Catalogue::demo(),
    };

    std::fs::create_dir_all(&config.data_dir).map_err(|e| ServerError::Listen {
        addr: config.listen,
        detail: format!("cannot create data dir {}: {e}", config.data_dir.display()),
    })?;
    // SQLite in the data directory, or a PostgreSQL database shared by
    // several nodes (whose pushes then travel through the relay).
    let (storage, relay_url): (Arc<dyn Storage>, Option<String>) = match &config.database {
        None => (
            Arc::new(SqliteStorage::open(&config.data_dir.join("fieldlink.sqlite")).await?),
            None,
        ),
        Some(url) => {
            let storage = match &config.database_owner {
                Some(owner) => {
                    PgStorage::open_with_owner(url, owner, config.database_connections_max).await?
                }
                None => PgStorage::open(url, config.database_connections_max).await?,
            };
            (Arc::new(storage), Some(url.clone()))
        }
    };
    let storage = wrap(storage);
    // Items stored before the transparency log existed get their leaves
    // before anything new is accepted.
    loop {
        let appended = storage.append_unlogged(1000).await?;
        if appended == 0 {
            break;
        }
        tracing::info!(appended, "gave stored items their log leaves");
    }
    // Which history of seqs this is: a database restored behind this
    // node's back starts a new one here.
    let database_epoch = crate::database_epoch::settle(
        storage.as_ref(),
        &crate::database_epoch::marker_path(&config.data_dir),
        clock(),
    )
    .await?;
    let epoch_marker = crate::database_epoch::EpochMarker::new(database_epoch.epoch, &config.data_dir);
    tracing::info!(epoch = %database_epoch.epoch, number = database_epoch.number, "database epoch");
    let evidence =
        Evidence::open(&config.data_dir.join("evidence"), config.evidence_s3().as_ref()).map_err(|e| {
            ServerError::Listen {
                addr: config.listen,
                detail: format!("cannot open the evidence store: {e}"),
            }
        })?;
    let directory = load_directory(&config, storage.as_ref()).await?;

    let tcp_tls = crate::swappable::Swappable::new(crate::tls::tcp_server_config(crypto.clone()));
    transport::warn_if_uploads_can_fill_the_window(&config);
    let server_config = transport::server_config(crypto, &config).map_err(|detail| ServerError::Listen {
        addr: config.listen,
        detail,
    })?;
    let socket =
        transport::bind_udp(config.listen, config.udp_buffer_bytes).map_err(|e| ServerError::Listen {
            addr: config.listen,
            detail: e.to_string(),
        })?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server_config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| ServerError::Listen {
        addr: config.listen,
        detail: e.to_string(),
    })?;
    let local_addr = endpoint.local_addr().map_err(|e| ServerError::Listen {
        addr: config.listen,
        detail: e.to_string(),
    })?;

    let shutdown = CancellationToken::new();
    let commit_stats = Arc::new(CommitStats::default());
    let (committer, writer) = GroupCommitter::start(
        storage.clone(),
        config.commit_batch_items_max,
        config.commit_queue_items_max,
        commit_stats.clone(),
        clock,
    );
    let device_limits = crate::device_limits::DeviceLimits::new(crate::device_limits::DeviceLimitSettings {
        connections_max: config.connections_per_device_max,
        uploads_max: config.concurrent_uploads_per_device_max,
        uploads_total_max: config.concurrent_uploads_max,
        requests_per_second: config.requests_per_second_per_device,
        request_burst: config.request_burst_per_device,
    });
    let handshakes = crate::handshake_gate::HandshakeGate::new(
        config.pending_handshakes_max,
        config.handshake_retry_above,
    );
    let push = match relay_url {
        None => crate::push::PushHub::default(),
        Some(_) => crate::push::PushHub::relayed(crate::push::PUSH_BUFFER_EVENTS),
    };
    let metrics: Arc<crate::metrics::Metrics> = Arc::default();
    let events = crate::storage::event_commit::EventCommitter::start(
        storage.clone(),
        crate::storage::event_commit::Publisher {
            push: push.clone(),
            metrics: metrics.clone(),
            clock,
        },
    );
    let password_checks = crate::password_checks::PasswordChecks::new(config.password_checks_max);
    let alert_sources = match (&config.alert_sources, config.dev) {
        (Some(path), _) => crate::intake::alert_sources::AlertSources::from_file(path, &|team| {
            directory.team(team).is_some()
        })
        .map_err(ServerError::Intake)?,
        (None, true) => crate::intake::alert_sources::AlertSources::demo(),
        (None, false) => crate::intake::alert_sources::AlertSources::default(),
    };
    let zones = match (&config.zones, config.dev) {
        (Some(path), _) => {
            crate::intake::zones::Zones::from_file(path, &|team| directory.team(team).is_some(), &|code| {
                catalogue.matter(code).is_some()
            })
            .map_err(ServerError::Intake)?
        }
        (None, true) => crate::intake::zones::Zones::demo().map_err(ServerError::Intake)?,
        (None, false) => crate::intake::zones::Zones::default(),
    };
    let state = AppState {
        zones: Arc::new(zones),
        alert_sources: Arc::new(alert_sources),
        password_checks,
        sign_in_lockout: Arc::default(),
        config: Arc::new(config),
        events,
        cursors: crate::storage::cursor_commit::CursorCommitter::start(storage.clone(), clock),
        delivery_marks: crate::delivery_marks::DeliveryMarks::default(),
        storage,
        committer,
        commit_stats,
        directory: crate::swappable::Swappable::new(directory),
        catalogue: crate::swappable::Swappable::new(catalogue),
        log_signer,
        evidence: Arc::new(evidence),
        push,
        live: crate::revocation::LiveConnections::default(),
        device_limits,
        handshakes,
        node_id: uuid::Uuid::now_v7().to_string(),
        database_epoch: database_epoch.epoch.to_string(),
        presence: crate::presence::Presence::default(),
        positions: Arc::default(),
        metrics,
        shutdown: shutdown.clone(),
        clock,
    };
    tokio::spawn(epoch_marker.clone().keep(state.storage.clone(), shutdown.clone()));
    tokio::spawn(crate::reload::refresh_from_database(
        state.clone(),
        std::time::Duration::from_millis(state.config.directory_refresh_interval_ms),
        shutdown.clone(),
    ));
    #[cfg(unix)]
    tokio::spawn(crate::reload::reload_on_hangup(state.clone(), shutdown.clone()));
    tokio::spawn(crate::evidence::janitor::run(state.clone(), shutdown.clone()));
    crate::evidence::bulk_thread::set_nice_step(state.config.bulk_nice);
    tokio::spawn(crate::evidence::media_worker::run(
        state.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::audit::run_scrub(
        state.storage.clone(),
        state.evidence.clone(),
        state.log_signer.clone(),
        state.metrics.clone(),
        std::time::Duration::from_millis(state.config.scrub_interval_ms),
        shutdown.clone(),
    ));
    let witnesses = crate::witness_client::endpoints(&state.config.witnesses).map_err(|detail| {
        crate::config::ConfigError::Invalid {
            key: "witnesses",
            detail,
        }
    })?;
    tokio::spawn(crate::checkpoint_signer::run_signer(
        state.storage.clone(),
        state.log_signer.clone(),
        state.clock,
        witnesses,
        state.metrics.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::positions::sample(
        state.positions.clone(),
        state.storage.clone(),
        state.config.position_sample_ms,
        i64::from(state.config.position_retention_days) * 24 * 3_600_000,
        state.clock,
        shutdown.clone(),
    ));
    if let Some(url) = relay_url {
        let after = state.storage.latest_assignment_seq().await?;
        tokio::spawn(crate::relay::run(state.clone(), url, after, shutdown.clone()));
        tokio::spawn(crate::presence::share(
            state.presence.clone(),
            state.storage.clone(),
            state.node_id.clone(),
            state.clock,
            shutdown.clone(),
        ));
    }
    if let Some(crl) = tls_files.crl.clone() {
        // The CRL the handshakes start with, read once: its serials are
        // checked at registration, its number is the floor for new ones.
        let in_force = match std::fs::read(&tls_files.ca)
            .map_err(|e| e.to_string())
            .and_then(|ca| crate::revocation::revoked_serials(&crl, &ca).map_err(|e| e.to_string()))
        {
            Ok(revoked) => {
                state.live.set_revoked(revoked.serials);
                revoked.number
            }
            Err(error) => {
                tracing::warn!(%error, "the CRL's serials could not be read at start");
                0
            }
        };
        let watch = crate::revocation::CrlWatch {
            config: state.config.clone(),
            live: state.live.clone(),
            storage: state.storage.clone(),
            clock: state.clock,
            metrics: state.metrics.clone(),
            shutdown: state.shutdown.clone(),
            tcp_tls: state.config.tcp.map(|_| tcp_tls.clone()),
        };
        tokio::spawn(crate::revocation::watch_crl(
            watch,
            endpoint.clone(),
            crl,
            in_force,
        ));
    }
    tokio::spawn(crate::services::assignment::run_overdue_checks(
        state.clone(),
        shutdown.clone(),
    ));
    let console_addr = match state.config.http {
        None => None,
        Some(addr) => {
            let listener = crate::console::bind(addr, state.config.dev)
                .await
                .map_err(|detail| ServerError::Listen { addr, detail })?;
            let bound = listener.local_addr().map_err(|e| ServerError::Listen {
                addr,
                detail: e.to_string(),
            })?;
            tokio::spawn(crate::console::serve(state.clone(), listener, shutdown.clone()));
            tracing::info!(%bound, "console listening");
            Some(bound)
        }
    };
    let console_https_addr = match state.config.https {
        None => None,
        Some(addr) => {
            let listen_error = |detail: String| ServerError::Listen { addr, detail };
            let tls = tls::console_config(&tls_files).map_err(|e| listen_error(e.to_string()))?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| listen_error(e.to_string()))?;
            let bound = listener.local_addr().map_err(|e| listen_error(e.to_string()))?;
            tokio::spawn(crate::console::serve_tls(
                state.clone(),
                listener,
                tls,
                shutdown.clone(),
            ));
            tracing::info!(%bound, "console listening (HTTPS)");
            Some(bound)
        }
    };
    let hj212_addr = start_hj212(&state, &shutdown).await?;
    let trackers = Trackers {
        connections: TaskTracker::new(),
        requests: TaskTracker::new(),
    };
    let tcp_addr = match state.config.tcp {
        None => None,
        Some(addr) => {
            let listener = bind_tcp(addr, local_addr).await?;
            let bound = listener.local_addr().map_err(|e| ServerError::Listen {
                addr,
                detail: e.to_string(),
            })?;
            tokio::spawn(crate::tcp::serve(
                state.clone(),
                listener,
                tcp_tls,
                shutdown.clone(),
                trackers.connections.clone(),
                trackers.requests.clone(),
            ));
            tracing::info!(%bound, "listening on TCP (TLS, HTTP/2)");
            Some(bound)
        }
    };
    let task = tokio::spawn(accept_loop(
        endpoint,
        state.clone(),
        shutdown.clone(),
        writer,
        epoch_marker,
        trackers,
    ));
    tracing::info!(%local_addr, "listening");
    Ok(RunningServer {
        local_addr,
        tcp_addr,
        console_addr,
        console_https_addr,
        hj212_addr,
        shutdown,
        task,
        state,
    })
}

/// Loads the monitor registry and starts the HJ 212 listener, when configured.
async fn start_hj212(
    state: &AppState,
    shutdown: &CancellationToken,
) -> Result<Option<SocketAddr>, ServerError> {
    let Some(addr) = state.config.hj212 else {
        return Ok(None);
    };
    let registry = match &state.config.monitors {
        Some(path) => crate::intake::monitor_registry::MonitorRegistry::from_file(
            path,
            &|team| state.directory.get().team(team).is_some(),
            &|code| state.catalogue.get().matter(code).is_some(),
        ),
        None => crate::intake::monitor_registry::MonitorRegistry::demo(),
    }
    .map_err(ServerError::Intake)?;
    let monitors = registry.len();
    let intake = Arc::new(crate::intake::Intake::new(registry, (state.clock)()));
    let listener = crate::intake::hj212_listener::bind(addr)
        .await
        .map_err(|detail| ServerError::Listen { addr, detail })?;
    let bound = listener.local_addr().map_err(|e| ServerError::Listen {
        addr,
        detail: e.to_string(),
    })?;
    tokio::spawn(crate::intake::hj212_listener::serve(
        state.clone(),
        intake,
        listener,
        shutdown.clone(),
    ));
    tracing::info!(%bound, monitors, "HJ 212 listener for monitors");
    Ok(Some(bound))
}

/// Starts the server and serves until `signal` completes, then shuts down gracefully.
pub async fn run(config: Config, signal: impl std::future::Future<Output = ()>) -> Result<(), ServerError> {
    let server = start(config).await?;
    // Whoever started us may read the first line and close the pipe: a
    // failed write to stdout is not an error (print! would panic on it).
    let console = server
        .console_addr()
        .map(|addr| format!("supervisor console (指挥台) on http://{addr}/\n"))
        .into_iter()
        .chain(
            server
                .console_https_addr()
                .map(|addr| format!("supervisor console (指挥台) on https://{addr}/\n")),
        )
        .chain(
            server
                .hj212_addr()
                .map(|addr| format!("HJ 212 monitors (在线监测) on tcp://{addr}\n")),
        )
        .collect::<String>();
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let tcp = server
            .tcp_addr()
            .map(|addr| format!("terminals over TCP (TLS, HTTP/2) on {addr}\n"))
            .unwrap_or_default();
        let _ = write!(
            stdout,
            "fieldlink-server listening on {}\n{tcp}{console}",
            server.local_addr()
        );
        let _ = stdout.flush();
    }
    signal.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn load_directory(config: &Config, storage: &dyn Storage) -> Result<Directory, ServerError> {
    if let Some(path) = &config.directory {
        let file = DirectoryFile::from_file(path).map_err(ServerError::Directory)?;
        storage.upsert_directory(&file.teams, &file.officers).await?;
    }
    let (mut teams, mut officers) = storage.load_directory().await?;
    if officers.is_empty() && config.dev {
        tracing::info!("seeding the demo directory (first --dev start)");
        let demo = tokio::task::spawn_blocking(DirectoryFile::demo)
            .await
            .map_err(|e| ServerError::Directory(e.to_string()))?
            .map_err(|e| ServerError::Directory(e.to_string()))?;
        storage.upsert_directory(&demo.teams, &demo.officers).await?;
        (teams, officers) = storage.load_directory().await?;
    }
    if officers.is_empty() {
        tracing::warn!("the directory is empty: nobody can sign in (set `directory` in the config)");
    }
    Ok(Directory::new(teams, officers))
}

/// The tasks of every connection (QUIC and TCP) and of their requests,
/// waited for at shutdown.
struct Trackers {
    connections: TaskTracker,
    requests: TaskTracker,
}

/// Binds the TCP listener. Port 0 means the QUIC port when it is free on
/// TCP too (terminals then need one port number), else any free port.
async fn bind_tcp(addr: SocketAddr, quic: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    let listen_error = |e: std::io::Error| ServerError::Listen {
        addr,
        detail: e.to_string(),
    };
    if addr.port() == 0 && addr.ip() == quic.ip() {
        if let Ok(listener) = tokio::net::TcpListener::bind(quic).await {
            return Ok(listener);
        }
    }
    tokio::net::TcpListener::bind(addr).await.map_err(listen_error)
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    state: AppState,
    shutdown: CancellationToken,
    writer: tokio::task::JoinHandle<()>,
    epoch_marker: crate::database_epoch::EpochMarker,
    trackers: Trackers,
) {
    let Trackers {
        connections,
        requests,
    } = trackers;
    loop {
        tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => {
                    let admission = state
                        .handshakes
                        .admit(incoming.remote_address_validated(), incoming.may_retry());
                    match admission {
                        Admission::Proceed(permit) => {
                            connections.spawn(connection::serve_connection(
                                state.clone(),
                                incoming,
                                permit,
                                shutdown.clone(),
                                requests.clone(),
                            ));
                        }
                        Admission::Retry => {
                            if incoming.retry().is_err() {
                                tracing::debug!("retry refused by quinn");
                            }
                        }
                        Admission::Refuse => {
                            tracing::info!(remote = %incoming.remote_address(), "handshake refused: too many pending");
                            incoming.refuse();
                        }
                    }
                }
                None => break,
            },
            () = shutdown.cancelled() => break,
        }
    }
    // Stop accepting: new handshakes are refused from here on.
    endpoint.set_server_config(None);
    shutdown.cancel();
    connections.close();
    requests.close();
    let grace = Duration::from_millis(state.config.shutdown_grace_ms);
    let _ = tokio::time::timeout(grace, connections.wait()).await;
    if tokio::time::timeout(grace, requests.wait()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    endpoint.close(close_code::SHUTTING_DOWN.into(), b"server shutting down");
    // Every request has its answer; stop the writer once its queue is empty.
    let storage = state.storage.clone();
    drop(state);
    let _ = tokio::time::timeout(grace, writer).await;
    // The last word on what this database held, for the next start's check.
    if let Err(error) = epoch_marker.update(storage.as_ref()).await {
        tracing::warn!(%error, "database epoch marker not updated at shutdown");
    }
    storage.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    tracing::info!("stopped");
}
