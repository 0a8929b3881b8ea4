//! Helpers for the end-to-end tests: start a real server on loopback (port 0,
//! a temporary data directory, the dev certificates) and connect real SDK
//! clients to it.
#![forbid(unsafe_code)]

pub mod impairment;
pub mod media;
pub mod netns;
pub mod s3;

/// Real JPEG and PNG files with EXIF (shared with the simulator).
pub use fieldlink_cli::photos;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fieldlink_client::{Client, ClientConfig, Credentials, Error, RetryPolicy, Transport};
use fieldlink_protocol::pb;
use fieldlink_server::{Config, RunningServer};

/// Throwaway PostgreSQL databases (see the server's `storage::scratch_pg`).
pub use fieldlink_server::storage::scratch_pg::ScratchDatabase;

/// The demo password of every demo account.
pub const PASSWORD: &str = fieldlink_server::directory::DEMO_PASSWORD;

/// The repository's certs-dev directory.
pub fn certs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("certs-dev")
}

/// A dev configuration on 127.0.0.1:0 storing under `data_dir`.
pub fn dev_config(data_dir: &Path) -> Config {
    Config {
        dev: true,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        // fieldlink/1 over TCP too, on QUIC's port number where it is free.
        tcp: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        data_dir: data_dir.to_path_buf(),
        tls: Some(fieldlink_server::tls::TlsFiles::dev(&certs_dir())),
        // Every test terminal shares one of three device certificates.
        connections_per_device_max: 128,
        ..Config::default()
    }
}

/// A running server and the temporary directory it stores in.
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
    /// Its data directory (deleted on drop).
    pub data_dir: tempfile::TempDir,
    /// Its PostgreSQL database, when the tests run against PostgreSQL
    /// (`FIELDLINK_TEST_DATABASE=postgres`); dropped after the server.
    pub database: Option<ScratchDatabase>,
}

/// Whether end-to-end tests run against PostgreSQL
/// (`FIELDLINK_TEST_DATABASE=postgres`) instead of the embedded SQLite.
pub fn postgres_requested() -> bool {
    std::env::var("FIELDLINK_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

impl TestServer {
    /// Starts a dev server in a fresh temporary directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a dev server after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        init_logging();
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut config = dev_config(data_dir.path());
        let database = match postgres_requested() {
            true => ScratchDatabase::create().await,
            false => None,
        };
        config.database = database.as_ref().map(|d| d.url.clone());
        adjust(&mut config);
        let server = start_server(config).await.expect("server starts");
        Self {
            server,
            data_dir,
            database,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server's TCP address (fieldlink/1 over TLS and HTTP/2).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.server.tcp_addr().expect("test servers listen on TCP")
    }

    /// A blob of the local evidence store, by SHA-256, if stored.
    pub fn blob(&self, sha256: &[u8]) -> Option<Vec<u8>> {
        let name = hex::encode(sha256);
        let path = self
            .data_dir
            .path()
            .join("evidence/blobs")
            .join(name.get(..2)?)
            .join(&name);
        std::fs::read(path).ok()
    }

    /// Number of items stored.
    pub async fn item_count(&self) -> u64 {
        self.server
            .state()
            .storage
            .item_count()
            .await
            .expect("count items")
    }
}

/// A client configuration for `device` (a certs-dev file stem) signing in as
/// `officer` with the demo password.
pub fn client_config(addr: SocketAddr, device: &str, officer: &str) -> ClientConfig {
    let certs = certs_dir();
    let mut config = ClientConfig::from_files(
        addr,
        "localhost",
        &certs.join("ca.pem"),
        &certs.join(format!("{device}.pem")),
        &certs.join(format!("{device}.key")),
        Credentials::Password {
            officer_id: officer.to_owned(),
            password: PASSWORD.to_owned(),
        },
    )
    .expect("dev certificate files");
    // Every test terminal trusts the development log key.
    config.log = Some(
        fieldlink_client::LogTrust::from_file(&certs.join("log.pub"), &Config::default().log_origin)
            .expect("certs-dev/log.pub"),
    );
    // Generous deadlines: the test machine is loaded.
    config.connect_timeout = Duration::from_secs(30);
    config.request_timeout = Duration::from_secs(60);
    config.retry = RetryPolicy {
        attempts_max: 8,
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_secs(2),
    };
    // The transport under test: QUIC unless FIELDLINK_TEST_TRANSPORT=tcp
    // (CI runs the core cases both ways). Auto's race is left to the
    // tests that exercise it: here a loaded machine's slow QUIC handshake
    // must not turn a QUIC test into a TCP one.
    config.tcp_addr = tcp_addr_of(addr);
    config.transport = match transport_requested() {
        Transport::Tcp => Transport::Tcp,
        _ => Transport::Quic,
    };
    config
}

/// The transport the suite runs its terminals over (`FIELDLINK_TEST_TRANSPORT`:
/// `quic`, the default, or `tcp`).
pub fn transport_requested() -> Transport {
    match std::env::var("FIELDLINK_TEST_TRANSPORT") {
        Ok(name) => name.parse().expect("FIELDLINK_TEST_TRANSPORT is quic or tcp"),
        Err(_) => Transport::Quic,
    }
}

/// Starts a server (`fieldlink_server::start`) and makes its TCP address
/// known to the test terminals: a server asked for TCP on port 0 listens on
/// its QUIC port's number when that is free, and on another port when not,
/// which a terminal connecting over TCP must then be told.
pub async fn start_server(
    config: fieldlink_server::Config,
) -> Result<fieldlink_server::RunningServer, fieldlink_server::ServerError> {
    let server = fieldlink_server::start(config).await?;
    if let Some(tcp) = server.tcp_addr() {
        TCP_ADDRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server.local_addr(), tcp);
    }
    Ok(server)
}

/// The TCP address of the test server whose QUIC address is `addr`.
pub fn tcp_addr_of(addr: SocketAddr) -> Option<SocketAddr> {
    TCP_ADDRS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&addr)
        .copied()
}

