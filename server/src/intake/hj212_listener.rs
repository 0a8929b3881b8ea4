//! The HJ 212 listener (docs/intake.md): monitors connect over TCP and send
//! packets; each is framed, checked (CRC, fields, registry, password),
//! stored byte-exact as an item (a leaf of the log), run through the alarm
//! rules, and answered as the standard says when its Flag asks — only after
//! it is durable. Malformed packets get the standard's refusal (9011 with
//! a QnRtn code) when the stream is still in step, and a closed connection
//! when it is not. Each connection is bounded in bytes, time and rate, and
//! waits on nothing another connection holds but the shared commit queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fieldlink_hj212::frame::FRAME_OVERHEAD;
use fieldlink_hj212::{cn, DataSegment, Framed, QnRtn, RawPacket, SEGMENT_LEN_MAX};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::incident_report::report_alarm;
use super::Intake;
use crate::state::AppState;
use crate::storage::{CommitOutcome, ItemIndex, ItemKind, NewItem};

/// Refusals in a row after which a connection is closed (a sender that
/// only sends garbage gets no more answers).
const REFUSALS_IN_A_ROW_MAX: u32 = 16;

/// How often silent monitors are looked for: a third of the shortest
/// offline time in the registry, between these bounds.
const OFFLINE_CHECK_INTERVAL_MIN: Duration = Duration::from_millis(500);
const OFFLINE_CHECK_INTERVAL_MAX: Duration = Duration::from_secs(30);

/// Binds the listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("HJ 212 listener on {addr}: {e}"))
}

/// Accepts monitors until shutdown; at most `hj212_connections_max` at once.
pub async fn serve(state: AppState, intake: Arc<Intake>, listener: TcpListener, shutdown: CancellationToken) {
    let slots = Arc::new(tokio::sync::Semaphore::new(state.config.hj212_connections_max));
    tokio::spawn(watch_offline(
        state.clone(),
        Arc::clone(&intake),
        shutdown.clone(),
    ));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "HJ 212 accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            state.metrics.hj212("connection_refused");
            tracing::warn!(%peer, "HJ 212 connection refused: at hj212_connections_max");
            drop(stream);
            continue;
        };
        let (state, intake, shutdown) = (state.clone(), Arc::clone(&intake), shutdown.clone());
        tokio::spawn(async move {
            state
                .metrics
                .hj212_connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let closed = tokio::select! {
                _ = shutdown.cancelled() => "shutdown",
                closed = serve_monitor(&state, &intake, stream) => closed,
            };
            state
                .metrics
                .hj212_connections
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(%peer, reason = closed, "HJ 212 connection closed");
            drop(permit);
        });
    }
}

/// Why a connection is closed, as counted in /metrics.
type CloseReason = &'static str;

/// Serves one connection until it closes; says why it closed.
async fn serve_monitor(state: &AppState, intake: &Intake, mut stream: TcpStream) -> CloseReason {
    let config = &state.config;
    let mut buffer: Vec<u8> = Vec::with_capacity(FRAME_OVERHEAD + SEGMENT_LEN_MAX);
    let mut packet_started = Instant::now();
    // A per-connection packet budget: the rate, up to the burst at once.
    let mut bucket =
        crate::token_bucket::TokenBucket::new(config.hj212_packets_per_second, config.hj212_packet_burst);
    let mut refusals_in_a_row = 0u32;
    loop {
        // Whole packets first: a sender may put several in one write.
        loop {
            let framed = match fieldlink_hj212::split_frame(&buffer, SEGMENT_LEN_MAX) {
                Ok(framed) => framed,
                Err(error) => {
                    state.metrics.hj212(frame_reason(&error));
                    tracing::info!(%error, "HJ 212 connection closed: not a packet");
                    return frame_reason(&error);
                }
            };
            let Framed::Packet(packet) = framed else { break };
            let length = packet.bytes.len();
            if bucket.take().is_err() {
                state.metrics.hj212("rate_limited");
                return "rate_limited";
            }
            let answer = handle_packet(state, intake, &packet).await;
            let refused = matches!(answer, Handled::Refuse(_));
            buffer.drain(..length);
            packet_started = Instant::now();
            match answer {
                Handled::Answer(bytes) | Handled::Refuse(Some(bytes)) => {
                    if stream.write_all(&bytes).await.is_err() {
                        return "write_failed";
                    }
                }
                // A refusal the standard cannot carry (no QN to name).
                Handled::Refuse(None) => return "unanswerable",
                Handled::Silent => {}
                Handled::Close(reason) => return reason,
            }
            if refused {
                refusals_in_a_row += 1;
                if refusals_in_a_row >= REFUSALS_IN_A_ROW_MAX {
                    state.metrics.hj212("refusals_in_a_row");
                    return "refusals_in_a_row";
                }
            } else {
                refusals_in_a_row = 0;
            }
        }
        // An idle connection may wait long; a packet once begun must finish soon.
        let deadline = if buffer.is_empty() {
            Instant::now() + Duration::from_millis(config.hj212_idle_timeout_ms)
        } else {
            packet_started + Duration::from_millis(config.hj212_packet_timeout_ms)
        };
        // The framing check refuses anything longer than one packet, so
        // the buffer never holds more than one packet's bytes and a read.
        let mut chunk = [0u8; 2048];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => {
                let reason = if buffer.is_empty() { "idle" } else { "slow_sender" };
                state.metrics.hj212(reason);
                return reason;
            }
            Ok(Ok(0)) => return "closed_by_peer",
            Ok(Ok(read)) => {
                if buffer.is_empty() {
                    packet_started = Instant::now();
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            Ok(Err(_)) => return "read_failed",
        }
    }
}

fn frame_reason(error: &fieldlink_hj212::FrameError) -> &'static str {
    match error {
        fieldlink_hj212::FrameError::TooLong { .. } => "oversize",
        _ => "not_a_packet",
    }
}

