//! `fieldlink-server`: parse the command line, set up logging, call the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use fieldlink_server::tls::TlsFiles;
use fieldlink_server::Config;

/// The fieldlink server for field-enforcement terminals.
#[derive(Debug, Parser)]
#[command(name = "fieldlink-server", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server in the foreground (Ctrl-C or SIGTERM stops it gracefully).
    Serve(Box<ServeArgs>),
    /// Generate a development certificate set (CA, server, devices, CRL) into DIR.
    Certs {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Read a password from standard input and print its argon2id hash, for directory files.
    HashPassword,
    /// Recompute the transparency log from the stored items and photo
    /// originals and check it against the signed checkpoints. Prints one
    /// JSON report; exits 1 naming every altered, missing or extra item.
    Audit(AuditArgs),
    /// Write a package of evidence that anyone can verify offline with
    /// `fieldlink verify` (the export is logged as a custody event).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Generate the transparency log's key pair: the private key into OUT
    /// (guard it like the TLS key; give it to `serve --log-key`), the
    /// verifier key into OUT.pub and on stdout (give it to terminals and
    /// verifiers).
    LogKey {
        /// The key's name (no spaces or '+'), e.g. the log origin's host.
        #[arg(long)]
        name: String,
        /// The private key file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a witness: an independent process with its own key that cosigns
    /// the log's checkpoints (C2SP tlog-cosignature) only when each extends
    /// the last one it cosigned. Serves add-checkpoint over HTTP until
    /// Ctrl-C or SIGTERM; prints its address and verifier key.
    Witness(WitnessArgs),
    /// Generate a witness key pair: the private key into OUT, the
    /// cosignature verifier key into OUT.pub and on stdout.
    WitnessKey {
        /// The witness's name (no spaces or '+'), e.g. its host name.
        #[arg(long)]
        name: String,
        /// The private key file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// After restoring the database from a backup (servers stopped), start
    /// a new database epoch: terminals then resend what they hold and
    /// reset their feed cursors (docs/operations.md, "Restoring a backup").
    /// Prints the new epoch as JSON.
    NewEpoch {
        #[command(flatten)]
        data: DataArgs,
        /// Why, as recorded with the epoch.
        #[arg(long, default_value = "restored")]
        reason: String,
    },
    /// Session tokens: `tokens revoke --officer ID` ends an officer's
    /// sessions on every node (within directory_refresh_interval_ms).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Device certificates: `devices issue` makes one from the agency CA;
    /// `devices list` shows those the nodes have seen and their revocation.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Revoke a lost or stolen device: add its certificate to the CRL. A
    /// running server applies the new CRL within a second, without a restart.
    RevokeDevice {
        /// The agency CA certificate.
        #[arg(long)]
        ca: PathBuf,
        /// The agency CA private key.
        #[arg(long)]
        ca_key: PathBuf,
        /// The CRL to update (the file the server reads).
        #[arg(long)]
        crl: PathBuf,
        /// The device's certificate.
        #[arg(long)]
        cert: PathBuf,
    },
}

/// Where a command finds the server's stored data.
#[derive(Debug, Args)]
struct DataArgs {
    /// The server's TOML configuration file (data_dir, database, log key).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The server's data directory (its SQLite file and evidence store).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The PostgreSQL URL, when the nodes share one.
    #[arg(long)]
    database: Option<String>,
    /// The log's origin [default: the configured one].
    #[arg(long)]
    log_origin: Option<String>,
    /// Data made by `serve --dev` (its log key is certs-dev/log.key).
    #[arg(long)]
    dev: bool,
    /// Who runs the command, for its custody event [default: $USER].
    #[arg(long)]
    by: Option<String>,
}

impl DataArgs {
    fn into_config(self) -> Result<Config, fieldlink_server::config::ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.dev |= self.dev;
        if let Some(dir) = self.data_dir {
            config.data_dir = dir;
        }
        if self.database.is_some() {
            config.database = self.database;
        }
        if let Some(origin) = self.log_origin {
            config.log_origin = origin;
        }
        Ok(config)
    }
}

/// Where the data to audit is, and the key to check checkpoints with.
#[derive(Debug, Args)]
struct AuditArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The log's verifier key file (the `.pub` from `log-key`) [default:
    /// derived from the configured log key].
    #[arg(long)]
    log_pub: Option<PathBuf>,
}

