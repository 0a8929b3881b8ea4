//! Scenario `instructions`: CPU instructions the server process spends per
//! acknowledged record and per pushed event, counted by valgrind's callgrind
//! (instructions, not seconds: the same binary and inputs give the same
//! count whatever else the machine is doing, so these figures judge a
//! change where timings on a shared machine cannot).
//!
//! Each count is a difference between two runs of a fresh child server under
//! callgrind that differ only in the amount of work (for example 100 and
//! 500 records), divided by the difference in work: start-up, sign-in and
//! shutdown cancel out. The split by stage is the inclusive count of the
//! function that does each stage (see [`RECORD_STAGES`]); the split by
//! component is the self count of every function grouped by the crate or
//! library it belongs to. The clients run natively in this process; only
//! the server is counted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fieldlink_client::Client;
use fieldlink_tests::{assignment_for, assignment_for_team, record};
use tokio::sync::mpsc;

use crate::connections::{ChildServer, CHILD_DIRECTORY};
use crate::fleet_directory::{self, officer, TEAM};
use crate::report::Figure;

/// How to run it.
pub struct Plan {
    /// Records in the smaller and the larger run.
    pub records: (usize, usize),
    /// Terminals holding their feeds in the push runs.
    pub terminals: usize,
    /// Team broadcasts in the smaller and the larger run.
    pub broadcasts: (usize, usize),
    /// Assignments to one officer each in the smaller and the larger run.
    pub singles: (usize, usize),
    /// Handshakes in the smaller and the larger run (ours and raw quinn's).
    pub handshakes: (usize, usize),
}

/// Terminals submitting records, each one after another.
const SUBMITTERS: usize = 4;
/// How long a child may take to write its profile and exit.
const EXIT_DEADLINE: Duration = Duration::from_secs(300);
/// How long the deliveries of one dispatch may take under callgrind.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);

/// A stage of the request path and the function (a prefix of its demangled
/// name) whose inclusive count is that stage's. Only functions the compiler
/// keeps as functions of their own can be stages (async functions are often
/// compiled into their caller); none of a case's stages calls another, so
/// the total less their sum is everything else.
pub struct Stage {
    /// The stage, in words.
    pub name: &'static str,
    /// Demangled function-name prefixes; their inclusive counts are summed
    /// (none of them calls another).
    pub functions: &'static [&'static str],
}

/// The stages of one acknowledged record.
pub const RECORD_STAGES: &[Stage] = &[
    Stage {
        name: "decode (frame and envelope to the record)",
        functions: &["fieldlink_protocol::envelope::parse_request"],
    },
    Stage {
        name: "device signature check (ECDSA P-256 over the capture)",
        functions: &["fieldlink_server::services::capture_check::attach"],
    },
    Stage {
        name: "validate (record, catalogue, directory, who may submit)",
        functions: &["fieldlink_server::services::inspection::check"],
    },
    Stage {
        name: "commit (the writer: SQLite transaction, log leaves, fsync)",
        functions: &["fieldlink_server::storage::group_commit::run_writer::{{closure}}"],
    },
    Stage {
        name: "receipt (stored receipt to the wire answer)",
        functions: &["fieldlink_server::services::commit::wire_receipt"],
    },
    Stage {
        name: "answer (encode and write the response frame)",
        functions: &["fieldlink_protocol::io::write_frame::{{closure}}"],
    },
];

/// The stages of one pushed event that are functions of their own (the
/// feed's forwarding and the delivery marks are compiled into the tasks
/// that run them; the components show them).
pub const PUSH_STAGES: &[Stage] = &[
    Stage {
        name: "event commit (the writer: assignment, event, audience, log leaf)",
        functions: &["fieldlink_server::storage::event_commit::run_writer::{{closure}}"],
    },
    Stage {
        name: "acknowledged cursors (the writer)",
        functions: &["fieldlink_server::storage::cursor_commit::run_writer::{{closure}}"],
    },
];

