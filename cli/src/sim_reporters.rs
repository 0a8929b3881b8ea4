//! The simulator's other sources of work: grid workers (网格员) reporting
//! what they see on patrol from their terminals, each report with a photo,
//! and AI-video cameras posting signed alerts with a snapshot to the
//! console's webhook. Reports cluster around a few hot spots, so some join
//! one incident and the triage queue shows counts above one. Bounded by
//! the run's duration; one request at a time per reporter.

use std::time::{Duration, Instant};

use fieldlink_client::{ClientConfig, PhotoUpload};
use fieldlink_protocol::pb;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::photos::{self, Exif};

/// Hot spots in the demo zones (latitude, longitude, address).
const HOT_SPOTS: [(f64, f64, &str); 4] = [
    (29.8700, 121.5500, "人民路与解放路口 Renmin Rd / Jiefang Rd"),
    (29.8712, 121.5523, "人民路 30 号 30 Renmin Road"),
    (29.8650, 121.5450, "城南路 12 号 12 Chengnan Road"),
    (29.8950, 121.5480, "北门菜场东侧 East of the North Gate market"),
];

/// What grid workers and cameras report.
const CATEGORIES: [(&str, &str); 4] = [
    ("street_vending", "流动摊贩占道经营 A hawker on the pavement"),
    ("illegal_dumping", "绿化带内倾倒垃圾 Rubbish dumped in the verge"),
    (
        "illegal_parking",
        "机动车占用人行道停放 Cars parked on the pavement",
    ),
    (
        "unlicensed_sign",
        "未经许可设置户外招牌 An outdoor sign without a permit",
    ),
];

/// The demo grid workers (server's demo directory).
pub const DEMO_GRID_WORKERS: [&str; 2] = ["grid-01", "grid-02"];

/// What to run.
#[derive(Debug, Clone)]
pub struct ReporterPlan {
    /// Grid workers (terminals; accounts taken from the settings in turn).
    pub grid_workers: usize,
    /// Cameras.
    pub cameras: usize,
    /// The console's address for the webhook (`http://` only: a
    /// simulator on the same machine as a dev server).
    pub console: std::net::SocketAddr,
    /// The alert source's id and secret.
    pub camera_source: String,
    /// Its HMAC secret.
    pub camera_secret: String,
    /// Mean time between one reporter's reports.
    pub interval: Duration,
    /// How long to run.
    pub duration: Duration,
    /// Seed.
    pub seed: u64,
}

/// What they did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReporterSummary {
    /// Grid reports acknowledged.
    pub grid_reports_acked: u64,
    /// Their photos acknowledged.
    pub grid_photos_acked: u64,
    /// Camera alerts the webhook accepted.
    pub camera_alerts_accepted: u64,
    /// Failures (a refused or lost request, a reporter that could not start).
    pub errors: u64,
}

impl ReporterSummary {
    fn add(&mut self, other: &ReporterSummary) {
        self.grid_reports_acked += other.grid_reports_acked;
        self.grid_photos_acked += other.grid_photos_acked;
        self.camera_alerts_accepted += other.camera_alerts_accepted;
        self.errors += other.errors;
    }
}

/// Runs the grid workers and cameras for the plan's duration.
/// `settings(index)` gives grid worker `index`'s client settings.
pub async fn run(
    plan: ReporterPlan,
    settings: impl Fn(usize) -> Result<ClientConfig, fieldlink_client::Error>,
) -> ReporterSummary {
    let deadline = Instant::now() + plan.duration;
    let mut tasks = Vec::new();
    for index in 0..plan.grid_workers {
        let plan = plan.clone();
        let settings = settings(index);
        tasks.push(tokio::spawn(async move {
            match settings {
                Ok(settings) => grid_worker(&plan, index, settings, deadline).await,
                Err(error) => {
                    eprintln!("sim: grid worker {index}: {error}");
                    ReporterSummary {
                        errors: 1,
                        ..Default::default()
                    }
                }
            }
        }));
    }
    for index in 0..plan.cameras {
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move { camera(&plan, index, deadline).await }));
    }
    let mut summary = ReporterSummary::default();
    for task in tasks {
        match task.await {
            Ok(one) => summary.add(&one),
            Err(_) => summary.errors += 1,
        }
    }
    summary
}

/// Waits a jittered interval (at most until the deadline); false when the
/// run is over.
async fn pause(plan: &ReporterPlan, rng: &mut StdRng, deadline: Instant) -> bool {
    let jitter = rng.gen_range(0.5..1.5);
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::sleep(plan.interval.mul_f64(jitter).min(left)).await;
    Instant::now() < deadline
}

/// A place near a hot spot (within about 20 m) and a category.
fn pick(rng: &mut StdRng) -> (pb::Place, usize) {
    let (latitude, longitude, address) = HOT_SPOTS[rng.gen_range(0..HOT_SPOTS.len())];
    let place = pb::Place {
        latitude: latitude + rng.gen_range(-0.00018..0.00018),
        longitude: longitude + rng.gen_range(-0.00018..0.00018),
        address: address.into(),
        accuracy_m: 8.0,
    };
    (place, rng.gen_range(0..CATEGORIES.len()))
}

