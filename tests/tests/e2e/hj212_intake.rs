//! Monitors over HJ 212 (docs/intake.md): a real TCP client written from
//! the standard sends packets to a real server; readings over the limit
//! become one incident, answers follow the standard, malformed packets get
//! its refusals or a closed connection and disturb no other monitor.

use std::net::SocketAddr;
use std::time::Duration;

use fieldlink_hj212::upload::packet;
use fieldlink_hj212::{real_time_packet, split_frame, DataSegment, Framed, MonitorIdentity, SEGMENT_LEN_MAX};
use fieldlink_protocol::pb::{IncidentEventKind, IncidentState};
use fieldlink_server::storage::IncidentFilter;
use fieldlink_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Demo monitors (server/data/demo-monitors.toml): two 50 m apart, one 700 m off.
pub const NOODLES: &str = "LB330201000000000000001A";
const SICHUAN: &str = "LB330201000000000000002B";
pub const BARBECUE: &str = "LB330201000000000000003C";

const DEADLINE: Duration = Duration::from_secs(30);

fn monitor(mn: &str) -> MonitorIdentity {
    MonitorIdentity {
        st: "31".into(),
        mn: mn.into(),
        pw: "123456".into(),
    }
}

pub async fn start(adjust: impl FnOnce(&mut fieldlink_server::config::Config)) -> (TestServer, SocketAddr) {
    let server = TestServer::start_with(|config| {
        config.hj212 = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        adjust(config);
    })
    .await;
    let addr = server.server.hj212_addr().expect("the HJ 212 listener runs");
    (server, addr)
}

