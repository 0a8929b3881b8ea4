//! Scenario 8: monitors over HJ 212 (docs/intake.md). A thousand monitors
//! held open on one server, each sending real-time packets and waiting for
//! the data answer (the answer comes only once the packet is durable and
//! its alarms are reported): answered packets per second, against the same
//! connections to a bare framing server in the same run that checks each
//! packet's CRC and answers at once (the TCP and parsing ceiling). Then the
//! latency from the reading that exceeds a limit for the third time in a
//! row to its incident being stored, listed by the console's API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldlink_hj212::{data_answer, real_time_packet, split_frame, DataSegment, Framed, MonitorIdentity};
use fieldlink_server::storage::IncidentFilter;
use fieldlink_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::report::Figure;
use crate::stats::{median, percentile};

/// How to run it.
pub struct Plan {
    /// Monitors connected at once.
    pub monitors: usize,
    /// Rounds (medians are taken over them).
    pub rounds: usize,
    /// Time each throughput measurement runs.
    pub window: Duration,
    /// Monitors that exceed, for the latency figure.
    pub exceeding: usize,
}

/// Hard bound on any one wait (connects, answers).
const WAIT_MAX: Duration = Duration::from_secs(60);

fn mn(index: usize) -> String {
    format!("BENCH{index:019}")
}

/// A registry of `count` monitors on a grid 1 km apart (no two join).
fn registry(count: usize) -> String {
    let mut text = String::new();
    for index in 0..count {
        let (row, column) = ((index / 100) as f64, (index % 100) as f64);
        text.push_str(&format!(
            "[[monitors]]\nmn = \"{}\"\npassword = \"123456\"\nname = \"bench {index}\"\nst = \"31\"\n\
             latitude = {}\nlongitude = {}\nteam = \"team-chengnan\"\nmatter_code = \"HB-002\"\n\
             consecutive = 3\nlimits = {{ a34041 = 2.0 }}\n\n",
            mn(index),
            29.0 + row * 0.009,
            121.0 + column * 0.0105
        ));
    }
    text
}

fn identity(index: usize) -> MonitorIdentity {
    MonitorIdentity {
        st: "31".into(),
        mn: mn(index),
        pw: "123456".into(),
    }
}

/// One monitor's connection.
struct Monitor {
    index: usize,
    stream: TcpStream,
    buffer: Vec<u8>,
    sent_at_ms: i64,
}

impl Monitor {
    async fn open(addr: SocketAddr, index: usize) -> Result<Self, String> {
        let stream = tokio::time::timeout(WAIT_MAX, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Self {
            index,
            stream,
            buffer: Vec::new(),
            // Distinct QNs per monitor: every packet is a new one.
            sent_at_ms: fieldlink_client::now_ms() - 86_400_000,
        })
    }

