//! Scenario 3, assignment push: latency from a supervisor's dispatch to the
//! terminal's SDK handing the event to the app (`AssignmentFeed::next`),
//! p50/p99/max, (a) one team assignment broadcast to N connected terminals,
//! (b) one assignment each to N terminals, all dispatched at once.
//!
//! Ours is timed from the moment the dispatch request is sent, so it
//! includes the supervisor's request, the durable commit and the fan-out.
//! Baselines in the same run and the same process, with the same receivers'
//! shape (one connection and one receiving task per terminal):
//! - Mosquitto (the broker on 127.0.0.1:1883), QoS 1, a message of the same
//!   size as our feed frame, from publish to the subscriber's receipt
//!   (subscribers answer PUBACK); (a) one topic with N subscribers, (b) N
//!   topics with one subscriber each, published by as many publisher
//!   connections as we have supervisors;
//! - raw quinn with the server's TLS, transport settings and socket buffers,
//!   sending one message on a new stream of each of N connections.
//!
//! Push is CPU-bound, not disk-bound, so at each size the three systems run
//! one after another (each with a discarded warm-up round), not interleaved.
//! Every round of every system starts after a 300 ms pause, so that it
//! measures a dispatch to an idle fleet, not the tail of the last round.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fieldlink_client::Client;
use fieldlink_protocol::pb::{self, AssignmentEventKind};
use fieldlink_tests::{assignment_for, assignment_for_team, client_config, dev_config, TestServer};
use prost::Message;
use tokio::sync::mpsc;

use crate::fleet_directory::{self, officer, TEAM};
use crate::ingest::tune_for_fleet;
use crate::mqtt;
use crate::raw_quic::{self, Mode, RawServer};
use crate::report::Figure;
use crate::stats::percentile;

/// The broker this machine kind runs.
pub const MOSQUITTO: &str = "127.0.0.1:1883";
/// Supervisor connections dispatching (and MQTT publishers publishing).
const DISPATCHERS: usize = 8;
/// How long one round may take before it counts as a failure.
const ROUND_DEADLINE: Duration = Duration::from_secs(120);
/// The pause before every round, for every system.
const SETTLE: Duration = Duration::from_millis(300);
/// Terminals connecting at once while the fleet grows.
const CONNECTING_AT_ONCE: usize = 32;

/// How to run it.
pub struct Plan {
    /// Terminal counts for the broadcast, ascending.
    pub broadcast_to: Vec<usize>,
    /// Terminal count for one-assignment-each (one of `broadcast_to`).
    pub each_to: usize,
    /// Measured rounds per case (after one warm-up).
    pub rounds: usize,
}

/// Arrivals: (assignment id or topic, when).
type Arrivals = mpsc::UnboundedReceiver<(String, Instant)>;

/// Latency samples, ms.
struct Latencies(Vec<f64>);

impl Latencies {
    fn since(t0: Instant, arrivals: &[Instant]) -> Self {
        Self(
            arrivals
                .iter()
                .map(|at| at.saturating_duration_since(t0).as_secs_f64() * 1e3)
                .collect(),
        )
    }

    fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    fn p(&mut self, p: f64) -> f64 {
        percentile(&mut self.0, p)
    }
}

/// Every round starts from a quiet fleet: what the last round set off
/// (acknowledgements, cursor writes, PUBACKs) has finished, as between two
/// dispatches of a real command center.
async fn settle() {
    tokio::time::sleep(SETTLE).await;
}

/// Waits until every id in `expected` has arrived its count of times.
async fn collect(
    arrivals: &mut Arrivals,
    mut expected: HashMap<String, usize>,
) -> Result<Vec<Instant>, String> {
    let total: usize = expected.values().sum();
    let deadline = tokio::time::Instant::now() + ROUND_DEADLINE;
    let mut times = Vec::with_capacity(total);
    while times.len() < total {
        let (id, at) = tokio::time::timeout_at(deadline, arrivals.recv())
            .await
            .map_err(|_| {
                format!(
                    "only {} of {total} deliveries within {ROUND_DEADLINE:?}",
                    times.len()
                )
            })?
            .ok_or("the receivers stopped")?;
        if let Some(left) = expected.get_mut(&id).filter(|left| **left > 0) {
            *left -= 1;
            times.push(at);
        }
    }
    Ok(times)
}

