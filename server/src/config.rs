//! Server configuration: a TOML file (`--config FILE`) whose every key can be
//! overridden by a flag of the same name (`frame_bytes_max` ↔
//! `--frame-bytes-max`). Units are last in every name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fieldlink_protocol::limits;
use serde::{Deserialize, Serialize};

use crate::tls::TlsFiles;

/// Everything the server needs to run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Development mode: the certs-dev certificates, a demo directory and catalogue.
    pub dev: bool,
    /// UDP address to listen on. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// TCP address for fieldlink/1 over TLS and HTTP/2, for terminals whose
    /// network drops UDP (`serve --dev` defaults it to `listen`'s address).
    /// Port 0: QUIC's port if it is free on TCP, else any. None: QUIC only.
    pub tcp: Option<SocketAddr>,
    /// Directory for the database and evidence.
    pub data_dir: PathBuf,
    /// The supervisor console's HTTP address (plain HTTP only on loopback with
    /// `dev`; `serve --dev` defaults it to 127.0.0.1:8080). None: no console.
    pub http: Option<SocketAddr>,
    /// The supervisor console over HTTPS (TLS 1.3, the server certificate).
    pub https: Option<SocketAddr>,
    /// A PostgreSQL URL (`postgres://user@host:5432/db`) for several nodes
    /// sharing one database; without it, SQLite in `data_dir`.
    pub database: Option<String>,
    /// With `database`: a URL of the role that owns the schema. Migrations
    /// then run as it, and `database`'s role gets only the grants of
    /// `data/postgres-runtime-grants.sql` (no UPDATE, DELETE, TRUNCATE or DDL
    /// on evidence and the log). See docs/operations.md.
    pub database_owner: Option<String>,
    /// Connections to PostgreSQL per node.
    pub database_connections_max: u32,
    /// Keep photo blobs in this S3-compatible bucket instead of `data_dir`
    /// (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    pub evidence_s3_bucket: Option<String>,
    /// The object store's endpoint URL (MinIO, Ceph, a cloud's S3 API); none for AWS.
    pub evidence_s3_endpoint: Option<String>,
    /// The object store's region.
    pub evidence_s3_region: String,
    /// TLS files; with `dev` and none given, the certs-dev set.
    pub tls: Option<TlsFiles>,
    /// Start without a CRL outside development (a lost handheld could then
    /// not be revoked): refused unless set, and warned about when set.
    pub allow_no_crl: bool,
    /// The transparency log's signing key (a signed-note private key,
    /// `PRIVATE+KEY+name+id+base64`, alone in the file). Required without
    /// `dev`, which uses certs-dev/log.key; never the development key then.
    pub log_key: Option<PathBuf>,
    /// The log's name, the first line of every checkpoint (a schema-less
    /// URL by convention, e.g. `zfj.example.gov.cn/fieldlink`).
    pub log_origin: String,
    /// Witnesses that cosign the log's checkpoints, each `URL KEY` (the
    /// witness's add-checkpoint base URL and its cosignature verifier key;
    /// docs/operations.md, "Witnesses").
    pub witnesses: Vec<String>,
    /// The enforcement-matters catalogue (JSON). Required without `dev`.
    pub catalogue: Option<PathBuf>,
    /// A directory of teams and officers (TOML) imported at start. See docs/operations.md.
    pub directory: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Console connections open at once; one more is closed on accept.
    pub console_connections_max: usize,
    /// Time a console client has to send each request's headers, ms.
    pub console_header_timeout_ms: u64,
    /// Longest a console connection may stay open, ms (live event streams
    /// reconnect and resume).
    pub console_connection_lifetime_ms: u64,
    /// How often each node re-reads the stored directory and the revoked
    /// session tokens, ms (another node's reload, `tokens revoke`).
    pub directory_refresh_interval_ms: u64,
    /// The console map's base layer: an XYZ tile URL template with `{z}`,
    /// `{x}` and `{y}` (Web Mercator, 256-pixel tiles), e.g. the map service
    /// the agency already uses. HTTPS (plain HTTP only to a loopback host).
    /// None: the map is drawn locally, with no tiles and nothing fetched.
    pub console_map_tiles: Option<String>,
    /// The attribution the tile provider asks to be shown under the map.
    pub console_map_attribution: Option<String>,
    /// The HJ 212 listener's TCP address for monitors (`serve --dev`
    /// defaults it to 127.0.0.1:9212). None: no monitors.
    pub hj212: Option<SocketAddr>,
    /// The monitor registry (TOML; docs/intake.md). Required with `hj212`
    /// without `dev`, which uses a demo registry.
    pub monitors: Option<PathBuf>,
    /// The platforms allowed to post AI-video alerts to `/api/intake/alerts`
    /// (TOML; docs/intake.md). Without it, `dev` has a demo source and
    /// otherwise every alert is refused.
    pub alert_sources: Option<PathBuf>,
    /// Zones of the town with their teams, and auto-dispatch rules (TOML;
    /// docs/intake.md). Without it, `dev` has two demo zones.
    pub zones: Option<PathBuf>,
    /// Monitor connections open at once; one more is closed on accept.
    pub hj212_connections_max: usize,
    /// A monitor connection with no packet for this long is closed, ms.
    pub hj212_idle_timeout_ms: u64,
    /// Time a monitor has to finish a packet it began, ms (slow senders).
    pub hj212_packet_timeout_ms: u64,
    /// Sustained packets per second one connection may send.
    pub hj212_packets_per_second: f64,
    /// Packets one connection may send in a burst (a monitor catching up).
    pub hj212_packet_burst: f64,
    /// Reports of a category within this distance of an open incident join it, metres.
    pub incident_join_radius_m: f64,
    /// … and within this time of its latest report, ms.
    pub incident_join_window_ms: i64,
    /// Password checks (argon2id, 19 MiB each) running at once across the
    /// server; one more sign-in is refused as RATE_LIMITED.
    pub password_checks_max: usize,
    /// Largest request frame body, bytes.
    pub frame_bytes_max: u32,
    /// Largest photo (JPEG, PNG, HEIC), bytes.
    pub photo_bytes_max: u64,
    /// Largest video (MP4, MOV), bytes.
    pub video_bytes_max: u64,
    /// Largest audio recording (M4A, WAV, MP3), bytes.
    pub audio_bytes_max: u64,
    /// Largest document (PDF), bytes.
    pub document_bytes_max: u64,
    /// How far ahead of the server clock item timestamps may be, ms.
    pub clock_skew_ms_max: i64,
    /// Requests a terminal may have in flight per connection.
    pub concurrent_requests_max: u32,
    /// A connection with no traffic for this long is closed, ms.
    pub idle_timeout_ms: u64,
    /// How long a terminal has to send its hello after the handshake, ms.
    pub hello_timeout_ms: u64,
    /// How long a request stream may take to deliver its frame, ms.
    pub request_timeout_ms: u64,
    /// Handshakes in progress at once; more are refused.
    pub pending_handshakes_max: u32,
    /// Above this many pending handshakes, clients must validate their
    /// address with a QUIC Retry first (0: always).
    pub handshake_retry_above: u32,
    /// Request streams a connection may abandon (reset or stop before its
    /// request was read) per minute; past this the connection is closed.
    pub abandoned_streams_per_minute_max: u32,
    /// Shortest interval between two position datagrams of one device, ms
    /// (faster ones are dropped and counted; advertised in Welcome).
    pub position_interval_ms_min: u32,
    /// How often the live positions are sampled into each officer's
    /// stored track, ms.
    pub position_sample_ms: u64,
    /// How long a stored track point is kept, days.
    pub position_retention_days: u32,
    /// UDP socket send and receive buffer, bytes.
    pub udp_buffer_bytes: usize,
    /// QUIC receive window per stream, bytes.
    pub stream_receive_window_bytes: u32,
    /// QUIC receive window per connection, bytes.
    pub connection_receive_window_bytes: u32,
    /// QUIC send window per connection, bytes.
    pub send_window_bytes: u32,
    /// Most items committed in one transaction (group commit).
    pub commit_batch_items_max: usize,
    /// Items waiting for a commit before submitters wait.
    pub commit_queue_items_max: usize,
    /// Lifetime of an officer session token, ms (a shift).
    pub session_token_ttl_ms: i64,
    /// How long shutdown waits for in-flight requests, ms.
    pub shutdown_grace_ms: u64,
    /// Upload bytes become durable (resumable) in steps of this many bytes,
    pub upload_checkpoint_bytes: u32,
    /// and at most this often (ms) while a stream is healthy: a fast upload
    /// is not stalled by an fsync and a database write every step (a broken
    /// stream always makes what arrived durable at once).
    pub upload_checkpoint_interval_ms: u64,
    /// An upload stream that delivers no byte for this long is cut off, ms.
    pub upload_chunk_timeout_ms: u64,
    /// Unfinished uploads are discarded this long after their last progress, ms.
    pub partial_upload_ttl_ms: i64,
    /// Declared bytes of unfinished uploads one device may hold.
    pub partial_bytes_per_device_max: u64,
    /// Images the media worker decodes at once, after their receipts (0:
    /// post-processing paused; thumbnails wait in the queue).
    pub image_decodes_max: usize,
    /// Memory all decodes at once may take, MiB: each reserves what its
    /// image may need at most before it starts, or waits.
    pub decode_budget_mib: u64,
    /// How far above the server's own nice value the bulk evidence threads
    /// run (uploads' hashing and writing, read-backs, decodes), 0–19: they
    /// then yield to the threads that answer terminals. 0 runs them alike.
    pub bulk_nice: i32,
    /// EXIF capture time may differ from the declared time by this much before it is flagged, ms.
    pub exif_time_tolerance_ms: i64,
    /// EXIF GPS may be this far from the declared place before it is flagged, metres.
    pub exif_distance_tolerance_m: f64,
    /// UTC offset assumed for EXIF times that carry none, minutes (+480: China Standard Time).
    pub exif_default_utc_offset_minutes: i32,
    /// How often the janitor discards stale uploads and orphan blobs, ms.
    pub janitor_interval_ms: u64,
    /// A team assignment of normal priority not accepted within this long
    /// is escalated to supervisors, ms.
    pub acceptance_timeout_ms: i64,
    /// The same for urgent assignments, ms.
    pub acceptance_timeout_urgent_ms: i64,
    /// How often assignments past their due time are marked overdue, ms.
    pub overdue_check_interval_ms: u64,
    /// How often the CRL file is checked for changes (a revoked device is
    /// cut off within this time), ms.
    pub crl_check_interval_ms: u64,
    /// How often the stored evidence is audited in the background (every
    /// leaf, photo original and checkpoint; see `fieldlink-server audit`), ms.
    pub scrub_interval_ms: u64,
    /// Connections one device may hold at once.
    pub connections_per_device_max: usize,
    /// Uploads one device may run at once.
    pub concurrent_uploads_per_device_max: usize,
    /// Uploads the whole server runs at once (each holds a writer thread of
    /// the blocking pool; the pool is sized so that uploads, image decodes
    /// and password checks each have their own share and none can starve
    /// the others).
    pub concurrent_uploads_max: usize,
    /// Sustained requests per second one device may make.
    pub requests_per_second_per_device: f64,
    /// Requests one device may make in a burst.
    pub request_burst_per_device: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dev: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 4433)),
            tcp: None,
            data_dir: PathBuf::from("./fieldlink-data"),
            http: None,
            https: None,
            database: None,
            database_connections_max: 16,
            evidence_s3_bucket: None,
            evidence_s3_endpoint: None,
            evidence_s3_region: "us-east-1".into(),
            tls: None,
            log_key: None,
            allow_no_crl: false,
            password_checks_max: 4,
            hj212: None,
            acceptance_timeout_ms: 30 * 60 * 1000,
            acceptance_timeout_urgent_ms: 5 * 60 * 1000,
            monitors: None,
            alert_sources: None,
            zones: None,
            hj212_connections_max: 4_096,
            hj212_idle_timeout_ms: 15 * 60 * 1000,
            hj212_packet_timeout_ms: 10_000,
            hj212_packets_per_second: 5.0,
            hj212_packet_burst: 120.0,
            incident_join_radius_m: 100.0,
            incident_join_window_ms: 2 * 60 * 60 * 1000,
            console_connections_max: 256,
            console_header_timeout_ms: 10_000,
            console_connection_lifetime_ms: 60 * 60 * 1000,
            directory_refresh_interval_ms: 5_000,
            console_map_tiles: None,
            console_map_attribution: None,
            log_origin: "fieldlink.local/evidence".into(),
            witnesses: Vec::new(),
            database_owner: None,
            catalogue: None,
            directory: None,
            log_json: false,
            frame_bytes_max: limits::FRAME_BYTES_MAX_DEFAULT,
            photo_bytes_max: limits::PHOTO_BYTES_MAX_DEFAULT,
            video_bytes_max: limits::VIDEO_BYTES_MAX_DEFAULT,
            audio_bytes_max: limits::AUDIO_BYTES_MAX_DEFAULT,
            document_bytes_max: limits::DOCUMENT_BYTES_MAX_DEFAULT,
            clock_skew_ms_max: limits::CLOCK_SKEW_MS_MAX_DEFAULT,
            concurrent_requests_max: limits::CONCURRENT_REQUESTS_MAX_DEFAULT,
            idle_timeout_ms: 30_000,
            hello_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            pending_handshakes_max: 1_024,
            handshake_retry_above: 64,
            abandoned_streams_per_minute_max: 600,
            position_interval_ms_min: fieldlink_protocol::position::INTERVAL_MS_MIN_DEFAULT,
            position_sample_ms: 30_000,
            position_retention_days: 30,
            udp_buffer_bytes: 4 * 1024 * 1024,
            stream_receive_window_bytes: 2 * 1024 * 1024,
            // Above concurrent_uploads_per_device_max × the stream window:
            // uploads (read as fast as they are hashed) never take the
            // credit a terminal's records need.
            connection_receive_window_bytes: 16 * 1024 * 1024,
            send_window_bytes: 8 * 1024 * 1024,
            commit_batch_items_max: 512,
            commit_queue_items_max: 8_192,
            session_token_ttl_ms: 12 * 60 * 60 * 1000,
            shutdown_grace_ms: 10_000,
            upload_checkpoint_bytes: limits::UPLOAD_CHECKPOINT_BYTES_DEFAULT,
            upload_checkpoint_interval_ms: 1_000,
            upload_chunk_timeout_ms: 30_000,
            partial_upload_ttl_ms: limits::PARTIAL_UPLOAD_TTL_MS_DEFAULT,
            partial_bytes_per_device_max: limits::PARTIAL_BYTES_PER_DEVICE_MAX_DEFAULT,
            image_decodes_max: 2,
            decode_budget_mib: 768,
            bulk_nice: crate::evidence::bulk_thread::DEFAULT_NICE_STEP,
            exif_time_tolerance_ms: 10 * 60 * 1000,
            exif_distance_tolerance_m: 500.0,
            exif_default_utc_offset_minutes: 480,
            janitor_interval_ms: 10 * 60 * 1000,
            overdue_check_interval_ms: 30_000,
            crl_check_interval_ms: 1_000,
            scrub_interval_ms: 6 * 60 * 60 * 1000,
            connections_per_device_max: 8,
            concurrent_uploads_per_device_max: 4,
            concurrent_uploads_max: 256,
            requests_per_second_per_device: 200.0,
            request_burst_per_device: 400.0,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid config {path}: {detail}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A value is out of its range.
    #[error("invalid setting {key}: {detail}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl Config {
    /// Threads of the blocking pool: a share for each bounded kind of work
    /// (each upload's filing, image decodes' stores, password checks), and
    /// as many again for short file and database work. (Uploads' hashing
    /// and decodes run on bulk threads of their own.)
    pub fn blocking_threads(&self) -> usize {
        self.concurrent_uploads_max + self.image_decodes_max.max(1) + self.password_checks_max + 64
    }

    /// The largest upload of each media kind.
    pub fn media_bytes_max(&self) -> fieldlink_protocol::photo::MediaBytesMax {
        fieldlink_protocol::photo::MediaBytesMax {
            photo: self.photo_bytes_max,
            video: self.video_bytes_max,
            audio: self.audio_bytes_max,
            document: self.document_bytes_max,
        }
    }

    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// The object store for blobs, when one is configured.
    pub fn evidence_s3(&self) -> Option<crate::evidence::object_blobs::S3Location> {
        Some(crate::evidence::object_blobs::S3Location {
            bucket: self.evidence_s3_bucket.clone()?,
            endpoint: self.evidence_s3_endpoint.clone(),
            region: self.evidence_s3_region.clone(),
        })
    }

    /// The log key file in force: the configured one, or certs-dev's with `dev`.
    pub fn log_key_file(&self) -> Result<PathBuf, ConfigError> {
        match (&self.log_key, self.dev) {
            (Some(path), _) => Ok(path.clone()),
            (None, true) => Ok(dev_certs_dir().join("log.key")),
            (None, false) => Err(ConfigError::Invalid {
                key: "log_key",
                detail: "the transparency log's key is required without --dev (--log-key)".into(),
            }),
        }
    }

    /// The TLS files in force: the configured ones, or certs-dev with `dev`.
    pub fn tls_files(&self) -> Result<TlsFiles, ConfigError> {
        match (&self.tls, self.dev) {
            (Some(files), _) => Ok(files.clone()),
            (None, true) => Ok(TlsFiles::dev(&dev_certs_dir())),
            (None, false) => Err(ConfigError::Invalid {
                key: "tls",
                detail: "TLS files are required without --dev (--ca, --cert, --key, --crl)".into(),
            }),
        }
    }

    /// Checks ranges that would make the server misbehave.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key, detail: &str| {
            Err(ConfigError::Invalid {
                key,
                detail: detail.to_owned(),
            })
        };
        if self.password_checks_max == 0 {
            return invalid("password_checks_max", "must be at least 1");
        }
        if self.console_connections_max == 0
            || self.console_header_timeout_ms == 0
            || self.console_connection_lifetime_ms == 0
        {
            return invalid(
                "console_connections_max",
                "console_connections_max, console_header_timeout_ms and console_connection_lifetime_ms must be above 0",
            );
        }
        if self.directory_refresh_interval_ms == 0 {
            return invalid("directory_refresh_interval_ms", "must be above 0");
        }
        if let Some(template) = &self.console_map_tiles {
            if let Err(detail) = crate::tile_template::origin(template) {
                return invalid("console_map_tiles", &detail);
            }
        }
        if self
            .console_map_attribution
            .as_ref()
            .is_some_and(|a| a.len() > 200 || a.chars().any(char::is_control))
        {
            return invalid("console_map_attribution", "must be at most 200 bytes on one line");
        }
        if self.hj212_connections_max == 0
            || self.hj212_idle_timeout_ms == 0
            || self.hj212_packet_timeout_ms == 0
        {
            return invalid(
                "hj212_connections_max",
                "hj212_connections_max, hj212_idle_timeout_ms and hj212_packet_timeout_ms must be above 0",
            );
        }
        let rate_ok = self.hj212_packets_per_second.is_finite() && self.hj212_packets_per_second > 0.0;
        let burst_ok = self.hj212_packet_burst.is_finite() && self.hj212_packet_burst >= 1.0;
        if !rate_ok || !burst_ok {
            return invalid(
                "hj212_packets_per_second",
                "hj212_packets_per_second must be above 0 and hj212_packet_burst at least 1",
            );
        }
        if !(self.incident_join_radius_m >= 0.0 && self.incident_join_radius_m <= 100_000.0)
            || self.incident_join_window_ms < 0
        {
            return invalid(
                "incident_join_radius_m",
                "incident_join_radius_m must be 0 to 100000 and incident_join_window_ms not negative",
            );
        }
        if self.hj212.is_some() && self.monitors.is_none() && !self.dev {
            return invalid(
                "monitors",
                "a monitor registry (--monitors FILE) is required with --hj212 without --dev",
            );
        }
        if self.acceptance_timeout_ms <= 0 || self.acceptance_timeout_urgent_ms <= 0 {
            return invalid(
                "acceptance_timeout_ms",
                "acceptance_timeout_ms and acceptance_timeout_urgent_ms must be above 0",
            );
        }
        if self.frame_bytes_max < 1024 {
            return invalid("frame_bytes_max", "must be at least 1024");
        }
        if !(0..=19).contains(&self.bulk_nice) {
            return invalid("bulk_nice", "must be 0 to 19");
        }
        if !self.dev && !self.allow_no_crl && self.tls.as_ref().is_some_and(|tls| tls.crl.is_none()) {
            return invalid(
                "tls",
                "a CRL is required without --dev (--crl): without one a lost handheld cannot be revoked; \
                 --allow-no-crl overrides this",
            );
        }
        if let Err(detail) = crate::witness_client::endpoints(&self.witnesses) {
            return invalid("witnesses", &detail);
        }
        if self.concurrent_requests_max == 0 || self.concurrent_requests_max > 1024 {
            return invalid("concurrent_requests_max", "must be 1 to 1024");
        }
        if self.commit_batch_items_max == 0 || self.commit_queue_items_max == 0 {
            return invalid("commit_batch_items_max", "batch and queue sizes must be positive");
        }
        if self.clock_skew_ms_max < 0 {
            return invalid("clock_skew_ms_max", "must not be negative");
        }
        if self.idle_timeout_ms == 0 || self.hello_timeout_ms == 0 || self.request_timeout_ms == 0 {
            return invalid("idle_timeout_ms", "timeouts must be positive");
        }
        if self.scrub_interval_ms == 0 {
            return invalid("scrub_interval_ms", "must be positive");
        }
        if self.log_origin.is_empty() || self.log_origin.contains(char::is_whitespace) {
            return invalid("log_origin", "must be a non-empty name without spaces");
        }
        if self.database_owner.is_some() && self.database.is_none() {
            return invalid("database_owner", "goes with database (PostgreSQL only)");
        }
        if let Some(url) = &self.database {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return invalid("database", "must be a postgres:// URL (leave it out for SQLite)");
            }
        }
        if self.evidence_s3_bucket.is_none() && self.evidence_s3_endpoint.is_some() {
            return invalid("evidence_s3_endpoint", "needs evidence_s3_bucket");
        }
        if self.database_connections_max == 0 {
            return invalid("database_connections_max", "must be positive");
        }
        if self.pending_handshakes_max == 0 {
            return invalid("pending_handshakes_max", "must be positive");
        }
        if self.abandoned_streams_per_minute_max == 0 {
            return invalid("abandoned_streams_per_minute_max", "must be positive");
        }
        if self.position_sample_ms < 1_000 {
            return invalid("position_sample_ms", "must be at least 1000");
        }
        if self.position_retention_days == 0 {
            return invalid("position_retention_days", "must be positive");
        }
        if self.upload_checkpoint_bytes < 4096 {
            return invalid("upload_checkpoint_bytes", "must be at least 4096");
        }
        if self.upload_checkpoint_interval_ms > 60_000 {
            return invalid(
                "upload_checkpoint_interval_ms",
                "must be at most 60000 (one minute)",
            );
        }
        // A flowing upload refreshes its partial row at each checkpoint: the
        // janitor must not take it for abandoned in between.
        if i64::try_from(self.upload_checkpoint_interval_ms).unwrap_or(i64::MAX) >= self.partial_upload_ttl_ms
        {
            return invalid(
                "upload_checkpoint_interval_ms",
                "must be shorter than partial_upload_ttl_ms",
            );
        }
        if self.photo_bytes_max == 0 || self.photo_bytes_max > 1 << 30 {
            return invalid("photo_bytes_max", "must be 1 byte to 1 GiB");
        }
        for (key, value) in [
            ("video_bytes_max", self.video_bytes_max),
            ("audio_bytes_max", self.audio_bytes_max),
            ("document_bytes_max", self.document_bytes_max),
        ] {
            if value == 0 || value > 64 << 30 {
                return invalid(key, "must be 1 byte to 64 GiB");
            }
        }
        if self.partial_upload_ttl_ms <= 0
            || self.janitor_interval_ms == 0
            || self.upload_chunk_timeout_ms == 0
            || self.overdue_check_interval_ms == 0
            || self.crl_check_interval_ms == 0
        {
            return invalid("partial_upload_ttl_ms", "upload timeouts must be positive");
        }
        if self.connections_per_device_max == 0
            || self.concurrent_uploads_per_device_max == 0
            || self.concurrent_uploads_max == 0
            || self.concurrent_uploads_max > 4096
            || self.requests_per_second_per_device <= 0.0
            || self.request_burst_per_device < 1.0
        {
            return invalid(
                "requests_per_second_per_device",
                "per-device limits must be positive",
            );
        }
        if !self.dev && self.catalogue.is_none() {
            return invalid(
                "catalogue",
                "an enforcement-matters catalogue is required without --dev",
            );
        }
        Ok(())
    }
}