/// A monitor's connection: sends packets, reads the server's answers.
pub struct MonitorConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl MonitorConnection {
    pub async fn open(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// The next answer, or None when the server closed the connection.
    async fn answer(&mut self) -> Option<DataSegment> {
        loop {
            if let Framed::Packet(packet) =
                split_frame(&self.buffer, SEGMENT_LEN_MAX).expect("the server frames its answers")
            {
                assert!(packet.crc_matches(), "the answer's CRC");
                let segment = DataSegment::parse(packet.segment).expect("the answer parses");
                let length = packet.bytes.len();
                self.buffer.drain(..length);
                return Some(segment);
            }
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(DEADLINE, self.stream.read(&mut chunk))
                .await
                .expect("an answer or a close before the deadline");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Sends real-time fume readings (one packet each, answers asked for) and
/// checks each is answered with a data answer naming its QN.
pub async fn send_readings(
    connection: &mut MonitorConnection,
    mn: &str,
    values: &[f64],
    start_ms: i64,
) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let at = start_ms + i as i64 * 60_000;
        let bytes = real_time_packet(&monitor(mn), at, at, &[("a34041", *value, 'N')], true);
        connection.send(&bytes).await;
        let answer = connection.answer().await.expect("a data answer");
        let sent_segment = match split_frame(&bytes, SEGMENT_LEN_MAX).unwrap() {
            Framed::Packet(p) => DataSegment::parse(p.segment).unwrap(),
            Framed::Incomplete => unreachable!(),
        };
        assert_eq!((answer.cn.as_str(), answer.st.as_str()), ("9014", "91"));
        assert_eq!(
            (answer.qn.as_str(), answer.mn.as_str()),
            (sent_segment.qn.as_str(), mn)
        );
        sent.push(bytes);
    }
    sent
}

async fn incidents(server: &TestServer) -> Vec<fieldlink_protocol::pb::Incident> {
    server
        .server
        .state()
        .storage
        .list_incidents(&IncidentFilter {
            state: None,
            limit: 100,
            before_id: None,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|stored| stored.incident)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_over_the_limit_become_one_incident_that_nearby_monitors_join() {
    let (server, addr) = start(|_| {}).await;
    let items_before = server.item_count().await;
    let base = now_ms() - 3_600_000;

    // Two readings over the limit, one under, then three over: one alarm.
    let mut noodles = MonitorConnection::open(addr).await;
    let sent = send_readings(&mut noodles, NOODLES, &[2.5, 2.8, 1.1, 2.4, 3.0], base).await;
    assert!(incidents(&server).await.is_empty(), "two in a row are not three");
    send_readings(&mut noodles, NOODLES, &[2.6, 2.9, 3.3], base + 300_000).await;
    let open = incidents(&server).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let incident = &open[0];
    assert_eq!(incident.category, "lampblack_exceedance");
    assert_eq!(incident.matter_code, "HB-002");
    assert_eq!(incident.team_id, "team-chengnan");
    assert_eq!(incident.state, IncidentState::New as i32);
    assert_eq!(incident.report_count, 1);
    assert!(incident.title.contains("a34041"), "{}", incident.title);

    // Every packet is stored byte-exact, as an item and a leaf.
    assert_eq!(server.item_count().await, items_before + 8);
    let storage = &server.server.state().storage;
    let id = uuid::Uuid::parse_str(&incident.id).unwrap();
    let history = storage.incident_history(id).await.unwrap();
    let source = history[0].source.clone().unwrap();
    assert_eq!(source.source_id, NOODLES);
    let packet_id = uuid::Uuid::parse_str(&source.item_id).unwrap();
    let stored = storage
        .item(packet_id)
        .await
        .unwrap()
        .expect("the alarm's packet is stored");
    assert_eq!(stored.kind, "monitor_packet");
    assert!(storage.log_leaf(packet_id).await.unwrap().is_some());

    // A resent packet (its answer lost) is answered again and stored once.
    noodles.send(&sent[0]).await;
    assert_eq!(noodles.answer().await.expect("answered again").cn, "9014");
    assert_eq!(server.item_count().await, items_before + 8);

    // The monitor 50 m away exceeds too: its alarm joins the incident.
    let mut sichuan = MonitorConnection::open(addr).await;
    send_readings(&mut sichuan, SICHUAN, &[2.2, 2.3, 2.4], base + 600_000).await;
    let open = incidents(&server).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].report_count, 2);
    let kinds: Vec<i32> = storage
        .incident_history(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [IncidentEventKind::Opened as i32, IncidentEventKind::Joined as i32]
    );

    // 700 m away: an incident of its own. A fault flag: another category.
    let mut barbecue = MonitorConnection::open(addr).await;
    send_readings(&mut barbecue, BARBECUE, &[5.0, 5.0, 5.0], base + 900_000).await;
    let fault = real_time_packet(
        &monitor(BARBECUE),
        base + 1_200_000,
        base + 1_200_000,
        &[("a34041", 0.0, 'D')],
        false,
    );
    barbecue.send(&fault).await;
    // No answer was asked for; the next packet's answer shows the fault was read first.
    send_readings(&mut barbecue, BARBECUE, &[0.5], base + 1_300_000).await;
    let all = incidents(&server).await;
    let mut categories: Vec<&str> = all.iter().map(|i| i.category.as_str()).collect();
    categories.sort();
    assert_eq!(
        categories,
        ["lampblack_exceedance", "lampblack_exceedance", "monitor_fault"]
    );
    let outcomes = server.server.state().metrics.hj212_outcomes();
    assert_eq!(outcomes.get("stored"), Some(&(8 + 3 + 3 + 1 + 1)));
    assert_eq!(outcomes.get("resent"), Some(&1));
}

/// What the server must do with a bad packet.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A 9011 request answer with this QnRtn.
    Refused(u16),
    /// The connection is closed.
    Closed,
}

fn frame(segment: &str) -> Vec<u8> {
    fieldlink_hj212::encode_frame(segment).unwrap()
}

fn with_crc(segment: &str, crc: &str) -> Vec<u8> {
    format!("##{:04}{segment}{crc}\r\n", segment.len()).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_the_standards_refusals_and_disturb_no_other_monitor() {
    let (server, addr) = start(|_| {}).await;
    let qn = "20261202101010123";
    let good_cp = "CP=&&DataTime=20261202101000;a34041-Rtd=1.2,a34041-Flag=N&&";
    let seg = |fields: &str| format!("QN={qn};{fields};{good_cp}");
    let ok = seg(&format!("ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5"));
    let long_cp = format!(
        "QN={qn};ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;CP=&&{}&&",
        "a".repeat(1100)
    );
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("garbage", b"GET / HTTP/1.1\r\n\r\n".to_vec(), Expect::Closed),
        ("one hash", b"#0101QN=1".to_vec(), Expect::Closed),
        ("length not digits", b"##01x1QN=20261202101010123".to_vec(), Expect::Closed),
        ("length over 1024", format!("##2000{ok}").into_bytes(), Expect::Closed),
        ("segment over 1024", frame(&long_cp), Expect::Closed),
        ("crc not hex", with_crc(&ok, "ZZZZ"), Expect::Closed),
        ("no CR LF", format!("##{:04}{ok}0000XX", ok.len()).into_bytes(), Expect::Closed),
        ("length too short", format!("##{:04}{ok}0000\r\n", ok.len() - 5).into_bytes(), Expect::Closed),
        ("wrong crc", with_crc(&ok, "0000"), Expect::Refused(9)),
        ("unknown MN", frame(&seg("ST=31;CN=2011;PW=123456;MN=NOBODY000000000000000001;Flag=5")), Expect::Refused(4)),
        ("wrong password", frame(&seg(&format!("ST=31;CN=2011;PW=654321;MN={NOODLES};Flag=5"))), Expect::Refused(3)),
        ("ST not digits", frame(&seg(&format!("ST=3A;CN=2011;PW=123456;MN={NOODLES};Flag=5"))), Expect::Refused(5)),
        ("ST not the monitor's", frame(&seg(&format!("ST=32;CN=2011;PW=123456;MN={NOODLES};Flag=5"))), Expect::Refused(5)),
        ("CN not digits", frame(&seg(&format!("ST=31;CN=20x1;PW=123456;MN={NOODLES};Flag=5"))), Expect::Refused(8)),
        ("Flag not a number", frame(&seg(&format!("ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=x"))), Expect::Refused(6)),
        ("Flag of an unknown version", frame(&seg(&format!("ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=9"))), Expect::Refused(6)),
        ("split without PNUM", frame(&seg(&format!("ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=7"))), Expect::Refused(6)),
        ("PNO above PNUM", frame(&seg(&format!("ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=7;PNUM=0001;PNO=0002"))), Expect::Refused(6)),
        ("fields out of order", frame(&seg(&format!("CN=2011;ST=31;PW=123456;MN={NOODLES};Flag=5"))), Expect::Refused(5)),
        ("no DataTime", frame(&format!("QN={qn};ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;CP=&&a34041-Rtd=1&&")), Expect::Refused(2)),
        ("value not a number", frame(&format!("QN={qn};ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;CP=&&DataTime=20261202101000;a34041-Rtd=lots&&")), Expect::Refused(2)),
        ("unknown data flag", frame(&format!("QN={qn};ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;CP=&&DataTime=20261202101000;a34041-Flag=Q&&")), Expect::Refused(2)),
        ("CP not closed", frame(&format!("QN={qn};ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;CP=&&DataTime=20261202101000")), Expect::Refused(2)),
        ("impossible DataTime", frame(&format!("QN={qn};ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;CP=&&DataTime=20261302101000&&")), Expect::Refused(2)),
        ("bad QN, answer asked", frame(&format!("QN=2026120210101012;ST=31;CN=2011;PW=123456;MN={NOODLES};Flag=5;{good_cp}")), Expect::Closed),
    ];
    assert!(cases.len() >= 20);

    // A well-behaved monitor stays connected throughout.
    let mut bystander = MonitorConnection::open(addr).await;
    let items_before = server.item_count().await;
    for (name, bytes, expect) in &cases {
        let mut connection = MonitorConnection::open(addr).await;
        connection.send(bytes).await;
        let got = match connection.answer().await {
            None => Expect::Closed,
            Some(answer) => {
                assert_eq!(answer.cn, "9011", "{name}: {answer:?}");
                let code = answer
                    .cp
                    .strip_prefix("QnRtn=")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                Expect::Refused(code)
            }
        };
        assert_eq!(got, *expect, "{name}");
    }
    assert_eq!(server.item_count().await, items_before, "no bad packet is stored");
    send_readings(&mut bystander, NOODLES, &[1.0], now_ms() - 60_000).await;
    let outcomes = server.server.state().metrics.hj212_outcomes();
    for counted in [
        "not_a_packet",
        "oversize",
        "bad_crc",
        "bad_segment",
        "unknown_mn",
        "wrong_password",
        "wrong_st",
        "bad_parameters",
    ] {
        assert!(
            outcomes.get(counted).is_some_and(|n| *n > 0),
            "{counted} counted: {outcomes:?}"
        );
    }
    assert!(incidents(&server).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_senders_and_floods_are_cut_off() {
    let (server, addr) = start(|config| {
        config.hj212_packet_timeout_ms = 500;
        config.hj212_packets_per_second = 0.01;
        config.hj212_packet_burst = 3.0;
    })
    .await;
    // Half a packet, then nothing: closed once the packet time is up.
    let bytes = real_time_packet(
        &monitor(NOODLES),
        now_ms(),
        now_ms(),
        &[("a34041", 1.0, 'N')],
        true,
    );
    let mut slow = MonitorConnection::open(addr).await;
    slow.send(&bytes[..bytes.len() / 2]).await;
    assert!(slow.answer().await.is_none(), "a slow sender is closed");

    // Three packets in a burst are served; the fourth closes the connection.
    let mut flood = MonitorConnection::open(addr).await;
    let base = now_ms() - 600_000;
    send_readings(&mut flood, SICHUAN, &[1.0, 1.0, 1.0], base).await;
    let fourth = real_time_packet(
        &monitor(SICHUAN),
        base + 999_000,
        base,
        &[("a34041", 1.0, 'N')],
        true,
    );
    flood.send(&fourth).await;
    assert!(flood.answer().await.is_none(), "a flood is closed");
    let outcomes = server.server.state().metrics.hj212_outcomes();
    assert_eq!(outcomes.get("slow_sender"), Some(&1));
    assert_eq!(outcomes.get("rate_limited"), Some(&1));

    // Non-data packets (here a heartbeat-like 9013 notice) are stored and answered too.
    let notice = packet(&monitor(NOODLES), "9013", now_ms(), String::new(), true);
    let mut other = MonitorConnection::open(addr).await;
    other.send(&notice).await;
    assert_eq!(other.answer().await.map(|a| a.cn), Some("9014".into()));
}