/// The feed frame a terminal receives for a new team assignment (its size
/// is the peers' message size).
fn feed_frame_bytes() -> usize {
    let event = pb::AssignmentEvent {
        seq: 1_000_000,
        kind: AssignmentEventKind::Created as i32,
        assignment: Some(assignment_for_team(TEAM)),
        by: "supervisor-01".into(),
        device_id: "device-001".into(),
        at_ms: fieldlink_client::now_ms(),
        reason: String::new(),
    };
    pb::FeedFrame {
        body: Some(pb::feed_frame::Body::Event(event)),
    }
    .encoded_len()
        + 4
}

/// Opens `client`'s feed and sends the id of every new assignment it hands
/// the app, with the moment it did, to `arrivals`.
pub fn forward_new_assignments(
    client: &Client,
    arrivals: mpsc::UnboundedSender<(String, Instant)>,
) -> tokio::task::JoinHandle<()> {
    let mut feed = client.assignments();
    tokio::spawn(async move {
        while let Some(Ok(event)) = feed.next().await {
            if event.kind == AssignmentEventKind::Created as i32 {
                if let Some(assignment) = event.assignment {
                    let _ = arrivals.send((assignment.id, Instant::now()));
                }
            }
        }
    })
}

/// Our server, its terminals (each with its feed forwarding new
/// assignments to one channel) and the dispatching supervisors.
struct Ours {
    server: TestServer,
    _directory: tempfile::NamedTempFile,
    supervisors: Vec<Client>,
    terminals: Vec<Client>,
    feeds: Vec<tokio::task::JoinHandle<()>>,
    sender: mpsc::UnboundedSender<(String, Instant)>,
    arrivals: Arrivals,
}

impl Ours {
    async fn start(officers: usize) -> Result<Self, String> {
        let directory = fleet_directory::write(officers)?;
        let path = directory.path().to_path_buf();
        let server = TestServer::start_with(move |config| {
            tune_for_fleet(config);
            config.directory = Some(path);
        })
        .await;
        let configs = (0..DISPATCHERS)
            .map(|index| {
                let device = ["device-001", "device-002", "device-003"][index % 3];
                client_config(server.addr(), device, "supervisor-01")
            })
            .collect();
        let supervisors = fleet_directory::connect_all(configs, DISPATCHERS).await?;
        let (sender, arrivals) = mpsc::unbounded_channel();
        Ok(Self {
            server,
            _directory: directory,
            supervisors,
            terminals: Vec::new(),
            feeds: Vec::new(),
            sender,
            arrivals,
        })
    }

    /// Connects terminals up to `count` and opens their feeds; returns once
    /// a team assignment has reached every one of them.
    async fn grow(&mut self, count: usize) -> Result<(), String> {
        let configs = (self.terminals.len()..count)
            .map(|index| fleet_directory::terminal_config(self.server.addr(), index))
            .collect();
        for client in fleet_directory::connect_all(configs, CONNECTING_AT_ONCE).await? {
            self.feeds
                .push(forward_new_assignments(&client, self.sender.clone()));
            self.terminals.push(client);
        }
        // Warm-up: every feed live.
        self.broadcast().await.map(|_| ())
    }

    async fn broadcast(&mut self) -> Result<Latencies, String> {
        settle().await;
        let assignment = assignment_for_team(TEAM);
        let t0 = Instant::now();
        self.supervisors[0]
            .create_assignment(&assignment)
            .await
            .map_err(|e| format!("dispatch: {e}"))?;
        let expected = HashMap::from([(assignment.id, self.terminals.len())]);
        Ok(Latencies::since(
            t0,
            &collect(&mut self.arrivals, expected).await?,
        ))
    }

    /// One assignment for each of the first `count` officers, all at once.
    async fn each(&mut self, count: usize) -> Result<Latencies, String> {
        settle().await;
        let assignments: Vec<pb::Assignment> = (0..count).map(|i| assignment_for(&officer(i))).collect();
        let expected = assignments.iter().map(|a| (a.id.clone(), 1)).collect();
        let t0 = Instant::now();
        let mut tasks = Vec::with_capacity(count);
        for (index, assignment) in assignments.into_iter().enumerate() {
            let supervisor = self.supervisors[index % self.supervisors.len()].clone();
            tasks.push(tokio::spawn(async move {
                supervisor
                    .create_assignment(&assignment)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("dispatch: {e}"))
            }));
        }
        let times = collect(&mut self.arrivals, expected).await?;
        for task in tasks {
            task.await.map_err(|e| e.to_string())??;
        }
        Ok(Latencies::since(t0, &times))
    }

    async fn stop(self) {
        for feed in self.feeds {
            feed.abort();
        }
        crate::ingest::close_all(self.terminals.into_iter().chain(self.supervisors)).await;
        self.server.server.shutdown().await;
    }
}