/// What to do after a packet.
enum Handled {
    /// Stored; send this answer.
    Answer(Vec<u8>),
    /// Stored; no answer wanted.
    Silent,
    /// Refused; send the standard's refusal when the packet could be named.
    Refuse(Option<Vec<u8>>),
    /// Close the connection.
    Close(CloseReason),
}

/// Checks, stores and answers one packet. A packet refused without a QN
/// cannot be answered as the standard says: its connection is closed.
async fn handle_packet(state: &AppState, intake: &Intake, packet: &RawPacket<'_>) -> Handled {
    let segment = match fieldlink_hj212::decode(packet) {
        Ok(segment) => segment,
        Err(error) => {
            state.metrics.hj212(match error {
                fieldlink_hj212::PacketError::CrcMismatch { .. } => "bad_crc",
                fieldlink_hj212::PacketError::Segment(_) => "bad_segment",
            });
            tracing::info!(%error, "HJ 212 packet refused");
            let (qn, mn) = error.qn_and_mn();
            return refuse(qn, "", mn, error.qn_rtn());
        }
    };
    let Some(monitor) = intake.registry.get(&segment.mn) else {
        state.metrics.hj212("unknown_mn");
        tracing::info!(mn = %segment.mn, "HJ 212 packet refused: unknown MN");
        return refuse(Some(&segment.qn), &segment.pw, Some(&segment.mn), QnRtn::MnError);
    };
    if !monitor.password_matches(&segment.pw) {
        state.metrics.hj212("wrong_password");
        tracing::info!(mn = %segment.mn, "HJ 212 packet refused: wrong password");
        return refuse(Some(&segment.qn), "", Some(&segment.mn), QnRtn::PwError);
    }
    if !monitor.st.is_empty() && monitor.st != segment.st {
        state.metrics.hj212("wrong_st");
        return refuse(Some(&segment.qn), &segment.pw, Some(&segment.mn), QnRtn::StError);
    }
    let real_time = if segment.cn == cn::REAL_TIME_DATA {
        match fieldlink_hj212::real_time_data(&segment.cp) {
            Ok(data) => Some(data),
            Err(error) => {
                state.metrics.hj212("bad_parameters");
                tracing::info!(%error, mn = %segment.mn, "HJ 212 packet refused: parameters");
                return refuse(Some(&segment.qn), &segment.pw, Some(&segment.mn), QnRtn::Rejected);
            }
        }
    } else {
        None
    };
    let item = NewItem {
        item_id: packet_id(&segment, packet.bytes),
        kind: ItemKind::MonitorPacket,
        device_id: format!("hj212:{}", segment.mn),
        officer_id: String::new(),
        case_id: None,
        sha256: Sha256::digest(packet.bytes).into(),
        body: packet.bytes.to_vec(),
        index: ItemIndex::MonitorPacket {
            mn: segment.mn.clone(),
            cn: segment.cn.clone(),
            data_time_ms: real_time.as_ref().map(|data| data.data_time_ms),
        },
        capture: None,
    };
    let item_id = item.item_id;
    let now_ms = (state.clock)();
    match state.committer.commit(item).await {
        Ok(CommitOutcome::Stored(_)) => {
            state.metrics.hj212("stored");
            let alarms = intake.with_state(&segment.mn, |rules| {
                rules.heard(now_ms);
                real_time
                    .as_ref()
                    .map(|data| rules.on_real_time_data(monitor, data))
                    .unwrap_or_default()
            });
            let reported_at = real_time.as_ref().map_or(now_ms, |data| data.data_time_ms);
            for alarm in &alarms {
                // The packet is durable; an alarm that could not be
                // reported is not acknowledged, so the monitor resends.
                if let Err(error) =
                    report_alarm(state, monitor, alarm, &item_id.to_string(), reported_at).await
                {
                    tracing::error!(%error, mn = %segment.mn, "could not report an alarm");
                    state.metrics.hj212("report_failed");
                    return Handled::Close("report_failed");
                }
            }
        }
        Ok(CommitOutcome::Replayed(_)) => {
            // Sent again (our answer was lost): answered again, counted once.
            state.metrics.hj212("resent");
            intake.with_state(&segment.mn, |rules| rules.heard(now_ms));
        }
        // (A service step is never a monitor packet.)
        Ok(CommitOutcome::Conflict { .. } | CommitOutcome::StepTaken { .. }) => {
            state.metrics.hj212("qn_reused");
            return refuse(Some(&segment.qn), &segment.pw, Some(&segment.mn), QnRtn::QnError);
        }
        Err(error) => {
            tracing::error!(%error, "HJ 212 packet not stored");
            state.metrics.hj212("store_failed");
            return Handled::Close("store_failed");
        }
    }
    if segment.flag.wants_answer() {
        Handled::Answer(fieldlink_hj212::data_answer(&segment))
    } else {
        Handled::Silent
    }
}