/// Components: a self count belongs to the first whose patterns its
/// function's name contains; C functions in our binary (no `::` in the
/// name) that are not crypto are SQLite's, the only other C we link.
const COMPONENTS: &[(&str, &[&str])] = &[
    (
        "crypto (TLS, certificates, device signatures: rustls, webpki, ring)",
        &[
            "rustls",
            "webpki",
            "ring::",
            "ring_core",
            "nistz256",
            "p256",
            "x25519",
            "aws_lc",
            "GFp_",
            "_block_data_order",
            "chacha",
            "ChaCha",
            "aes",
            "gcm_",
            "poly1305",
            "bn_",
            "LIMB",
            "OPENSSL",
            "CRYPTO_",
            "fiat_",
            // curve25519's field and group internals
            "fe_",
            "ge_",
            "table_select",
            "x25519",
        ],
    ),
    (
        "QUIC (quinn, quinn-proto, quinn-udp)",
        &["quinn_proto::", "quinn::", "quinn_udp::"],
    ),
    ("sqlx", &["sqlx_core::", "sqlx_sqlite::", "sqlx_postgres::"]),
    ("protobuf (prost)", &["prost::", "fieldlink_protocol::pb::"]),
    ("hashing (SHA-256, SM3)", &["sha2::", "sm3::", "digest::"]),
    ("tokio", &["tokio::", "tokio_util::"]),
    ("fieldlink", &["fieldlink_"]),
    (
        "Rust std (alloc, core, std)",
        &["alloc::", "core::", "std::", "hashbrown::"],
    ),
];

/// A component of the C library (libc, the loader).
fn libc_component(name: &str) -> &'static str {
    const MEMORY: [&str; 7] = [
        "malloc", "free", "realloc", "calloc", "memcpy", "memmove", "memset",
    ];
    if MEMORY.iter().any(|m| name.contains(m)) || name.starts_with("_int_") {
        "memory (malloc, free, memcpy in libc)"
    } else {
        "libc and system calls"
    }
}

/// The component a function's self count belongs to.
fn component_of(name: &str, object: &str) -> &'static str {
    if object.contains("libc.so") || object.contains("ld-linux") {
        return libc_component(name);
    }
    if let Some((component, _)) = COMPONENTS
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| name.contains(p)))
    {
        return component;
    }
    if !name.contains("::") && !name.is_empty() {
        return "SQLite (C)";
    }
    "other"
}

/// One profile: the total and the per-function counts.
#[derive(Default)]
struct Profile {
    total: u64,
    inclusive: HashMap<String, u64>,
    /// Self counts by (function, object file).
    exclusive: HashMap<(String, String), u64>,
}

impl Profile {
    fn inclusive_of(&self, prefixes: &[&str]) -> u64 {
        self.inclusive
            .iter()
            .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p)))
            .map(|(_, count)| *count)
            .sum()
    }

    fn by_component(&self) -> BTreeMap<&'static str, u64> {
        let mut components = BTreeMap::new();
        for ((name, object), count) in &self.exclusive {
            *components.entry(component_of(name, object)).or_insert(0) += count;
        }
        components
    }
}

/// True when valgrind and callgrind_annotate can be run.
pub fn available() -> bool {
    // callgrind_annotate answers --version on stderr with a non-zero exit.
    ["valgrind", "callgrind_annotate"].iter().all(|tool| {
        Command::new(tool).arg("--version").output().is_ok_and(|output| {
            let said = [output.stdout, output.stderr].concat();
            String::from_utf8_lossy(&said).contains("3.")
        })
    })
}

/// A child server under callgrind with a directory of `officers`.
fn profiled_server(officers: usize, out: &Path) -> Result<ChildServer, String> {
    profiled_child("server", officers, out)
}

