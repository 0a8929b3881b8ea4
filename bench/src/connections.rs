//! Scenario 4, connections: the server's memory per idle connected terminal
//! (session included) and full mutual-TLS handshakes per second (connect,
//! sign in, first record, ack), against raw quinn with the same TLS and
//! transport settings and no application (idle connections held; bare
//! handshakes), both measured in the same run.
//!
//! Memory is the server process's resident set (VmRSS), so each server runs
//! as a child process (this binary with `--child server|raw`); the terminals
//! share one client endpoint here.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldlink_client::Credentials;
use fieldlink_protocol::{frame, pb};
use fieldlink_tests::{client_config, record};

use crate::report::Figure;

/// How to run the scenario.
pub struct Plan {
    /// Idle terminals to hold (each count measured).
    pub terminals: Vec<usize>,
    /// How long each handshake-rate measurement runs.
    pub window: Duration,
}

pub const SEATS: [(&str, &str); 3] = [
    ("device-001", "officer-01"),
    ("device-002", "officer-02"),
    ("device-003", "officer-03"),
];

/// A child server reads its directory from this file in its data directory
/// when it is there.
pub const CHILD_DIRECTORY: &str = "bench-directory.toml";

/// Runs a child server (`--child server DIR` or `--child raw DIR`) until stdin closes.
pub fn child(kind: &str, data_dir: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut config = fieldlink_tests::dev_config(data_dir);
    config.connections_per_device_max = 100_000;
    config.requests_per_second_per_device = 1e9;
    config.request_burst_per_device = 1e9;
    config.idle_timeout_ms = 600_000;
    config.pending_handshakes_max = 100_000;
    config.handshake_retry_above = 100_000;
    // The quinn settings sweep (docs/benchmarks.md): the same for ours and raw.
    if let Some(streams) = std::env::var("FIELDLINK_BENCH_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.concurrent_requests_max = streams;
    }
    if let Some(kib) = std::env::var("FIELDLINK_BENCH_STREAM_WINDOW_KIB")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        config.stream_receive_window_bytes = kib * 1024;
    }
    // Across a test network (the `tcp` scenario's impaired link): listen on
    // the namespace's address, QUIC and TCP on one port.
    if let Some(ip) = std::env::var("FIELDLINK_BENCH_LISTEN")
        .ok()
        .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    {
        config.listen = std::net::SocketAddr::new(ip, 0);
        config.tcp = Some(std::net::SocketAddr::new(ip, 0));
    }
    // A directory written beside the data (the instruction-count scenario's
    // fleet of officers) replaces the dev one.
    let directory = data_dir.join(CHILD_DIRECTORY);
    if directory.exists() {
        config.directory = Some(directory);
    }
    // Ends when the parent closes our stdin (or goes away).
    let stdin_closed = async {
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await;
    };
    runtime.block_on(async move {
        match kind {
            "server" => fieldlink_server::run(config, stdin_closed)
                .await
                .map_err(|e| e.to_string()),
            "raw" => raw_quinn(config, stdin_closed).await,
            other => Err(format!("unknown child {other}")),
        }
    })
}

/// The raw quinn baseline (see `raw_quic`): holds every connection, nothing else.
async fn raw_quinn(
    config: fieldlink_server::Config,
    until: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let server = crate::raw_quic::RawServer::start(&config, crate::raw_quic::Mode::Feed)?;
    println!("raw quinn listening on {}", server.addr()?);
    until.await;
    Ok(())
}

/// A server in a child process (this binary with `--child KIND DIR`), so
/// that its resident memory is its own.
pub struct ChildServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl ChildServer {
    /// Starts `server` (ours) or `raw` (raw quinn holding connections).
    pub fn start(kind: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        Self::start_in(kind, dir, &[])
    }

    /// Starts `kind` storing in `dir`, run by `wrapper` (a command and its
    /// arguments, such as valgrind's) when it is not empty.
    pub fn start_in(kind: &str, dir: tempfile::TempDir, wrapper: &[String]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = match wrapper.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut child = command
            .arg("--child")
            .arg(kind)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let line = BufReader::new(stdout)
            .lines()
            .next()
            .ok_or("the child printed nothing")?
            .map_err(|e| e.to_string())?;
        let addr = line
            .rsplit(' ')
            .next()
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("no address in {line:?}"))?;
        Ok(Self { child, addr, dir })
    }

    /// Asks it to stop (closes its stdin) and waits up to `deadline` for it
    /// to exit on its own, so that what it writes on exit is written; kills
    /// it after that. True when it exited on its own.
    pub fn finish(&mut self, deadline: Duration) -> bool {
        drop(self.child.stdin.take());
        let started = Instant::now();
        // Bounded by the deadline.
        while started.elapsed() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> Result<f64, String> {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory it has held since it started, KiB.
    pub fn peak_rss_kib(&self) -> Result<f64, String> {
        self.status_kib("VmHWM:")
    }

    /// Where it keeps its database and evidence.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `/proc/PID/status` line's value in KiB.
    fn status_kib(&self, key: &str) -> Result<f64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| e.to_string())?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no {key}"))
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session token per device (one argon2 sign-in each).
pub async fn tokens(addr: SocketAddr) -> Result<Vec<fieldlink_client::ClientConfig>, String> {
    let mut configs = Vec::new();
    for (device, officer) in SEATS {
        let client = fieldlink_tests::connect(addr, device, officer)
            .await
            .map_err(|e| e.to_string())?;
        let token = client.welcome().await.ok_or("no welcome")?.session_token;
        client.close().await;
        let mut config = client_config(addr, device, officer);
        config.credentials = Credentials::Token(token);
        configs.push(config);
    }
    Ok(configs)
}

/// Opens `count` signed-in sessions (or bare connections with `raw`).
pub async fn hold(
    endpoint: &quinn::Endpoint,
    configs: &[fieldlink_client::ClientConfig],
    count: usize,
    raw: bool,
) -> Result<Vec<quinn::Connection>, String> {
    let quics: Vec<quinn::ClientConfig> = configs
        .iter()
        .map(fieldlink_client::raw::quic_client_config)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut held = Vec::with_capacity(count);
    for index in 0..count {
        let (config, quic) = (&configs[index % configs.len()], &quics[index % quics.len()]);
        let connection = if raw {
            endpoint
                .connect_with(quic.clone(), config.server_addr, "localhost")
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())?
        } else {
            fieldlink_client::raw::open_raw_session(endpoint, quic, config)
                .await
                .map_err(|e| e.to_string())?
                .0
        };
        held.push(connection);
    }
    Ok(held)
}