/// How a witness runs.
#[derive(Debug, Args)]
struct WitnessArgs {
    /// The witness's private key file (from `witness-key`).
    #[arg(long)]
    key: PathBuf,
    /// The log's verifier key file (its `log.pub`).
    #[arg(long)]
    log_pub: PathBuf,
    /// The log's origin.
    #[arg(long, default_value = "fieldlink.local/evidence")]
    log_origin: String,
    /// The state file: the checkpoint last cosigned (created if missing).
    #[arg(long)]
    state: PathBuf,
    /// The HTTP address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7380")]
    listen: std::net::SocketAddr,
}

/// What to do with session tokens.
#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Revoke every session token of an officer: their terminals must sign
    /// in with a password again. Prints how many were revoked.
    Revoke {
        /// The officer.
        #[arg(long)]
        officer: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// What to do with device certificates.
#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Issue a device certificate and key (DEVICE.pem, DEVICE.key) signed by
    /// the agency CA. Prints one JSON summary with the serial number.
    Issue {
        /// The device id (the certificate's common name).
        #[arg(long)]
        id: String,
        /// The agency CA certificate.
        #[arg(long)]
        ca_cert: PathBuf,
        /// The agency CA private key.
        #[arg(long)]
        ca_key: PathBuf,
        /// Where to write the two files (refused if either exists).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 730)]
        days: u32,
    },
    /// List the device certificates the nodes have seen at handshakes, with
    /// when each was revoked. Prints JSON lines.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// What to export.
#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Every item of one case: their bytes as received, photo originals,
    /// inclusion proofs against one signed checkpoint, the log key, the CA
    /// certificate, a manifest and an index in Chinese and English
    /// (docs/evidence-export.md). Prints one JSON summary.
    Case {
        /// The case id.
        case_id: String,
        /// The package file to write (a tar file; refused if it exists).
        #[arg(long)]
        out: PathBuf,
        /// The log's private key [default: the configured one].
        #[arg(long)]
        log_key: Option<PathBuf>,
        /// A witness to cosign the package's checkpoint: "URL KEY"
        /// [default: the configured witnesses]. Repeat for several.
        #[arg(long = "witnesses")]
        witnesses: Vec<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Every key of the configuration file, as a flag that overrides it.
#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML configuration file; flags override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Development mode: certs-dev certificates, demo directory and catalogue.
    /// Never in production.
    #[arg(long)]
    dev: bool,
    /// UDP address to listen on [default: 127.0.0.1:4433]. Port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// TCP address for terminals whose network drops UDP: fieldlink/1 over
    /// TLS 1.3 and HTTP/2 [default with --dev: the --listen address and port
    /// where the port is free on TCP; otherwise none]. Port 0: the --listen
    /// port where free, else any.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,
    /// No TCP listener, even under --dev.
    #[arg(long, conflicts_with = "tcp")]
    no_tcp: bool,
    /// Directory for the database and evidence [default: ./fieldlink-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The supervisor console's HTTP address [default with --dev: 127.0.0.1:8080; otherwise none].
    #[arg(long)]
    http: Option<SocketAddr>,
    /// The supervisor console over HTTPS with the server certificate (any address) [default: none].
    #[arg(long)]
    https: Option<SocketAddr>,
    /// PostgreSQL URL for several nodes sharing one database (postgres://user@host:5432/db) [default: SQLite in the data dir].
    #[arg(long)]
    database: Option<String>,
    /// PostgreSQL URL of the role owning the schema: migrations run as it, and --database's role gets only the runtime grants [default: --database's role does both].
    #[arg(long)]
    database_owner: Option<String>,
    /// Connections to PostgreSQL per node [default: 16].
    #[arg(long)]
    database_connections_max: Option<u32>,
    /// S3-compatible bucket for photo blobs (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) [default: the data dir].
    #[arg(long)]
    evidence_s3_bucket: Option<String>,
    /// Endpoint URL of the S3-compatible store (MinIO, Ceph, …) [default: AWS].
    #[arg(long)]
    evidence_s3_endpoint: Option<String>,
    /// Region of the S3-compatible store [default: us-east-1].
    #[arg(long)]
    evidence_s3_region: Option<String>,
    /// Agency CA certificate (PEM) that issues device certificates.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Server certificate chain (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Certificate revocation list (PEM) of revoked devices.
    #[arg(long)]
    crl: Option<PathBuf>,
    /// Start without a CRL outside --dev (refused otherwise: a lost
    /// handheld could not be revoked).
    #[arg(long)]
    allow_no_crl: bool,
    /// The transparency log's signing key file. Required without --dev.
    #[arg(long)]
    log_key: Option<PathBuf>,
    /// The log's name, the first line of every checkpoint [default: fieldlink.local/evidence].
    #[arg(long)]
    log_origin: Option<String>,
    /// A witness that cosigns the log's checkpoints: "URL KEY" (its base
    /// URL and cosignature verifier key). Repeat for several.
    #[arg(long = "witnesses")]
    witnesses: Vec<String>,
    /// Enforcement-matters catalogue (JSON). Required without --dev.
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// Directory of teams and officers (TOML) to import at start.
    #[arg(long)]
    directory: Option<PathBuf>,
    /// Log JSON lines instead of human-readable text.
    #[arg(long)]
    log_json: bool,
    /// Largest request frame body in bytes [default: 1048576].
    #[arg(long)]
    frame_bytes_max: Option<u32>,
    /// Largest photo (JPEG, PNG, HEIC) in bytes [default: 26214400].
    #[arg(long)]
    photo_bytes_max: Option<u64>,
    /// Largest video (MP4, MOV) in bytes [default: 4294967296].
    #[arg(long)]
    video_bytes_max: Option<u64>,
    /// Largest audio recording (M4A, WAV, MP3) in bytes [default: 1073741824].
    #[arg(long)]
    audio_bytes_max: Option<u64>,
    /// Largest document (PDF) in bytes [default: 104857600].
    #[arg(long)]
    document_bytes_max: Option<u64>,
    /// How far ahead of the server clock item timestamps may be, ms [default: 300000].
    #[arg(long)]
    clock_skew_ms_max: Option<i64>,
    /// Requests a terminal may have in flight per connection [default: 16].
    #[arg(long)]
    concurrent_requests_max: Option<u32>,
    /// Close a connection idle for this long, ms [default: 30000].
    #[arg(long)]
    idle_timeout_ms: Option<u64>,
    /// Time a terminal has to send its hello, ms [default: 10000].
    #[arg(long)]
    hello_timeout_ms: Option<u64>,
    /// Time a request stream has to deliver its frame, ms [default: 30000].
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    /// Handshakes in progress at once [default: 1024].
    #[arg(long)]
    pending_handshakes_max: Option<u32>,
    /// Above this many pending handshakes, unvalidated clients get a QUIC Retry first (0: always) [default: 64].
    #[arg(long)]
    handshake_retry_above: Option<u32>,
    /// Request streams a connection may abandon per minute before it is closed [default: 600].
    #[arg(long)]
    abandoned_streams_per_minute_max: Option<u32>,
    /// Shortest interval between two position datagrams of one device, ms [default: 2000].
    #[arg(long)]
    position_interval_ms_min: Option<u32>,
    /// How often live positions are sampled into officers' tracks, ms [default: 30000].
    #[arg(long)]
    position_sample_ms: Option<u64>,
    /// Days a stored track point is kept [default: 30].
    #[arg(long)]
    position_retention_days: Option<u32>,
    /// UDP socket send and receive buffer in bytes [default: 4194304].
    #[arg(long)]
    udp_buffer_bytes: Option<usize>,
    /// QUIC receive window per stream in bytes [default: 2097152].
    #[arg(long)]
    stream_receive_window_bytes: Option<u32>,
    /// QUIC receive window per connection in bytes; keep it above the uploads per device times the stream window [default: 16777216].
    #[arg(long)]
    connection_receive_window_bytes: Option<u32>,
    /// QUIC send window per connection in bytes [default: 8388608].
    #[arg(long)]
    send_window_bytes: Option<u32>,
    /// Most items in one group commit [default: 512].
    #[arg(long)]
    commit_batch_items_max: Option<usize>,
    /// Items queued for commit before submitters wait [default: 8192].
    #[arg(long)]
    commit_queue_items_max: Option<usize>,
    /// Lifetime of an officer session token, ms [default: 43200000 = 12 h].
    #[arg(long)]
    session_token_ttl_ms: Option<i64>,
    /// How long shutdown waits for in-flight requests, ms [default: 10000].
    #[arg(long)]
    shutdown_grace_ms: Option<u64>,
    /// Upload bytes become durable in steps of this many bytes [default: 1048576].
    #[arg(long)]
    upload_checkpoint_bytes: Option<u32>,
    /// Upload checkpoints at most this often while a stream is healthy, ms [default: 1000].
    #[arg(long)]
    upload_checkpoint_interval_ms: Option<u64>,
    /// Cut off an upload stream silent for this long, ms [default: 30000].
    #[arg(long)]
    upload_chunk_timeout_ms: Option<u64>,
    /// Discard unfinished uploads this long after their last progress, ms [default: 86400000].
    #[arg(long)]
    partial_upload_ttl_ms: Option<i64>,
    /// Bytes of unfinished uploads one device may hold [default: 268435456].
    #[arg(long)]
    partial_bytes_per_device_max: Option<u64>,
    /// Images decoded at once after their receipts, for thumbnails; 0 pauses post-processing [default: 2].
    #[arg(long)]
    image_decodes_max: Option<usize>,
    /// Memory all those decodes may take at once, MiB [default: 768].
    #[arg(long)]
    decode_budget_mib: Option<u64>,
    /// Nice value added to bulk evidence threads (upload hashing, decodes), 0-19; 0 runs them like the rest [default: 10].
    #[arg(long)]
    bulk_nice: Option<i32>,
    /// Flag photos whose EXIF time differs by more than this, ms [default: 600000].
    #[arg(long)]
    exif_time_tolerance_ms: Option<i64>,
    /// Flag photos whose EXIF GPS is further than this from the declared place, metres [default: 500].
    #[arg(long)]
    exif_distance_tolerance_m: Option<f64>,
    /// UTC offset for EXIF times without one, minutes [default: 480].
    #[arg(long)]
    exif_default_utc_offset_minutes: Option<i32>,
    /// How often stale uploads and orphan blobs are discarded, ms [default: 600000].
    #[arg(long)]
    janitor_interval_ms: Option<u64>,
    /// Escalate a normal team assignment nobody accepted within this, ms [default: 1800000].
    #[arg(long)]
    acceptance_timeout_ms: Option<i64>,
    /// The same for urgent assignments, ms [default: 300000].
    #[arg(long)]
    acceptance_timeout_urgent_ms: Option<i64>,
    /// How often assignments past due are marked overdue, ms [default: 30000].
    #[arg(long)]
    overdue_check_interval_ms: Option<u64>,
    /// How often the CRL file is checked for changes, ms [default: 1000].
    #[arg(long)]
    crl_check_interval_ms: Option<u64>,
    /// How often the stored evidence is audited in the background, ms [default: 21600000].
    #[arg(long)]
    scrub_interval_ms: Option<u64>,
    /// Connections one device may hold at once [default: 8].
    #[arg(long)]
    connections_per_device_max: Option<usize>,
    /// Uploads one device may run at once [default: 4].
    #[arg(long)]
    concurrent_uploads_per_device_max: Option<usize>,
    /// Uploads the whole server runs at once [default: 256].
    #[arg(long)]
    concurrent_uploads_max: Option<usize>,
    /// Sustained requests per second per device [default: 200].
    #[arg(long)]
    requests_per_second_per_device: Option<f64>,
    /// Requests per device in a burst [default: 400].
    #[arg(long)]
    request_burst_per_device: Option<f64>,
    /// Password checks running at once across the server; one more sign-in
    /// is refused as RATE_LIMITED [default: 4].
    #[arg(long)]
    password_checks_max: Option<usize>,
    /// Console connections open at once [default: 256].
    #[arg(long)]
    console_connections_max: Option<usize>,
    /// Time a console client has to send a request's headers, ms [default: 10000].
    #[arg(long)]
    console_header_timeout_ms: Option<u64>,
    /// Longest a console connection stays open, ms [default: 3600000].
    #[arg(long)]
    console_connection_lifetime_ms: Option<u64>,
    /// How often each node re-reads the stored directory and revoked
    /// session tokens, ms [default: 5000].
    #[arg(long)]
    directory_refresh_interval_ms: Option<u64>,
    /// The console map's base layer: an XYZ tile URL template with {z}, {x}
    /// and {y} (HTTPS) [default: none, the map is drawn locally].
    #[arg(long)]
    console_map_tiles: Option<String>,
    /// The attribution the tile provider asks to be shown under the map.
    #[arg(long)]
    console_map_attribution: Option<String>,
    /// TCP address of the HJ 212 listener for monitors [default with --dev: 127.0.0.1:9212].
    #[arg(long)]
    hj212: Option<SocketAddr>,
    /// The monitor registry (TOML; docs/intake.md). Required with --hj212 without --dev.
    #[arg(long)]
    monitors: Option<PathBuf>,
    /// The platforms allowed to post AI-video alerts (TOML; docs/intake.md).
    #[arg(long)]
    alert_sources: Option<PathBuf>,
    /// Zones with their teams and auto-dispatch rules (TOML; docs/intake.md).
    #[arg(long)]
    zones: Option<PathBuf>,
    /// Monitor connections open at once [default: 4096].
    #[arg(long)]
    hj212_connections_max: Option<usize>,
    /// Close a monitor connection with no packet for this long, ms [default: 900000].
    #[arg(long)]
    hj212_idle_timeout_ms: Option<u64>,
    /// Time a monitor has to finish a packet it began, ms [default: 10000].
    #[arg(long)]
    hj212_packet_timeout_ms: Option<u64>,
    /// Sustained packets per second per monitor connection [default: 5].
    #[arg(long)]
    hj212_packets_per_second: Option<f64>,
    /// Packets per monitor connection in a burst [default: 120].
    #[arg(long)]
    hj212_packet_burst: Option<f64>,
    /// Reports within this distance of an open incident of their category join it, metres [default: 100].
    #[arg(long)]
    incident_join_radius_m: Option<f64>,
    /// … and within this time of its latest report, ms [default: 7200000].
    #[arg(long)]
    incident_join_window_ms: Option<i64>,
    /// Print the configuration in force (file, then flags) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

impl ServeArgs {
    fn into_config(self) -> Result<Config, Box<dyn std::error::Error>> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.dev |= self.dev;
        config.log_json |= self.log_json;
        config.allow_no_crl |= self.allow_no_crl;
        if self.console_map_tiles.is_some() {
            config.console_map_tiles = self.console_map_tiles;
        }
        if self.console_map_attribution.is_some() {
            config.console_map_attribution = self.console_map_attribution;
        }
        if !self.witnesses.is_empty() {
            config.witnesses = self.witnesses;
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(value) = self.$field { config.$field = value; } )* };
        }
        set!(
            listen,
            data_dir,
            database_connections_max,
            evidence_s3_region,
            log_origin,
            frame_bytes_max,
            photo_bytes_max,
            video_bytes_max,
            audio_bytes_max,
            document_bytes_max,
            clock_skew_ms_max,
            concurrent_requests_max,
            idle_timeout_ms,
            hello_timeout_ms,
            request_timeout_ms,
            pending_handshakes_max,
            handshake_retry_above,
            abandoned_streams_per_minute_max,
            position_interval_ms_min,
            position_sample_ms,
            position_retention_days,
            udp_buffer_bytes,
            stream_receive_window_bytes,
            connection_receive_window_bytes,
            send_window_bytes,
            commit_batch_items_max,
            commit_queue_items_max,
            session_token_ttl_ms,
            shutdown_grace_ms,
            upload_checkpoint_bytes,
            upload_checkpoint_interval_ms,
            upload_chunk_timeout_ms,
            partial_upload_ttl_ms,
            partial_bytes_per_device_max,
            image_decodes_max,
            decode_budget_mib,
            bulk_nice,
            exif_time_tolerance_ms,
            exif_distance_tolerance_m,
            exif_default_utc_offset_minutes,
            janitor_interval_ms,
            overdue_check_interval_ms,
            crl_check_interval_ms,
            scrub_interval_ms,
            connections_per_device_max,
            concurrent_uploads_per_device_max,
            concurrent_uploads_max,
            requests_per_second_per_device,
            request_burst_per_device,
            password_checks_max,
            console_connections_max,
            console_header_timeout_ms,
            console_connection_lifetime_ms,
            directory_refresh_interval_ms,
            hj212_connections_max,
            hj212_idle_timeout_ms,
            hj212_packet_timeout_ms,
            hj212_packets_per_second,
            hj212_packet_burst,
            incident_join_radius_m,
            incident_join_window_ms,
            acceptance_timeout_ms,
            acceptance_timeout_urgent_ms
        );
        if self.monitors.is_some() {
            config.monitors = self.monitors;
        }
        if self.alert_sources.is_some() {
            config.alert_sources = self.alert_sources;
        }
        if self.zones.is_some() {
            config.zones = self.zones;
        }
        if self.tcp.is_some() {
            config.tcp = self.tcp;
        } else if self.no_tcp {
            config.tcp = None;
        } else if config.dev && config.tcp.is_none() {
            // Port 0: QUIC's port number where it is free on TCP, else any.
            config.tcp = Some(SocketAddr::new(config.listen.ip(), 0));
        }
        if self.hj212.is_some() {
            config.hj212 = self.hj212;
        } else if config.dev && config.hj212.is_none() {
            config.hj212 = Some(SocketAddr::from(([127, 0, 0, 1], 9212)));
        }
        if self.database.is_some() {
            config.database = self.database;
        }
        if self.database_owner.is_some() {
            config.database_owner = self.database_owner;
        }
        if self.https.is_some() {
            config.https = self.https;
        }
        if self.http.is_some() {
            config.http = self.http;
        } else if config.dev && config.http.is_none() && config.https.is_none() {
            config.http = Some(SocketAddr::from(([127, 0, 0, 1], 8080)));
        }
        if self.evidence_s3_bucket.is_some() {
            config.evidence_s3_bucket = self.evidence_s3_bucket;
        }
        if self.evidence_s3_endpoint.is_some() {
            config.evidence_s3_endpoint = self.evidence_s3_endpoint;
        }
        if self.catalogue.is_some() {
            config.catalogue = self.catalogue;
        }
        if self.log_key.is_some() {
            config.log_key = self.log_key;
        }
        if self.directory.is_some() {
            config.directory = self.directory;
        }
        if self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.crl.is_some() {
            let base = config.tls.clone();
            let (Some(ca), Some(cert), Some(key)) = (
                self.ca.or(base.as_ref().map(|t| t.ca.clone())),
                self.cert.or(base.as_ref().map(|t| t.cert.clone())),
                self.key.or(base.as_ref().map(|t| t.key.clone())),
            ) else {
                return Err("--ca, --cert and --key go together".into());
            };
            config.tls = Some(TlsFiles {
                ca,
                cert,
                key,
                crl: self.crl.or(base.and_then(|t| t.crl)),
            });
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Certs { out } => match fieldlink_server::certs::generate_dev_set(&out) {
            Ok(()) => {
                println!("wrote the development certificate set to {}", out.display());
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Command::RevokeDevice {
            ca,
            ca_key,
            crl,
            cert,
        } => match fieldlink_server::revocation::revoke_device(&ca, &ca_key, &crl, &cert) {
            Ok(device) => {
                println!("revoked {device} in {}", crl.display());
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Command::LogKey { name, out } => match write_log_key(&name, &out) {
            Ok(verifier_key) => {
                println!("{verifier_key}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(error.as_ref()),
        },
        Command::Audit(args) => audit(args),
        Command::NewEpoch { data, reason } => new_epoch(data, &reason),
        Command::Tokens(command) => tokens(command),
        Command::Devices(command) => devices(command),
        Command::Export(command) => export(command),
        Command::Witness(args) => witness(args),
        Command::WitnessKey { name, out } => match write_witness_key(&name, &out) {
            Ok(verifier_key) => {
                println!("{verifier_key}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(error.as_ref()),
        },
        Command::HashPassword => {
            let mut password = String::new();
            if let Err(error) = std::io::stdin().read_line(&mut password) {
                return fail(&error);
            }
            match fieldlink_server::auth::hash_password(password.trim_end_matches(['\r', '\n'])) {
                Ok(hash) => {
                    println!("{hash}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
    }
}

/// Writes a new log key pair; returns the verifier key.
fn write_log_key(name: &str, out: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    check_key_name(name)?;
    let (private_key, verifier_key) = fieldlink_server::transparency::generate_key(name);
    write_key_pair(out, &private_key, &verifier_key)
}

fn write_witness_key(name: &str, out: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    check_key_name(name)?;
    let (private_key, verifier_key) = fieldlink_protocol::cosignature::generate_key(name, rand::random());
    write_key_pair(out, &private_key, &verifier_key)
}

/// A signed-note key name: non-empty, no spaces, no '+'.
fn check_key_name(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    if name.is_empty() || name.contains(|c: char| c == '+' || c.is_whitespace()) {
        return Err("the key name must be non-empty, without spaces or '+'".into());
    }
    Ok(())
}

/// Writes the private key to `out` (a new file, readable by its owner
/// only, fsync'd) and the verifier key to `out` with the extension `.pub`;
/// returns the verifier key.
fn write_key_pair(
    out: &std::path::Path,
    private_key: &str,
    verifier_key: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(out)
        .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    writeln!(file, "{private_key}")?;
    file.sync_all()?;
    let public = out.with_extension("pub");
    std::fs::write(&public, format!("{verifier_key}\n"))
        .map_err(|e| format!("cannot write {}: {e}", public.display()))?;
    Ok(verifier_key.to_owned())
}

fn witness(args: WitnessArgs) -> ExitCode {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let config = match (read(&args.key), read(&args.log_pub)) {
        (Ok(private_key), Ok(log_key)) => fieldlink_server::witness::WitnessConfig {
            private_key,
            log_key: log_key.trim().to_owned(),
            origin: args.log_origin,
            state_file: args.state,
        },
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("fieldlink-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let witness = match fieldlink_server::witness::Witness::open(config) {
        Ok(witness) => std::sync::Arc::new(witness),
        Err(error) => {
            eprintln!("fieldlink-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(listener) => listener,
            Err(error) => return fail(&error),
        };
        let address = listener
            .local_addr()
            .map_or_else(|_| args.listen.to_string(), |a| a.to_string());
        println!(
            "fieldlink witness listening on http://{address}\n{}",
            witness.verifier_key()
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stop = shutdown.clone();
        let signal = shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            stop.cancel();
        });
        match fieldlink_server::witness::serve(witness, listener, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        }
    })
}

fn new_epoch(data: DataArgs, reason: &str) -> ExitCode {
    if reason.trim().is_empty() || reason.len() > 64 {
        eprintln!("fieldlink-server: --reason must be 1 to 64 bytes");
        return ExitCode::FAILURE;
    }
    let config = match data.into_config() {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    let started = runtime.block_on(async {
        let (storage, _) = fieldlink_server::stored_data::open(&config).await?;
        let now_ms = fieldlink_server::state::system_clock_ms();
        let epoch = fieldlink_server::database_epoch::start_new(storage.as_ref(), reason, now_ms).await?;
        storage.close().await;
        Ok::<_, Box<dyn std::error::Error>>(epoch)
    });
    match started {
        Ok(epoch) => {
            println!(
                "{}",
                serde_json::json!({
                    "epoch": epoch.epoch.to_string(),
                    "number": epoch.number,
                    "reason": epoch.reason,
                    "started_at_ms": epoch.started_at_ms,
                    "item_seq": epoch.began_at.item_seq,
                    "event_seq": epoch.began_at.event_seq,
                    "log_size": epoch.began_at.log_size,
                })
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(error.as_ref()),
    }
}

fn audit(args: AuditArgs) -> ExitCode {
    let actor = fieldlink_server::stored_data::actor(args.data.by.as_deref());
    let config = match args.data.into_config() {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match runtime.block_on(fieldlink_server::audit::audit_data(
        &config,
        args.log_pub.as_deref(),
        &actor,
    )) {
        Ok(report) => {
            match serde_json::to_string(&report) {
                Ok(json) => println!("{json}"),
                Err(error) => return fail(&error),
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => fail(&error),
    }
}

fn export(command: ExportCommand) -> ExitCode {
    let ExportCommand::Case {
        case_id,
        out,
        log_key,
        witnesses,
        data,
    } = command;
    if out.exists() {
        eprintln!("fieldlink-server: {} exists; not overwriting it", out.display());
        return ExitCode::FAILURE;
    }
    let actor = fieldlink_server::stored_data::actor(data.by.as_deref());
    let mut config = match data.into_config() {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    if log_key.is_some() {
        config.log_key = log_key;
    }
    if !witnesses.is_empty() {
        config.witnesses = witnesses;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match runtime.block_on(fieldlink_server::export::export_data(
        &config, &case_id, &actor, &out,
    )) {
        Ok(summary) => match serde_json::to_string(&summary) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Err(error) => fail(&error),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let print_config = args.print_config;
    let config = match args.into_config() {
        Ok(config) => config,
        Err(error) => return fail(error.as_ref()),
    };
    if print_config {
        return match toml::to_string(&config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    init_logging(config.log_json);
    // The blocking pool holds a share for each bounded kind of work.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.blocking_threads())
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match runtime.block_on(async {
        let signal = shutdown_signal();
        fieldlink_server::run(config, signal).await
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Runs one administration command's work on the stored data `data` names.
fn on_stored_data<T, F>(
    data: DataArgs,
    work: impl FnOnce(Config) -> F,
) -> Result<T, fieldlink_server::admin::AdminError>
where
    F: std::future::Future<Output = Result<T, fieldlink_server::admin::AdminError>>,
{
    let config = data.into_config()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(work(config))
}

fn tokens(command: TokensCommand) -> ExitCode {
    let TokensCommand::Revoke { officer, data } = command;
    let whom = officer.clone();
    let revoked = on_stored_data(data, |config| async move {
        fieldlink_server::admin::revoke_tokens(&config, &whom).await
    });
    match revoked {
        Ok(revoked) => {
            println!(
                "{}",
                serde_json::json!({ "officer": officer, "revoked": revoked })
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(error.as_ref()),
    }
}

fn devices(command: DevicesCommand) -> ExitCode {
    match command {
        DevicesCommand::Issue {
            id,
            ca_cert,
            ca_key,
            out,
            days,
        } => {
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
            };
            let (cert_pem, key_pem) = match (read(&ca_cert), read(&ca_key)) {
                (Ok(cert), Ok(key)) => (cert, key),
                (Err(error), _) | (_, Err(error)) => {
                    eprintln!("fieldlink-server: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match fieldlink_server::certs::issue_device(&out, &id, &cert_pem, &key_pem, days) {
                Ok(issued) => {
                    println!("{}", serde_json::to_string(&issued).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
        DevicesCommand::List { data } => {
            match on_stored_data(data, |config| async move {
                fieldlink_server::admin::devices(&config).await
            }) {
                Ok(devices) => {
                    for device in devices {
                        println!("{}", serde_json::to_string(&device).unwrap_or_default());
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error.as_ref()),
            }
        }
    }
}

fn fail(error: &dyn std::error::Error) -> ExitCode {
    eprintln!("fieldlink-server: {error}");
    ExitCode::FAILURE
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is
/// called (not when first polled), so a signal that arrives while the
/// server is starting is not lost to the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            let (Some(mut interrupt), Some(mut terminate)) = (interrupt, terminate) else {
                let _ = tokio::signal::ctrl_c().await;
                return;
            };
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