/// Mosquitto subscribers, one connection and task each.
struct Subscribers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    arrivals: Arrivals,
}

impl Subscribers {
    /// `count` subscribers; subscriber i listens on `topics[i % topics.len()]`.
    async fn start(broker: SocketAddr, run: &str, topics: &[String], count: usize) -> Result<Self, String> {
        let (sender, arrivals) = mpsc::unbounded_channel();
        let mut tasks = Vec::with_capacity(count);
        for start in (0..count).step_by(CONNECTING_AT_ONCE) {
            let mut batch = Vec::new();
            for index in start..(start + CONNECTING_AT_ONCE).min(count) {
                let topic = topics[index % topics.len()].clone();
                let client_id = format!("{run}-s{index}");
                batch.push(tokio::spawn(async move {
                    let mut connection = mqtt::Connection::open(broker, &client_id).await?;
                    connection.subscribe(&topic).await?;
                    Ok::<_, mqtt::MqttError>(connection)
                }));
            }
            for task in batch {
                let mut connection = task
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let sender = sender.clone();
                tasks.push(tokio::spawn(async move {
                    while let Ok((topic, _)) = connection.next_publish().await {
                        let _ = sender.send((topic, Instant::now()));
                    }
                }));
            }
        }
        Ok(Self { tasks, arrivals })
    }
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Publishes one QoS 1 message per topic (spread over the publishers, each
/// writing its share back to back) and times the subscribers' receipts.
async fn mqtt_round(
    publishers: &mut [mqtt::Connection],
    subscribers: &mut Subscribers,
    topics: &[String],
    per_topic: usize,
    payload: &[u8],
) -> Result<Latencies, String> {
    let expected = topics.iter().map(|t| (t.clone(), per_topic)).collect();
    // Each publisher's share: the packets back to back, and how many.
    let shares: Vec<(Vec<u8>, usize)> = (0..publishers.len())
        .map(|p| {
            let mine: Vec<(usize, &String)> = topics
                .iter()
                .enumerate()
                .filter(|(i, _)| i % publishers.len() == p)
                .collect();
            let bytes = mine
                .iter()
                .flat_map(|(i, topic)| mqtt::publish_packet((i % 65_000 + 1) as u16, topic, payload))
                .collect();
            (bytes, mine.len())
        })
        .collect();
    settle().await;
    let t0 = Instant::now();
    let sends = publishers
        .iter_mut()
        .zip(&shares)
        .map(|(publisher, (bytes, _))| publisher.send(bytes));
    for result in futures::future::join_all(sends).await {
        result.map_err(|e| e.to_string())?;
    }
    let times = collect(&mut subscribers.arrivals, expected).await?;
    // Take the PUBACKs so the next round starts clean.
    for (publisher, (_, published)) in publishers.iter_mut().zip(&shares) {
        for _ in 0..*published {
            publisher.next().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(Latencies::since(t0, &times))
}

/// Mosquitto: `count` subscribers of one topic (`per_terminal` false) or of
/// a topic each (true).
async fn mosquitto(
    count: usize,
    per_terminal: bool,
    rounds: usize,
    payload_bytes: usize,
) -> Result<Latencies, String> {
    let broker: SocketAddr = MOSQUITTO.parse().map_err(|_| "broker address")?;
    let run = format!("fieldlink-bench-{}", uuid::Uuid::now_v7().simple());
    let topics: Vec<String> = match per_terminal {
        true => (0..count).map(|i| format!("{run}/officer/{i}")).collect(),
        false => vec![format!("{run}/team")],
    };
    let mut subscribers = Subscribers::start(broker, &run, &topics, count).await?;
    let mut publishers = Vec::new();
    for index in 0..if per_terminal { DISPATCHERS } else { 1 } {
        publishers.push(
            mqtt::Connection::open(broker, &format!("{run}-p{index}"))
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let per_topic = if per_terminal { 1 } else { count };
    let payload = vec![0x5a; payload_bytes];
    let mut all = Latencies(Vec::new());
    for round in 0..=rounds {
        let latencies = mqtt_round(&mut publishers, &mut subscribers, &topics, per_topic, &payload).await?;
        if round > 0 {
            all.extend(latencies);
        }
    }
    Ok(all)
}

/// Raw quinn: one message on each of `count` connections.
async fn raw_quinn(count: usize, rounds: usize, payload_bytes: usize) -> Result<Latencies, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = RawServer::start(&dev_config(dir.path()), Mode::Feed)?;
    let addr = server.addr()?;
    let (sender, mut arrivals) = mpsc::unbounded_channel();
    let mut endpoints = Vec::with_capacity(count);
    let mut tasks = Vec::with_capacity(count);
    let quics: Vec<_> = ["device-001", "device-002", "device-003"]
        .iter()
        .map(|device| {
            let config = client_config(addr, device, "officer-01");
            fieldlink_client::raw::quic_client_config(&config)
                .map(|quic| (config, quic))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    for index in 0..count {
        let (config, quic) = &quics[index % quics.len()];
        let (endpoint, connection) = raw_quic::connect(config, quic).await?;
        let (send, mut recv) = raw_quic::open_feed(&connection).await?;
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = (send, connection);
            let mut buffer = vec![0u8; payload_bytes];
            while let Ok(at) = raw_quic::next_push(&mut recv, &mut buffer).await {
                let _ = sender.send(("push".to_owned(), at));
            }
        }));
        endpoints.push(endpoint);
    }
    let mut all = Latencies(Vec::new());
    for round in 0..=rounds {
        settle().await;
        let t0 = Instant::now();
        server.push(vec![0x5a; payload_bytes]);
        let times = collect(&mut arrivals, HashMap::from([("push".to_owned(), count)])).await?;
        if round > 0 {
            all.extend(Latencies::since(t0, &times));
        }
    }
    for task in tasks {
        task.abort();
    }
    Ok(all)
}

/// The p99 goal, as a multiple of Mosquitto's (issue #21): 1.5 for a
/// broadcast, 3 for one assignment each (each is a durable dispatch).
fn figures(
    case: &str,
    goal_times: f64,
    mut ours: Latencies,
    mut mqtt: Latencies,
    mut raw: Latencies,
) -> Vec<Figure> {
    let mut out = Vec::new();
    for (name, p) in [("p50", 50.0), ("p99", 99.0), ("max", 100.0)] {
        let (value, peer) = (ours.p(p), mqtt.p(p));
        let mut figure = Figure::plain("push", &format!("{case}, {name}"), value, "ms")
            .against(&format!("Mosquitto QoS 1, {name}"), peer);
        if name == "p99" {
            figure = figure.goal(
                &format!("p99 <= {goal_times} x Mosquitto's"),
                value <= goal_times * peer,
            );
        }
        out.push(figure);
        out.push(
            Figure::plain("push", &format!("{case}, {name}"), value, "ms")
                .against(&format!("raw quinn, {name}"), raw.p(p)),
        );
    }
    out
}

/// Runs scenario 3.
pub async fn run(plan: &Plan) -> Result<Vec<Figure>, String> {
    let message = feed_frame_bytes();
    let largest = plan
        .broadcast_to
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(plan.each_to);
    let mut ours = Ours::start(largest).await?;
    let mut out = Vec::new();
    for &count in &plan.broadcast_to {
        ours.grow(count).await?;
        let mut broadcast = Latencies(Vec::new());
        for _ in 0..plan.rounds {
            broadcast.extend(ours.broadcast().await?);
        }
        let raw = raw_quinn(count, plan.rounds, message).await?;
        let peer = mosquitto(count, false, plan.rounds, message).await?;
        out.extend(figures(
            &format!("broadcast to {count}"),
            1.5,
            broadcast,
            peer,
            raw,
        ));
        if count == plan.each_to {
            let mut each = Latencies(Vec::new());
            ours.each(count).await?; // warm-up
            for _ in 0..plan.rounds {
                each.extend(ours.each(count).await?);
            }
            let raw = raw_quinn(count, plan.rounds, message).await?;
            let peer = mosquitto(count, true, plan.rounds, message).await?;
            out.extend(figures(&format!("one each to {count}"), 3.0, each, peer, raw));
        }
    }
    out.insert(
        0,
        Figure::plain(
            "push",
            "message size (feed frame of a new assignment)",
            message as f64,
            "B",
        ),
    );
    ours.stop().await;
    Ok(out)
}