async fn grid_worker(
    plan: &ReporterPlan,
    index: usize,
    settings: ClientConfig,
    deadline: Instant,
) -> ReporterSummary {
    let mut summary = ReporterSummary::default();
    let mut rng = StdRng::seed_from_u64(plan.seed.wrapping_add(104_729 * (index as u64 + 1)));
    let client = match fieldlink_client::Client::new(settings) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("sim: grid worker {index}: {error}");
            summary.errors += 1;
            return summary;
        }
    };
    while pause(plan, &mut rng, deadline).await {
        let (place, category) = pick(&mut rng);
        let now = fieldlink_client::now_ms();
        let observed = now - 30_000;
        let report_id = uuid::Uuid::now_v7().to_string();
        let photo_id = uuid::Uuid::now_v7().to_string();
        let jpeg = photos::jpeg_with_exif(
            640,
            480,
            rng.gen(),
            Exif {
                captured_at_ms: observed,
                position: Some((place.latitude, place.longitude)),
            },
        );
        let report = pb::GridReport {
            id: report_id.clone(),
            category: CATEGORIES[category].0.into(),
            description: CATEGORIES[category].1.into(),
            observed_at_ms: observed,
            photo_ids: vec![photo_id.clone()],
            matter_code: String::new(),
            place: Some(place.clone()),
        };
        if client.submit_grid_report(&report).await.is_err() {
            summary.errors += 1;
            continue;
        }
        summary.grid_reports_acked += 1;
        let photo = PhotoUpload::with_id(&photo_id, &report_id, "image/jpeg", observed, jpeg).at(
            place.latitude,
            place.longitude,
            8.0,
        );
        match client.upload_photo(&photo, |_| {}).await {
            Ok(_) => summary.grid_photos_acked += 1,
            Err(_) => summary.errors += 1,
        }
    }
    client.close().await;
    summary
}

async fn camera(plan: &ReporterPlan, index: usize, deadline: Instant) -> ReporterSummary {
    use base64::Engine;
    let mut summary = ReporterSummary::default();
    let mut rng = StdRng::seed_from_u64(plan.seed.wrapping_add(15_485_863 * (index as u64 + 1)));
    while pause(plan, &mut rng, deadline).await {
        let (place, category) = pick(&mut rng);
        let snapshot = photos::jpeg(640, 360, rng.gen());
        let alert = serde_json::json!({
            "event_id": uuid::Uuid::now_v7().to_string(),
            "camera_id": format!("CAM-SIM-{index:03}"),
            "category": CATEGORIES[category].0,
            "occurred_at_ms": fieldlink_client::now_ms() - 5_000,
            "latitude": place.latitude,
            "longitude": place.longitude,
            "address": place.address,
            "summary": CATEGORIES[category].1,
            "snapshot_content_type": "image/jpeg",
            "snapshot_base64": base64::engine::general_purpose::STANDARD.encode(&snapshot),
        });
        let body = alert.to_string();
        match post_alert(plan, body.as_bytes()).await {
            Ok(200) => summary.camera_alerts_accepted += 1,
            Ok(status) => {
                eprintln!("sim: camera {index}: the webhook answered {status}");
                summary.errors += 1;
            }
            Err(error) => {
                eprintln!("sim: camera {index}: {error}");
                summary.errors += 1;
            }
        }
    }
    summary
}

/// The webhook's signature: hex HMAC-SHA256 over `timestamp.body`
/// (docs/intake.md §4).
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs one signed alert over HTTP/1.1; returns the status code.
async fn post_alert(plan: &ReporterPlan, body: &[u8]) -> std::io::Result<u16> {
    let stamp = fieldlink_client::now_ms().to_string();
    let sign = signature(plan.camera_secret.as_bytes(), &stamp, body);
    let head = format!(
        "POST /api/intake/alerts HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Fieldlink-Source: {}\r\nX-Fieldlink-Timestamp: {stamp}\r\n\
         X-Fieldlink-Signature: sha256={sign}\r\nConnection: close\r\n\r\n",
        plan.console,
        body.len(),
        plan.camera_source,
    );
    let exchange = async {
        let mut stream = TcpStream::connect(plan.console).await?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        // The status line is all that is needed; the answer is small.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < 8192 {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..read]);
        }
        let line = String::from_utf8_lossy(&answer);
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other("no HTTP status line"))
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| std::io::Error::other("the webhook did not answer in 30 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature the server checks, byte for byte.
    #[test]
    fn signatures_are_the_ones_the_server_checks() {
        let body = br#"{"event_id":"e1"}"#;
        let ours = signature(b"secret", "1800000000000", body);
        assert_eq!(ours.len(), 64);
        assert_eq!(
            ours,
            fieldlink_server::intake::camera_alerts::signature(b"secret", "1800000000000", body)
        );
        assert_ne!(ours, signature(b"secret", "1800000000001", body));
    }
}
