//! The terminal fleet simulator: N simulated terminals, each an officer
//! working a shift against a real server, bounded in count and time.
//!
//! Each terminal watches its assignment feed; for every assignment it
//! accepts, goes en route and on site, submits an inspection record with
//! generated JPEG photos (1–4 MB, with EXIF), now and then an electronic
//! service confirmation and an interview, then completes the assignment with
//! its record. With no assignment waiting it patrols: a standalone record
//! with photos. A dispatcher (the supervisor account) hands out assignments.
//! `--seed` makes the choices and photo contents reproducible (ids and
//! timestamps are not). `--loss` drops that share of each terminal's own
//! outgoing datagrams.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_client::{Client, ClientConfig, PhotoUpload};
use fieldlink_protocol::pb::{self, AssignmentEventKind as Kind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

use crate::photos::{self, Exif};

/// How often a simulated terminal reports its position (above the server's
/// default `position_interval_ms_min` of 2 s).
const POSITION_EVERY: Duration = Duration::from_millis(2_500);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Terminals to run.
    pub terminals: usize,
    /// How long, in all.
    pub duration: Duration,
    /// Seed for choices and photo contents.
    pub seed: u64,
    /// Photos per inspection record.
    pub photos_per_record: usize,
    /// Share of outgoing datagrams each terminal drops.
    pub loss: f64,
    /// Officers the terminals sign in as (round robin).
    pub officers: Vec<String>,
    /// Device certificates (file stems) the terminals use (round robin).
    pub devices: Vec<String>,
    /// The supervisor that dispatches assignments, if any.
    pub supervisor: Option<String>,
    /// Most assignments the dispatcher creates.
    pub assignments_max: u64,
}

/// The run's outcome: the one JSON line the simulator prints.
#[derive(Debug, Default, serde::Serialize)]
pub struct SimSummary {
    /// Terminals that ran.
    pub terminals: usize,
    /// Inspection records acknowledged.
    pub records_acked: u64,
    /// Photos acknowledged.
    pub photos_acked: u64,
    /// Service confirmations acknowledged.
    pub services_acked: u64,
    /// Interviews acknowledged.
    pub interviews_acked: u64,
    /// Assignments dispatched by the simulator's supervisor.
    pub assignments_dispatched: u64,
    /// Assignment CREATED/REASSIGNED events the terminals received.
    pub assignments_received: u64,
    /// Assignments the terminals completed.
    pub assignments_completed: u64,
    /// Live positions the terminals sent (datagrams: the server may drop some).
    pub positions_sent: u64,
    /// Requests that failed (after the SDK's retries).
    pub errors: u64,
    /// Photo bytes acknowledged.
    pub photo_bytes_acked: u64,
    /// Client-side acknowledgement latency of records, median, ms.
    pub ack_latency_ms_p50: f64,
    /// Client-side acknowledgement latency of records, 99th percentile, ms.
    pub ack_latency_ms_p99: f64,
    /// Wall time of the run, s.
    pub elapsed_s: f64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    photos: AtomicU64,
    services: AtomicU64,
    interviews: AtomicU64,
    dispatched: AtomicU64,
    received: AtomicU64,
    completed: AtomicU64,
    positions: AtomicU64,
    errors: AtomicU64,
    photo_bytes: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// Runs the fleet; `client_config(officer, device)` builds each terminal's
/// connection settings (a terminal whose settings fail is counted as an
/// error and not started). Prints progress to stderr every 5 s.
pub async fn run(
    config: SimConfig,
    client_config: impl Fn(&str, &str) -> Result<ClientConfig, fieldlink_client::Error>,
) -> SimSummary {
    let started = Instant::now();
    let deadline = started + config.duration;
    let counters = Arc::new(Counters::default());
    let mut tasks = Vec::new();
    for index in 0..config.terminals {
        let officer = config.officers[index % config.officers.len()].clone();
        let device = config.devices[index % config.devices.len()].clone();
        let mut client_settings = match client_config(&officer, &device) {
            Ok(settings) => settings,
            Err(error) => {
                eprintln!("sim: terminal {index}: {error}");
                counters.errors.fetch_add(1, Relaxed);
                continue;
            }
        };
        client_settings.simulated_send_loss = config.loss;
        let counters = counters.clone();
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            terminal(index, officer, client_settings, config, deadline, counters).await;
        }));
    }
    let dispatcher_settings = config
        .supervisor
        .as_deref()
        .map(|supervisor| client_config(supervisor, &config.devices[0]));
    match dispatcher_settings {
        None => {}
        Some(Err(error)) => {
            eprintln!("sim: dispatcher: {error}");
            counters.errors.fetch_add(1, Relaxed);
        }
        Some(Ok(settings)) => {
            let (counters, config) = (counters.clone(), config.clone());
            tasks.push(tokio::spawn(async move {
                dispatcher(settings, config, deadline, counters).await
            }));
        }
    }
    let progress = {
        let counters = counters.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!(
                    "sim: {:>4.0}s records={} photos={} services={} interviews={} assignments={}/{} errors={}",
                    started.elapsed().as_secs_f64(),
                    counters.records.load(Relaxed),
                    counters.photos.load(Relaxed),
                    counters.services.load(Relaxed),
                    counters.interviews.load(Relaxed),
                    counters.completed.load(Relaxed),
                    counters.received.load(Relaxed),
                    counters.errors.load(Relaxed),
                );
            }
        })
    };
    for task in tasks {
        let _ = task.await;
    }
    progress.abort();
    let mut latencies = counters.latencies_us.lock().await.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index] as f64 / 1000.0
    };
    SimSummary {
        terminals: config.terminals,
        records_acked: counters.records.load(Relaxed),
        photos_acked: counters.photos.load(Relaxed),
        services_acked: counters.services.load(Relaxed),
        interviews_acked: counters.interviews.load(Relaxed),
        assignments_dispatched: counters.dispatched.load(Relaxed),
        assignments_received: counters.received.load(Relaxed),
        assignments_completed: counters.completed.load(Relaxed),
        positions_sent: counters.positions.load(Relaxed),
        errors: counters.errors.load(Relaxed),
        photo_bytes_acked: counters.photo_bytes.load(Relaxed),
        ack_latency_ms_p50: percentile(0.50),
        ack_latency_ms_p99: percentile(0.99),
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}