/// Test servers' TCP addresses by their QUIC address.
static TCP_ADDRS: std::sync::Mutex<std::collections::BTreeMap<SocketAddr, SocketAddr>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// A TLS client configuration for raw TCP tests: the dev CA, ALPN h2, and
/// the certificate of `device` (none: no client certificate).
pub fn tcp_tls_config(device: Option<&str>) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = certs_dir();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(certs.join("ca.pem")).expect("ca.pem") {
        roots.add(cert.expect("CA certificate")).expect("CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots);
    let mut config = match device {
        None => builder.with_no_client_auth(),
        Some(device) => {
            let chain = CertificateDer::pem_file_iter(certs.join(format!("{device}.pem")))
                .expect("device certificate")
                .collect::<Result<Vec<_>, _>>()
                .expect("device certificate");
            let key = PrivateKeyDer::from_pem_file(certs.join(format!("{device}.key"))).expect("device key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("device certificate")
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    std::sync::Arc::new(config)
}

/// Connects `device` as `officer`.
pub async fn connect(addr: SocketAddr, device: &str, officer: &str) -> Result<Client, Error> {
    Client::connect(client_config(addr, device, officer)).await
}

/// A valid record by `officer`, timed now.
pub fn record(officer: &str) -> pb::InspectionRecord {
    fieldlink_protocol::inspection::example_record(officer, fieldlink_client::now_ms())
}

/// A bare signed-in QUIC connection for tests that write raw frames.
pub async fn raw_session(
    addr: SocketAddr,
    device: &str,
    officer: &str,
) -> (quinn::Endpoint, quinn::Connection) {
    let config = client_config(addr, device, officer);
    let quic = fieldlink_client::raw::quic_client_config(&config).expect("client TLS");
    let endpoint = fieldlink_client::raw::client_endpoint(addr, 1 << 20).expect("endpoint");
    let (connection, _welcome) = fieldlink_client::raw::open_raw_session(&endpoint, &quic, &config)
        .await
        .expect("raw session");
    (endpoint, connection)
}

/// Sends `bytes` on a new stream of `connection` (finishing it when `finish`)
/// and reads the one response frame.
pub async fn raw_request(connection: &quinn::Connection, bytes: &[u8], finish: bool) -> pb::Response {
    use prost::Message;
    let (mut send, mut recv) = connection.open_bi().await.expect("open stream");
    send.write_all(bytes).await.expect("write");
    if finish {
        send.finish().expect("finish");
    }
    let body = tokio::time::timeout(
        Duration::from_secs(60),
        fieldlink_protocol::io::read_frame(&mut recv, 1 << 20),
    )
    .await
    .expect("a response in time")
    .expect("a response frame");
    pb::Response::decode(body.as_slice()).expect("a Response")
}

/// The status in a response, or a panic naming what came instead.
pub fn expect_error(response: pb::Response) -> pb::Status {
    match response.result {
        Some(pb::response::Result::Error(status)) => status,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Sends server logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
}

/// A directory file with `officers` (id, team) and one supervisor
/// `supervisor-01`, all with the demo password and enforcement credentials.
pub fn directory_file(officers: &[(String, String)]) -> tempfile::NamedTempFile {
    use std::fmt::Write;
    let hash = fieldlink_server::auth::hash_password(PASSWORD).expect("hash");
    let mut teams: Vec<&String> = officers.iter().map(|(_, team)| team).collect();
    teams.sort();
    teams.dedup();
    let mut text = String::new();
    for team in &teams {
        let _ = writeln!(text, "[[teams]]\nid = \"{team}\"\nname = \"{team}\"\n");
    }
    let people = officers
        .iter()
        .map(|(id, team)| (id.as_str(), team.as_str(), "officer"))
        .chain(std::iter::once((
            "supervisor-01",
            teams[0].as_str(),
            "supervisor",
        )));
    for (index, (id, team, role)) in people.enumerate() {
        let _ = writeln!(
            text,
            "[[officers]]\nid = \"{id}\"\nname = \"{id}\"\nteam_id = \"{team}\"\n\
             credential_number = \"{index}\"\nrole = \"{role}\"\npassword_hash = \"{hash}\"\n"
        );
    }
    let file = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(file.path(), text).expect("write directory");
    file
}

/// A normal-priority assignment for one officer, with a fresh id.
pub fn assignment_for(officer: &str) -> pb::Assignment {
    pb::Assignment {
        id: uuid::Uuid::now_v7().to_string(),
        title: "巡查城南路占道经营 Patrol Chengnan Road".into(),
        instructions: "核查占道堆放情况并拍照取证。".into(),
        matter_code: "ZJ-001".into(),
        area: "城南路沿线".into(),
        priority: pb::Priority::Normal as i32,
        assignee: Some(pb::assignment::Assignee::OfficerId(officer.to_owned())),
        ..Default::default()
    }
}

/// The same for a whole team.
pub fn assignment_for_team(team: &str) -> pb::Assignment {
    pb::Assignment {
        assignee: Some(pb::assignment::Assignee::TeamId(team.to_owned())),
        ..assignment_for("unused")
    }
}

/// The next event of a feed, within a generous deadline.
pub async fn next_event(feed: &mut fieldlink_client::AssignmentFeed) -> pb::AssignmentEvent {
    tokio::time::timeout(Duration::from_secs(60), feed.next())
        .await
        .expect("an event in time")
        .expect("the feed is open")
        .expect("an event, not an error")
}

/// Events of a feed until one matches `until` (inclusive).
pub async fn events_until(
    feed: &mut fieldlink_client::AssignmentFeed,
    mut until: impl FnMut(&pb::AssignmentEvent) -> bool,
) -> Vec<pb::AssignmentEvent> {
    let mut events = Vec::new();
    loop {
        let event = next_event(feed).await;
        let done = until(&event);
        events.push(event);
        if done {
            return events;
        }
    }
}

/// A copy of certs-dev in a temporary directory, for tests that rewrite the
/// CRL or other files the server watches.
pub fn dev_certs_copy() -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temporary directory");
    for entry in std::fs::read_dir(certs_dir()).expect("certs-dev") {
        let entry = entry.expect("certs-dev entry");
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy certs-dev");
    }
    copy
}

/// The demo place photos are taken at (latitude, longitude).
pub const PHOTO_PLACE: (f64, f64) = (29.8683, 121.5440);

/// A real JPEG (160 × 120, content from `seed`) taken a second ago at
/// [`PHOTO_PLACE`], its EXIF time and GPS agreeing, as an upload for
/// `record_id`; with its bytes.
pub fn photo_for(record_id: &str, seed: u64) -> (fieldlink_client::PhotoUpload, Vec<u8>) {
    let taken = fieldlink_client::now_ms() - 1000;
    let exif = photos::Exif {
        captured_at_ms: taken,
        position: Some(PHOTO_PLACE),
    };
    let jpeg = photos::jpeg_with_exif(160, 120, seed, exif);
    let upload = fieldlink_client::PhotoUpload::new(record_id, "image/jpeg", taken, jpeg.clone()).at(
        PHOTO_PLACE.0,
        PHOTO_PLACE.1,
        5.0,
    );
    (upload, jpeg)
}

/// A stored inspection as the commit path takes it, for tests and benchmarks
/// that fill storage directly (a year of records): `officer` both sends and
/// is named on it, and its body is `label`'s bytes.
pub fn stored_inspection(
    label: String,
    officer: &str,
    matter_code: &str,
    outcome: i32,
    started_at_ms: i64,
) -> fieldlink_server::storage::NewItem {
    use fieldlink_server::storage::{ItemIndex, ItemKind, NewItem};
    use sha2::Digest;
    let body = label.into_bytes();
    NewItem {
        item_id: uuid::Uuid::now_v7(),
        kind: ItemKind::Inspection,
        device_id: "device-001".into(),
        officer_id: officer.to_owned(),
        case_id: None,
        sha256: sha2::Sha256::digest(&body).into(),
        body,
        capture: None,
        index: ItemIndex::Inspection {
            matter_code: matter_code.to_owned(),
            outcome,
            started_at_ms,
            latitude: 29.87,
            longitude: 121.54,
            assignment_id: None,
            officer_ids: vec![officer.to_owned()],
            photo_ids: vec![],
        },
    }
}