/// The certs-dev directory: `./certs-dev` when it exists (running from the
/// repository root), else the one beside this crate's sources.
pub fn dev_certs_dir() -> PathBuf {
    let local = PathBuf::from("certs-dev");
    if local.join("ca.pem").exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("certs-dev")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_to_start_without_a_crl_unless_told_to() {
        let files = TlsFiles {
            ca: "ca.pem".into(),
            cert: "server.pem".into(),
            key: "server.key".into(),
            crl: None,
        };
        let production = Config {
            tls: Some(files.clone()),
            catalogue: Some("catalogue.json".into()),
            ..Config::default()
        };
        match production.check() {
            Err(ConfigError::Invalid { key, detail }) => {
                assert_eq!(key, "tls");
                assert!(detail.contains("CRL"), "{detail}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let allowed = Config {
            allow_no_crl: true,
            ..production.clone()
        };
        allowed.check().unwrap();
        let with_crl = Config {
            tls: Some(TlsFiles {
                crl: Some("crl.pem".into()),
                ..files
            }),
            ..production.clone()
        };
        with_crl.check().unwrap();
        let dev = Config {
            dev: true,
            ..production
        };
        dev.check().unwrap();
    }

    #[test]
    fn a_toml_file_sets_keys_and_unknown_keys_are_refused() {
        let config: Config = toml::from_str("listen = \"127.0.0.1:0\"\nframe_bytes_max = 4096\n").unwrap();
        assert_eq!(config.frame_bytes_max, 4096);
        assert_eq!(config.listen.port(), 0);
        assert!(toml::from_str::<Config>("no_such_key = 1").is_err());
    }

    #[test]
    fn bulk_nice_is_a_nice_step() {
        for (bulk_nice, valid) in [(0, true), (10, true), (19, true), (-1, false), (20, false)] {
            let config = Config {
                dev: true,
                bulk_nice,
                ..Config::default()
            };
            assert_eq!(config.check().is_ok(), valid, "bulk_nice {bulk_nice}");
        }
    }

    #[test]
    fn checkpoints_come_more_often_than_the_janitor_discards() {
        let short_ttl = Config {
            dev: true,
            partial_upload_ttl_ms: 1_000,
            ..Config::default()
        };
        assert!(short_ttl.check().is_err(), "a 1 s interval against a 1 s TTL");
        let fine = Config {
            upload_checkpoint_interval_ms: 0,
            ..short_ttl
        };
        assert!(fine.check().is_ok());
    }

    #[test]
    fn production_needs_tls_files_and_a_catalogue() {
        let config = Config::default();
        assert!(config.tls_files().is_err());
        assert!(config.check().is_err());
        let dev = Config {
            dev: true,
            ..Config::default()
        };
        assert!(dev.check().is_ok());
        assert!(dev.tls_files().is_ok());
    }
}