async fn terminal(
    index: usize,
    officer: String,
    settings: ClientConfig,
    config: SimConfig,
    deadline: Instant,
    counters: Arc<Counters>,
) {
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(index as u64 * 7919));
    let client = match Client::new(settings) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("sim: terminal {index}: {error}");
            counters.errors.fetch_add(1, Relaxed);
            return;
        }
    };
    let mut feed = client.assignments();
    let mut records_done = 0u64;
    // Each officer walks the town, reporting where it is (live positions)
    // at most every POSITION_EVERY, as a terminal's GPS would.
    let mut walker = (
        29.86 + rng.gen_range(-0.02..0.02),
        121.54 + rng.gen_range(-0.02..0.02),
    );
    let mut next_position = Instant::now();
    while Instant::now() < deadline {
        if Instant::now() >= next_position {
            walker.0 += rng.gen_range(-0.0003..0.0003);
            walker.1 += rng.gen_range(-0.0003..0.0003);
            let ping = fieldlink_protocol::pb::PositionPing {
                latitude: walker.0,
                longitude: walker.1,
                accuracy_m: 6.0,
                speed_mps: 1.3,
                at_ms: fieldlink_client::now_ms(),
            };
            match client.send_position(&ping).await {
                Ok(()) => {
                    counters.positions.fetch_add(1, Relaxed);
                }
                // Offline for now: the next fix replaces it.
                Err(error) if error.is_retryable() => {}
                Err(error) => {
                    eprintln!("sim: terminal {index}: position: {error}");
                    counters.errors.fetch_add(1, Relaxed);
                }
            }
            next_position = Instant::now() + POSITION_EVERY;
        }
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(2));
        let event = match tokio::time::timeout(wait, feed.next()).await {
            Ok(Some(Ok(event))) => Some(event),
            Ok(Some(Err(error))) => {
                eprintln!("sim: terminal {index}: feed: {error}");
                counters.errors.fetch_add(1, Relaxed);
                break;
            }
            Ok(None) => break,
            Err(_) => None,
        };
        let assignment = event.and_then(|event| {
            matches!(Kind::try_from(event.kind), Ok(Kind::Created | Kind::Reassigned))
                .then_some(event.assignment)
                .flatten()
        });
        if Instant::now() >= deadline {
            break;
        }
        match assignment {
            Some(assignment) => {
                counters.received.fetch_add(1, Relaxed);
                work_assignment(
                    &client,
                    &officer,
                    &assignment,
                    &config,
                    &mut rng,
                    &counters,
                    &mut records_done,
                )
                .await;
            }
            None => {
                // Patrol: a record of one's own.
                submit_record(
                    &client,
                    &officer,
                    None,
                    &config,
                    &mut rng,
                    &counters,
                    &mut records_done,
                )
                .await;
            }
        }
    }
    drop(feed);
    client.close().await;
}

async fn work_assignment(
    client: &Client,
    officer: &str,
    assignment: &pb::Assignment,
    config: &SimConfig,
    rng: &mut StdRng,
    counters: &Counters,
    records_done: &mut u64,
) {
    // A team-mate may win the race for a team assignment: that is fine.
    if client.accept_assignment(&assignment.id).await.is_err() {
        return;
    }
    let steps = async {
        client.en_route(&assignment.id).await?;
        client.on_site(&assignment.id).await
    };
    if steps.await.is_err() {
        counters.errors.fetch_add(1, Relaxed);
        return;
    }
    let Some(record_id) = submit_record(
        client,
        officer,
        Some(assignment),
        config,
        rng,
        counters,
        records_done,
    )
    .await
    else {
        return;
    };
    match client.complete_assignment(&assignment.id, &[record_id]).await {
        Ok(_) => {
            counters.completed.fetch_add(1, Relaxed);
        }
        Err(_) => {
            counters.errors.fetch_add(1, Relaxed);
        }
    }
}