fn refuse(qn: Option<&str>, pw: &str, mn: Option<&str>, code: QnRtn) -> Handled {
    match (qn.filter(|qn| !qn.is_empty()), mn) {
        (Some(qn), Some(mn)) => Handled::Refuse(Some(fieldlink_hj212::request_answer(qn, pw, mn, code))),
        _ => Handled::Refuse(None),
    }
}

/// A packet's item id: the same packet sent again (same MN, QN and CN) gets
/// the same id, so a resend is answered from the stored receipt; a packet
/// without a QN is identified by its bytes. Its time is the QN's.
fn packet_id(segment: &DataSegment, bytes: &[u8]) -> Uuid {
    let at_ms =
        fieldlink_hj212::time::parse_local_time(&segment.qn, fieldlink_hj212::time::TimeFormat::WithMillis)
            .unwrap_or(0);
    let purpose = "fieldlink hj212 packet";
    if segment.qn.is_empty() {
        crate::derived_id::derived_v7(purpose, at_ms, &[segment.mn.as_bytes(), bytes])
    } else {
        crate::derived_id::derived_v7(
            purpose,
            at_ms,
            &[
                segment.mn.as_bytes(),
                segment.qn.as_bytes(),
                segment.cn.as_bytes(),
            ],
        )
    }
}

/// Looks for silent monitors every so often and reports each silence once.
async fn watch_offline(state: AppState, intake: Arc<Intake>, shutdown: CancellationToken) {
    let shortest_ms = intake
        .registry
        .all()
        .map(|monitor| monitor.offline_after_ms())
        .min()
        .unwrap_or(i64::MAX);
    let every = Duration::from_millis(u64::try_from(shortest_ms / 3).unwrap_or(u64::MAX))
        .clamp(OFFLINE_CHECK_INTERVAL_MIN, OFFLINE_CHECK_INTERVAL_MAX);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_ms = (state.clock)();
        let silent: Vec<_> = intake
            .registry
            .all()
            .filter_map(|monitor| {
                intake
                    .with_state(&monitor.mn, |rules| {
                        rules.check_offline(monitor, intake.started_at_ms, now_ms)
                    })
                    .map(|alarm| (monitor, alarm))
            })
            .collect();
        for (monitor, _) in silent {
            if let Err(error) = confirm_and_report_silence(&state, &intake, monitor, now_ms).await {
                tracing::error!(%error, mn = %monitor.mn, "could not report a silent monitor");
                intake.with_state(&monitor.mn, |rules| rules.retry_offline());
            }
        }
    }
}

/// A monitor silent here may be talking to another node: the database,
/// which every node writes, says when any node last heard it. Only a
/// silence there too is reported, under an id made from that last packet's
/// time, so every node that sees the same silence (or this node again
/// after a restart) reports the same report and the incident counts it once.
async fn confirm_and_report_silence(
    state: &AppState,
    intake: &Intake,
    monitor: &super::monitor_registry::Monitor,
    now_ms: i64,
) -> Result<(), crate::storage::StorageError> {
    let recent = now_ms.saturating_sub(monitor.offline_after_ms());
    if let Some(heard) = state.storage.monitor_last_heard(&monitor.mn, recent).await? {
        intake.with_state(&monitor.mn, |rules| rules.heard(heard));
        return Ok(());
    }
    // Truly silent: when was it last heard at all (a rare, wider look)?
    let last = state.storage.monitor_last_heard(&monitor.mn, i64::MIN).await?;
    let since = last.unwrap_or(intake.started_at_ms);
    let alarm = super::alarm_rules::Alarm::Offline {
        silent_ms: now_ms.saturating_sub(since),
    };
    let id = crate::derived_id::derived_v7(
        "fieldlink monitor offline",
        last.unwrap_or(0),
        &[monitor.mn.as_bytes()],
    );
    report_alarm(state, monitor, &alarm, &id.to_string(), now_ms).await?;
    Ok(())
}