/// A child (`server`, or `raw`: raw quinn holding connections) under
/// callgrind.
fn profiled_child(kind: &str, officers: usize, out: &Path) -> Result<ChildServer, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let directory = fleet_directory::write(officers)?;
    std::fs::copy(directory.path(), dir.path().join(CHILD_DIRECTORY)).map_err(|e| e.to_string())?;
    let wrapper = [
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        "--dump-instr=no".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    tokio::task::block_in_place(|| ChildServer::start_in(kind, dir, &wrapper))
}

/// Stops the child and reads its profile.
fn finish(mut child: ChildServer, out: &Path) -> Result<Profile, String> {
    if !tokio::task::block_in_place(|| child.finish(EXIT_DEADLINE)) {
        return Err("the profiled server did not exit in time".into());
    }
    read_profile(out)
}

/// Parses `callgrind_annotate` over `out`: inclusive and self counts per
/// function.
fn read_profile(out: &Path) -> Result<Profile, String> {
    let annotate = |inclusive: bool| -> Result<String, String> {
        let output = Command::new("callgrind_annotate")
            .arg(format!("--inclusive={}", if inclusive { "yes" } else { "no" }))
            .arg("--threshold=100")
            .arg(out)
            .output()
            .map_err(|e| format!("callgrind_annotate: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "callgrind_annotate failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let mut profile = Profile::default();
    let inclusive = annotate(true)?;
    for (count, name, _) in inclusive.lines().filter_map(parse_line) {
        if name == "PROGRAM TOTALS" {
            profile.total = count;
        } else {
            *profile.inclusive.entry(name).or_insert(0) += count;
        }
    }
    for (count, name, object) in annotate(false)?.lines().filter_map(parse_line) {
        if name != "PROGRAM TOTALS" {
            *profile.exclusive.entry((name, object)).or_insert(0) += count;
        }
    }
    if profile.total == 0 {
        return Err(format!("no totals in {}", out.display()));
    }
    Ok(profile)
}

/// One line of `callgrind_annotate`: `1,234 (12.3%)  file:function [object]`
/// or `1,234  file:function`; returns the count, the function and the
/// object (empty when not shown).
fn parse_line(line: &str) -> Option<(u64, String, String)> {
    let line = line.trim_start();
    let (count, rest) = line.split_once(' ')?;
    let count: u64 = count.replace(',', "").parse().ok()?;
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix('(') {
        Some(percent) => percent.split_once(')')?.1.trim_start(),
        None => rest,
    };
    if rest.starts_with("PROGRAM TOTALS") {
        return Some((count, "PROGRAM TOTALS".into(), String::new()));
    }
    let (function, object) = match rest.rsplit_once(" [") {
        Some((function, object)) => (function, object.trim_end_matches(']')),
        None => (rest, ""),
    };
    // The function follows the file, after the first ':' that is not part of a `::`.
    let name = split_file(function);
    // callgrind_annotate leaves out the object of some lines; glibc's own
    // source paths (`./malloc/arena.c`) still tell whose they are.
    let object = if object.is_empty() && function.starts_with("./") {
        "libc.so (by its source path)"
    } else {
        object
    };
    Some((count, name.to_owned(), object.to_owned()))
}

fn split_file(file_and_function: &str) -> &str {
    let bytes = file_and_function.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b':' && bytes.get(index + 1) != Some(&b':') && (index == 0 || bytes[index - 1] != b':') {
            return &file_and_function[index + 1..];
        }
    }
    file_and_function
}

/// Terminals of bench officers `0..count`, signed in.
async fn terminals(addr: std::net::SocketAddr, count: usize) -> Result<Vec<Client>, String> {
    let configs = (0..count)
        .map(|index| fleet_directory::terminal_config(addr, index))
        .collect();
    // Under callgrind a sign-in is slow: fewer at once than the server's
    // password_checks_max (4), so none is refused as busy.
    fleet_directory::connect_all(configs, 2).await
}

/// Instructions of a server that acknowledges `records` records.
async fn records_run(records: usize, scratch: &Path) -> Result<Profile, String> {
    let out = scratch.join(format!("records-{records}.callgrind"));
    let child = profiled_server(SUBMITTERS, &out)?;
    let clients = terminals(child.addr, SUBMITTERS).await?;
    let mut tasks = Vec::new();
    for (index, client) in clients.iter().enumerate() {
        let client = client.clone();
        let count = records / SUBMITTERS + usize::from(index < records % SUBMITTERS);
        tasks.push(tokio::spawn(async move {
            for _ in 0..count {
                client
                    .submit_inspection(&record(&officer(index)))
                    .await
                    .map_err(|e| format!("submit: {e}"))?;
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    crate::ingest::close_all(clients).await;
    finish(child, &out)
}

/// Instructions of a server holding `terminals` feeds while a supervisor
/// dispatches `broadcasts` team assignments (each delivered to every
/// terminal) and `singles` assignments to one officer each, one after
/// another, each delivered before the next is sent.
async fn push_run(
    terminals_held: usize,
    broadcasts: usize,
    singles: usize,
    scratch: &Path,
) -> Result<Profile, String> {
    let out = scratch.join(format!("push-{broadcasts}-{singles}.callgrind"));
    let child = profiled_server(terminals_held, &out)?;
    let clients = terminals(child.addr, terminals_held).await?;
    let (sender, mut arrivals) = mpsc::unbounded_channel();
    let feeds: Vec<_> = clients
        .iter()
        .map(|client| crate::push::forward_new_assignments(client, sender.clone()))
        .collect();
    let supervisor = fieldlink_tests::connect(child.addr, "device-001", "supervisor-01")
        .await
        .map_err(|e| format!("supervisor: {e}"))?;
    let dispatches = (0..broadcasts)
        .map(|_| (assignment_for_team(TEAM), terminals_held))
        .chain((0..singles).map(|index| (assignment_for(&officer(index % terminals_held)), 1)));
    for (assignment, expected) in dispatches {
        supervisor
            .create_assignment(&assignment)
            .await
            .map_err(|e| format!("dispatch: {e}"))?;
        wait_for(&mut arrivals, &assignment.id, expected).await?;
    }
    for feed in feeds {
        feed.abort();
    }
    crate::ingest::close_all(clients.into_iter().chain([supervisor])).await;
    finish(child, &out)
}

/// Instructions of `handshakes` handshakes one after another: full ones
/// (the hello with a session token, a first record answered) against our
/// server, or bare mutual-TLS handshakes against raw quinn (`raw`).
async fn handshakes_run(raw: bool, handshakes: usize, scratch: &Path) -> Result<Profile, String> {
    let kind = if raw { "raw" } else { "server" };
    let out = scratch.join(format!("handshakes-{kind}-{handshakes}.callgrind"));
    let child = profiled_child(kind, 1, &out)?;
    let mut config = fleet_directory::terminal_config(child.addr, 0);
    if !raw {
        // One password sign-in for a token; every handshake signs in with it.
        let client = Client::connect(config.clone())
            .await
            .map_err(|e| format!("sign-in: {e}"))?;
        let token = client.welcome().await.ok_or("no welcome")?.session_token;
        client.close().await;
        config.credentials = fieldlink_client::Credentials::Token(token);
    }
    let endpoint = fieldlink_client::raw::client_endpoint(child.addr, 8 << 20).map_err(|e| e.to_string())?;
    let quic = fieldlink_client::raw::quic_client_config(&config).map_err(|e| e.to_string())?;
    for _ in 0..handshakes {
        crate::connections::handshake(&endpoint, &quic, &config, &officer(0), !raw).await?;
    }
    endpoint.wait_idle().await;
    finish(child, &out)
}

/// Waits until `id` has arrived `expected` times (feeds may still deliver
/// an earlier dispatch's warm-up; other ids are skipped).
async fn wait_for(
    arrivals: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    id: &str,
    expected: usize,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + DELIVERY_DEADLINE;
    let mut seen = 0;
    while seen < expected {
        let arrived = tokio::time::timeout_at(deadline, arrivals.recv())
            .await
            .map_err(|_| format!("only {seen} of {expected} deliveries in time"))?
            .ok_or("the feeds stopped")?;
        if arrived.0 == id {
            seen += 1;
        }
    }
    Ok(())
}

/// The figures of a pair of runs: the total and each stage and component,
/// per unit of work.
fn per_unit(
    case: &str,
    unit: &str,
    small: &Profile,
    large: &Profile,
    units: f64,
    stages: &[Stage],
) -> Vec<Figure> {
    let per = |a: u64, b: u64| (b as f64 - a as f64) / units;
    let mut figures = vec![Figure::plain(
        "instructions",
        &format!("{case}: server instructions per {unit}"),
        per(small.total, large.total),
        "instr",
    )];
    let mut staged = 0.0;
    for stage in stages {
        let count = per(
            small.inclusive_of(stage.functions),
            large.inclusive_of(stage.functions),
        );
        staged += count;
        figures.push(Figure::plain(
            "instructions",
            &format!("{case}: stage {}", stage.name),
            count,
            "instr",
        ));
    }
    figures.push(Figure::plain(
        "instructions",
        &format!("{case}: everything else (QUIC, TLS records, tasks, frames, allocation)"),
        per(small.total, large.total) - staged,
        "instr",
    ));
    let (small_components, large_components) = (small.by_component(), large.by_component());
    for (component, count) in &large_components {
        let before = small_components.get(component).copied().unwrap_or(0);
        figures.push(Figure::plain(
            "instructions",
            &format!("{case}: component {component}"),
            per(before, *count),
            "instr",
        ));
    }
    figures
}

/// The work the larger run of a pair does beyond the smaller.
fn between((smaller, larger): (usize, usize)) -> f64 {
    larger.saturating_sub(smaller) as f64
}

fn progress(what: &str, started: Instant) {
    eprintln!(
        "instructions: {what} profiled ({:.0} s so far)",
        started.elapsed().as_secs_f64()
    );
}

/// Runs it (skipped, saying so, without valgrind).
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    if !available() {
        eprintln!("instructions: skipped: valgrind (callgrind) is not installed");
        return Ok(Vec::new());
    }
    let temporary = tempfile::tempdir().map_err(|e| e.to_string())?;
    let scratch = match kept_profiles() {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            eprintln!("instructions: keeping the profiles in {}", dir.display());
            dir
        }
        None => temporary.path().to_path_buf(),
    };
    let scratch = scratch.as_path();
    let started = Instant::now();
    let small = records_run(plan.records.0, scratch).await?;
    let large = records_run(plan.records.1, scratch).await?;
    progress("records", started);
    let mut figures = per_unit(
        "record",
        "acknowledged record",
        &small,
        &large,
        between(plan.records),
        RECORD_STAGES,
    );

    let base = push_run(plan.terminals, plan.broadcasts.0, plan.singles.0, scratch).await?;
    let more_broadcasts = push_run(plan.terminals, plan.broadcasts.1, plan.singles.0, scratch).await?;
    let more_singles = push_run(plan.terminals, plan.broadcasts.0, plan.singles.1, scratch).await?;
    progress("pushes", started);
    let delivered = between(plan.broadcasts) * plan.terminals as f64;
    figures.extend(per_unit(
        "broadcast",
        &format!("delivered event ({} terminals)", plan.terminals),
        &base,
        &more_broadcasts,
        delivered,
        PUSH_STAGES,
    ));
    figures.extend(per_unit(
        "one each",
        "dispatched and delivered assignment",
        &base,
        &more_singles,
        between(plan.singles),
        PUSH_STAGES,
    ));
    let (ours_small, ours_large) = (
        handshakes_run(false, plan.handshakes.0, scratch).await?,
        handshakes_run(false, plan.handshakes.1, scratch).await?,
    );
    let (raw_small, raw_large) = (
        handshakes_run(true, plan.handshakes.0, scratch).await?,
        handshakes_run(true, plan.handshakes.1, scratch).await?,
    );
    progress("handshakes", started);
    let handshakes = between(plan.handshakes);
    let mut ours = per_unit(
        "handshake",
        "full handshake (mutual TLS, hello with a token, first record answered)",
        &ours_small,
        &ours_large,
        handshakes,
        RECORD_STAGES,
    );
    let raw = per_unit(
        "raw handshake",
        "bare mutual-TLS handshake (raw quinn)",
        &raw_small,
        &raw_large,
        handshakes,
        &[],
    );
    if let (Some(full), Some(bare)) = (ours.first_mut(), raw.first()) {
        let bare = bare.value;
        *full = full.clone().against("raw quinn, bare mutual-TLS handshake", bare);
    }
    figures.extend(ours);
    figures.extend(raw);
    Ok(figures)
}

/// Where the callgrind profiles are kept for reading by hand
/// (`FIELDLINK_BENCH_KEEP_PROFILES=DIR`; otherwise they are deleted).
fn kept_profiles() -> Option<PathBuf> {
    std::env::var_os("FIELDLINK_BENCH_KEEP_PROFILES").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotate_lines_give_the_count_the_function_and_the_object() {
        assert_eq!(
            parse_line("5,213,221,402 (100.0%)  PROGRAM TOTALS"),
            Some((5_213_221_402, "PROGRAM TOTALS".into(), String::new()))
        );
        assert_eq!(
            parse_line(
                "  1,234,567 (12.34%)  ???:fieldlink_server::request::serve_stream::{{closure}} [/x/fieldlink-bench]"
            ),
            Some((
                1_234_567,
                "fieldlink_server::request::serve_stream::{{closure}}".into(),
                "/x/fieldlink-bench".into()
            ))
        );
        assert_eq!(
            parse_line("42  /usr/src/sqlite3.c:sqlite3VdbeExec"),
            Some((42, "sqlite3VdbeExec".into(), String::new()))
        );
        assert_eq!(
            parse_line("44,366 ( 0.05%)  ./malloc/./malloc/arena.c:free"),
            Some((44_366, "free".into(), "libc.so (by its source path)".into()))
        );
        assert_eq!(parse_line("Ir  file:function"), None);
        assert_eq!(parse_line("--------"), None);
    }

    #[test]
    fn components_by_name_and_object() {
        let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        let cases = [
            ("sqlite3VdbeExec", "/x/bench", "SQLite (C)"),
            ("walChecksumBytes", "/x/bench", "SQLite (C)"),
            (
                "__ecp_nistz256_mul_montq",
                "/x/bench",
                "crypto (TLS, certificates, device signatures: rustls, webpki, ring)",
            ),
            (
                "<quinn_proto::frame::Iter as core::iter::traits::iterator::Iterator>::next",
                "/x/bench",
                "QUIC (quinn, quinn-proto, quinn-udp)",
            ),
            (
                "__memcpy_avx_unaligned_erms",
                libc,
                "memory (malloc, free, memcpy in libc)",
            ),
            ("_int_free", libc, "memory (malloc, free, memcpy in libc)"),
            ("pthread_mutex_lock@@GLIBC_2.2.5", libc, "libc and system calls"),
            ("sha2::sha256::compress256", "/x/bench", "hashing (SHA-256, SM3)"),
        ];
        for (name, object, component) in cases {
            assert_eq!(component_of(name, object), component, "{name}");
        }
        let profile = Profile {
            total: 10,
            inclusive: HashMap::new(),
            exclusive: HashMap::from([
                (("sqlite3VdbeExec".to_owned(), "/x".to_owned()), 5),
                (("sqlite3_step".to_owned(), "/x".to_owned()), 3),
            ]),
        };
        assert_eq!(profile.by_component().get("SQLite (C)"), Some(&8));
    }
}