/// Submits a record with its photos (and sometimes a service and an
/// interview in a case); returns the record id when acknowledged.
async fn submit_record(
    client: &Client,
    officer: &str,
    assignment: Option<&pb::Assignment>,
    config: &SimConfig,
    rng: &mut StdRng,
    counters: &Counters,
    records_done: &mut u64,
) -> Option<String> {
    let now = fieldlink_client::now_ms();
    let mut record = fieldlink_protocol::inspection::example_record(officer, now);
    let latitude = 29.86 + rng.gen_range(-0.02..0.02);
    let longitude = 121.54 + rng.gen_range(-0.02..0.02);
    if let Some(place) = record.place.as_mut() {
        place.latitude = latitude;
        place.longitude = longitude;
    }
    if let Some(assignment) = assignment {
        record.assignment_id = assignment.id.clone();
        record.matter_code = assignment.matter_code.clone();
    }
    let case_id = (*records_done % 3 == 2).then(|| format!("SIM-{}", uuid::Uuid::now_v7().simple()));
    if let Some(case) = &case_id {
        record.case_id = case.clone();
    }
    for _ in 0..config.photos_per_record {
        let size = rng.gen_range(1_000_000..=4_000_000);
        let captured_at_ms = now - rng.gen_range(0..600_000);
        let jpeg = photos::pad_jpeg(
            photos::jpeg_with_exif(
                320,
                240,
                rng.gen(),
                Exif {
                    captured_at_ms,
                    position: Some((latitude, longitude)),
                },
            ),
            size,
        );
        let photo =
            PhotoUpload::new(&record.id, "image/jpeg", captured_at_ms, jpeg).at(latitude, longitude, 5.0);
        record.photo_ids.push(photo.evidence_id().to_owned());
        match client.upload_photo(&photo, |_| {}).await {
            Ok(receipt) => {
                counters.photos.fetch_add(1, Relaxed);
                counters.photo_bytes.fetch_add(receipt.size_bytes, Relaxed);
            }
            Err(error) => {
                tracing::debug!(%error, "sim: photo failed");
                counters.errors.fetch_add(1, Relaxed);
            }
        }
    }
    let started = Instant::now();
    let result = client.submit_inspection(&record).await;
    let elapsed_us = started.elapsed().as_micros() as u64;
    let record_id = match result {
        Ok(_) => {
            counters.records.fetch_add(1, Relaxed);
            counters.latencies_us.lock().await.push(elapsed_us);
            record.id.clone()
        }
        Err(error) => {
            tracing::debug!(%error, "sim: record failed");
            counters.errors.fetch_add(1, Relaxed);
            return None;
        }
    };
    *records_done += 1;
    if let Some(case) = case_id {
        let service = fieldlink_protocol::service::example_service(officer, &case, now);
        match client.submit_service(&service).await {
            Ok(_) => counters.services.fetch_add(1, Relaxed),
            Err(_) => counters.errors.fetch_add(1, Relaxed),
        };
        let partner = if officer == "officer-01" {
            "officer-02"
        } else {
            "officer-01"
        };
        let interview = fieldlink_protocol::interview::example_interview([officer, partner], &case, now);
        match client.submit_interview(&interview).await {
            Ok(_) => counters.interviews.fetch_add(1, Relaxed),
            Err(_) => counters.errors.fetch_add(1, Relaxed),
        };
    }
    Some(record_id)
}

async fn dispatcher(settings: ClientConfig, config: SimConfig, deadline: Instant, counters: Arc<Counters>) {
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0xD15_9A7C4);
    let client = match Client::new(settings) {
        Ok(client) => client,
        Err(_) => return,
    };
    let mut created = 0;
    while Instant::now() < deadline && created < config.assignments_max {
        let officer = &config.officers[rng.gen_range(0..config.officers.len())];
        let assignment = pb::Assignment {
            id: uuid::Uuid::now_v7().to_string(),
            title: "模拟派单 Simulated assignment".into(),
            matter_code: ["ZJ-001", "SR-001", "HB-001", "YJ-001"][rng.gen_range(0..4)].into(),
            area: "城南片区".into(),
            priority: pb::Priority::Normal as i32,
            assignee: Some(pb::assignment::Assignee::OfficerId(officer.clone())),
            ..Default::default()
        };
        match client.create_assignment(&assignment).await {
            Ok(_) => {
                counters.dispatched.fetch_add(1, Relaxed);
                created += 1;
            }
            Err(_) => {
                counters.errors.fetch_add(1, Relaxed);
            }
        }
        let pause = Duration::from_millis(rng.gen_range(200..1_200));
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    client.close().await;
}