    /// Sends one reading and waits for the data answer.
    async fn reading(&mut self, value: f64) -> Result<(), String> {
        self.sent_at_ms += 1;
        let packet = real_time_packet(
            &identity(self.index),
            self.sent_at_ms,
            self.sent_at_ms,
            &[("a34041", value, 'N')],
            true,
        );
        self.stream.write_all(&packet).await.map_err(|e| e.to_string())?;
        loop {
            if let Framed::Packet(answer) =
                split_frame(&self.buffer, fieldlink_hj212::SEGMENT_LEN_MAX).map_err(|e| e.to_string())?
            {
                let length = answer.bytes.len();
                let segment = DataSegment::parse(answer.segment).map_err(|e| e.to_string())?;
                self.buffer.drain(..length);
                if segment.cn != fieldlink_hj212::cn::DATA_ANSWER {
                    return Err(format!("refused: {}", segment.cp));
                }
                return Ok(());
            }
            let mut chunk = [0u8; 512];
            let read = tokio::time::timeout(WAIT_MAX, self.stream.read(&mut chunk))
                .await
                .map_err(|_| "no answer in time".to_string())?
                .map_err(|e| e.to_string())?;
            if read == 0 {
                return Err("closed".into());
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// A bare HJ 212 server: frames, checks the CRC and parses, answers at once.
async fn bare_server() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 2048];
                loop {
                    while let Ok(Framed::Packet(packet)) =
                        split_frame(&buffer, fieldlink_hj212::SEGMENT_LEN_MAX)
                    {
                        let length = packet.bytes.len();
                        let Ok(segment) = fieldlink_hj212::decode(&packet) else {
                            return;
                        };
                        buffer.drain(..length);
                        if stream.write_all(&data_answer(&segment)).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn connect_all(addr: SocketAddr, count: usize) -> Result<Vec<Monitor>, String> {
    let mut monitors = Vec::with_capacity(count);
    for index in 0..count {
        monitors.push(Monitor::open(addr, index).await?);
    }
    Ok(monitors)
}

/// Every monitor sends readings under the limit for `window`; answered packets per second.
async fn throughput(monitors: Vec<Monitor>, window: Duration) -> Result<(f64, Vec<Monitor>), String> {
    let started = Instant::now();
    let deadline = started + window;
    let tasks: Vec<_> = monitors
        .into_iter()
        .map(|mut monitor| {
            tokio::spawn(async move {
                let mut answered = 0u64;
                while Instant::now() < deadline {
                    monitor.reading(0.8).await?;
                    answered += 1;
                }
                Ok::<_, String>((answered, monitor))
            })
        })
        .collect();
    let mut total = 0;
    let mut back = Vec::new();
    for task in tasks {
        let (answered, monitor) = task.await.map_err(|e| e.to_string())??;
        total += answered;
        back.push(monitor);
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), back))
}

/// Runs the scenario.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let registry_file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(registry_file.path(), registry(plan.monitors)).map_err(|e| e.to_string())?;
    let path = registry_file.path().to_path_buf();
    let server = TestServer::start_with(|config| {
        config.hj212 = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.monitors = Some(path);
        config.hj212_connections_max = plan.monitors * 2;
        config.hj212_packets_per_second = 1e6;
        config.hj212_packet_burst = 1e6;
    })
    .await;
    let hj212 = server.server.hj212_addr().ok_or("no HJ 212 listener")?;
    let bare = bare_server().await?;
    let mut served = connect_all(hj212, plan.monitors).await?;
    let mut baseline = connect_all(bare, plan.monitors).await?;
    let (mut stored_rates, mut bare_rates) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        for which in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if which == 0 {
                let (rate, back) = throughput(served, plan.window).await?;
                stored_rates.push(rate);
                served = back;
            } else {
                let (rate, back) = throughput(baseline, plan.window).await?;
                bare_rates.push(rate);
                baseline = back;
            }
        }
    }

    // Latency: the third reading over the limit in a row, to the incident.
    let storage = Arc::clone(&server.server.state().storage);
    let mut latencies = Vec::new();
    for monitor in served.iter_mut().take(plan.exceeding) {
        monitor.reading(2.5).await?;
        monitor.reading(2.6).await?;
        let before = storage_count(&storage).await?;
        let started = Instant::now();
        monitor.reading(2.7).await?;
        // The alarm is reported before the answer; wait in case it is not yet listed.
        while storage_count(&storage).await? <= before {
            if started.elapsed() > WAIT_MAX {
                return Err("no incident for an exceedance".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        monitor.reading(0.5).await?; // clears the run
    }
    let (stored, bare_rate) = (median(&stored_rates), median(&bare_rates));
    let monitors = plan.monitors;
    let figures = vec![
        Figure::plain(
            "hj212",
            &format!("answered packets/s, {monitors} monitors held open, each stored and logged"),
            stored,
            "/s",
        )
        .against(
            "the same monitors to a bare framing server (CRC, parse, answer)",
            bare_rate,
        )
        .goal(
            &format!(
                "{monitors} monitors reporting once a minute ({:.0}/s) with room",
                monitors as f64 / 60.0
            ),
            stored >= 10.0 * monitors as f64 / 60.0,
        ),
        Figure::plain(
            "hj212",
            "exceeding reading → incident stored, p50",
            percentile(&mut latencies.clone(), 50.0),
            "ms",
        ),
        Figure::plain(
            "hj212",
            "exceeding reading → incident stored, p99",
            percentile(&mut latencies, 99.0),
            "ms",
        ),
    ];
    drop(served);
    drop(baseline);
    server.server.shutdown().await;
    Ok(figures)
}

async fn storage_count(storage: &Arc<dyn fieldlink_server::storage::Storage>) -> Result<usize, String> {
    Ok(storage
        .list_incidents(&IncidentFilter {
            state: None,
            limit: 500,
            before_id: None,
        })
        .await
        .map_err(|e| e.to_string())?
        .len())
}