/// Handshakes in progress at once: a fleet reconnecting after an outage.
pub const HANDSHAKES_AT_ONCE: usize = 32;

/// One handshake, then the connection is closed: with `full`, the hello
/// (signing in as `config` says) and a first record (unsigned) answered;
/// else the mutual-TLS handshake alone.
pub async fn handshake(
    endpoint: &quinn::Endpoint,
    quic: &quinn::ClientConfig,
    config: &fieldlink_client::ClientConfig,
    officer: &str,
    full: bool,
) -> Result<(), String> {
    let connection = if full {
        let (connection, _) = fieldlink_client::raw::open_raw_session(endpoint, quic, config)
            .await
            .map_err(|e| e.to_string())?;
        let request = frame::encode(&pb::Request {
            body: Some(pb::request::Body::SubmitInspection(record(officer))),
            capture: None,
        });
        let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(&request).await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        recv.read_to_end(1 << 16).await.map_err(|e| e.to_string())?;
        connection
    } else {
        endpoint
            .connect_with(quic.clone(), config.server_addr, "localhost")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?
    };
    connection.close(0u32.into(), b"done");
    Ok(())
}

/// Completed handshakes per second over `window`, [`HANDSHAKES_AT_ONCE`]
/// at a time; with `full`,
/// each also signs in and gets its first record acknowledged.
async fn handshake_rate(
    endpoint: &quinn::Endpoint,
    configs: &[fieldlink_client::ClientConfig],
    window: Duration,
    full: bool,
) -> Result<f64, String> {
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for worker in 0..HANDSHAKES_AT_ONCE {
        let (endpoint, config) = (endpoint.clone(), configs[worker % configs.len()].clone());
        tasks.push(tokio::spawn(async move {
            let quic = fieldlink_client::raw::quic_client_config(&config).map_err(|e| e.to_string())?;
            // configs follow SEATS' order.
            let officer = SEATS[worker % SEATS.len()].1;
            let mut done = 0u64;
            // Bounded by the window and 100,000 handshakes.
            while Instant::now() < deadline && done < 100_000 {
                handshake(&endpoint, &quic, &config, officer, full).await?;
                done += 1;
            }
            Ok::<_, String>(done)
        }));
    }
    crate::stats::per_second(tasks, started).await
}

/// Runs scenario 4.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();
    let endpoint =
        fieldlink_client::raw::client_endpoint("127.0.0.1:1".parse().map_err(|_| "addr")?, 8 << 20)
            .map_err(|e| e.to_string())?;
    for &count in &plan.terminals {
        let ours = ChildServer::start("server")?;
        let raw = ChildServer::start("raw")?;
        let our_configs = tokens(ours.addr).await?;
        let raw_configs: Vec<_> = SEATS.iter().map(|(d, o)| client_config(raw.addr, d, o)).collect();
        // Warm both up with a few connections, then measure the growth.
        let warm_ours = hold(&endpoint, &our_configs, 8, false).await?;
        let warm_raw = hold(&endpoint, &raw_configs, 8, true).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (ours_before, raw_before) = (ours.rss_kib()?, raw.rss_kib()?);
        let held_ours = hold(&endpoint, &our_configs, count, false).await?;
        let held_raw = hold(&endpoint, &raw_configs, count, true).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let per_ours = (ours.rss_kib()? - ours_before) / count as f64;
        let per_raw = (raw.rss_kib()? - raw_before) / count as f64;
        figures.push(
            Figure::plain(
                "conns",
                &format!("KiB per idle terminal, {count} held"),
                per_ours,
                "KiB",
            )
            .against("raw quinn idle connection", per_raw)
            .goal(
                "<= 1.05 x raw quinn per idle terminal (issue #21; was <= 24 KiB)",
                per_ours <= 1.05 * per_raw,
            ),
        );
        for connection in held_ours
            .iter()
            .chain(&held_raw)
            .chain(&warm_ours)
            .chain(&warm_raw)
        {
            connection.close(0u32.into(), b"done");
        }
        if count == plan.terminals[0] {
            let full = handshake_rate(&endpoint, &our_configs, plan.window, true).await?;
            let bare = handshake_rate(&endpoint, &raw_configs, plan.window, false).await?;
            figures.push(
                Figure::plain(
                    "conns",
                    &format!("handshakes/s, {HANDSHAKES_AT_ONCE} at once (connect, sign in, record, ack)"),
                    full,
                    "/s",
                )
                .against("raw quinn mutual-TLS handshakes", bare)
                .goal(">= 0.8 x raw handshakes", full / bare >= 0.8),
            );
        }
    }
    Ok(figures)
}
