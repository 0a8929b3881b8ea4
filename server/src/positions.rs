//! Live positions (实时位置): the newest ping of each officer, from QUIC
//! datagrams (docs/protocol.md §10e), for the console's map and dispatch
//! suggestions; a sampled track written to storage every
//! `position_sample_ms` and kept `position_retention_days`.
//!
//! Datagrams are never answered. A ping is dropped (and counted by reason)
//! when it is malformed, out of range, from the future, too old, or comes
//! sooner after its device's previous kept ping than
//! `position_interval_ms_min`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use fieldlink_protocol::pb::PositionPing;
use fieldlink_protocol::position::{self, PingRefusal};

pub use crate::storage::PositionFix as LivePosition;

/// The live board and its counters. Shared by every connection.
#[derive(Debug, Default)]
pub struct PositionBoard {
    state: Mutex<BoardState>,
    accepted: AtomicU64,
    dropped: [AtomicU64; PingRefusal::ALL.len()],
}

#[derive(Debug, Default)]
struct BoardState {
    /// By officer.
    latest: HashMap<String, LivePosition>,
    /// By device: when its last kept ping arrived (this node's clock).
    last_kept_ms: HashMap<String, i64>,
    /// Officers whose position changed since the last sample.
    unsampled: HashSet<String>,
}

impl PositionBoard {
    /// Takes one datagram from `device_id`, signed in as `officer_id`.
    pub fn datagram(
        &self,
        officer_id: &str,
        device_id: &str,
        datagram: &[u8],
        now_ms: i64,
        skew_ms: i64,
        interval_ms_min: u32,
    ) -> Result<(), PingRefusal> {
        let result = position::decode_datagram(datagram)
            .and_then(|ping| position::check(&ping, now_ms, skew_ms).map(|()| ping))
            .and_then(|ping| self.keep(officer_id, device_id, &ping, now_ms, interval_ms_min));
        match result {
            Ok(()) => self.accepted.fetch_add(1, Ordering::Relaxed),
            Err(refusal) => self.dropped[refusal_index(refusal)].fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    fn keep(
        &self,
        officer_id: &str,
        device_id: &str,
        ping: &PositionPing,
        now_ms: i64,
        interval_ms_min: u32,
    ) -> Result<(), PingRefusal> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&last) = state.last_kept_ms.get(device_id) {
            if now_ms < last.saturating_add(i64::from(interval_ms_min)) {
                return Err(PingRefusal::TooFrequent);
            }
        }
        state.last_kept_ms.insert(device_id.to_owned(), now_ms);
        // A fix older than the one held (two terminals, reordering) does
        // not move the officer back.
        if state
            .latest
            .get(officer_id)
            .is_some_and(|held| held.at_ms > ping.at_ms)
        {
            return Ok(());
        }
        state.latest.insert(
            officer_id.to_owned(),
            LivePosition {
                officer_id: officer_id.to_owned(),
                device_id: device_id.to_owned(),
                latitude: ping.latitude,
                longitude: ping.longitude,
                accuracy_m: ping.accuracy_m,
                speed_mps: ping.speed_mps,
                at_ms: ping.at_ms,
                received_at_ms: now_ms,
            },
        );
        state.unsampled.insert(officer_id.to_owned());
        Ok(())
    }

    /// Everyone's newest position on this node.
    pub fn latest(&self) -> Vec<LivePosition> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.latest.values().cloned().collect()
    }

    /// The positions that changed since the last call, to be stored as
    /// track points.
    pub fn take_samples(&self) -> Vec<LivePosition> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let officers = std::mem::take(&mut state.unsampled);
        officers
            .iter()
            .filter_map(|officer| state.latest.get(officer).cloned())
            .collect()
    }

    /// Pings kept, and dropped by reason.
    pub fn counts(&self) -> (u64, Vec<(PingRefusal, u64)>) {
        (
            self.accepted.load(Ordering::Relaxed),
            PingRefusal::ALL
                .iter()
                .map(|refusal| {
                    (
                        *refusal,
                        self.dropped[refusal_index(*refusal)].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        )
    }
}

fn refusal_index(refusal: PingRefusal) -> usize {
    PingRefusal::ALL.iter().position(|r| *r == refusal).unwrap_or(0)
}

/// How often the stored track is pruned.
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// Writes the changed positions to the stored track every `sample_ms`
/// and, once an hour, prunes points older than `retention_ms`, until
/// `shutdown`.
pub async fn sample(
    board: std::sync::Arc<PositionBoard>,
    storage: std::sync::Arc<dyn crate::storage::Storage>,
    sample_ms: u64,
    retention_ms: i64,
    clock: fn() -> i64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(sample_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_prune_ms = clock();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let samples = board.take_samples();
        if let Err(error) = storage.record_track(&samples).await {
            // Samples are working data: the next tick's take their place.
            tracing::warn!(%error, points = samples.len(), "position track not stored");
        }
        let now_ms = clock();
        if now_ms < next_prune_ms {
            continue;
        }
        next_prune_ms = now_ms.saturating_add(PRUNE_EVERY_MS);
        match storage.prune_track(now_ms.saturating_sub(retention_ms)).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "old position track points deleted"),
            Err(error) => tracing::warn!(%error, "position track not pruned"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn datagram(latitude: f64, at_ms: i64) -> Vec<u8> {
        position::encode_datagram(&PositionPing {
            latitude,
            longitude: 121.5,
            accuracy_m: 5.0,
            speed_mps: 0.0,
            at_ms,
        })
    }

    #[test]
    fn the_newest_kept_ping_is_the_officers_position_and_drops_are_counted_by_reason() {
        let board = PositionBoard::default();
        assert_eq!(
            board.datagram(
                "officer-01",
                "device-001",
                &datagram(29.8, NOW),
                NOW,
                1_000,
                2_000
            ),
            Ok(())
        );
        // Too soon after the last from the same device.
        assert_eq!(
            board.datagram(
                "officer-01",
                "device-001",
                &datagram(29.9, NOW),
                NOW + 1_999,
                1_000,
                2_000
            ),
            Err(PingRefusal::TooFrequent)
        );
        assert_eq!(
            board.datagram(
                "officer-01",
                "device-001",
                &datagram(95.0, NOW),
                NOW + 5_000,
                1_000,
                2_000
            ),
            Err(PingRefusal::OutOfRange)
        );
        assert_eq!(
            board.datagram("officer-01", "device-001", b"\x01\xff", NOW + 5_000, 1_000, 2_000),
            Err(PingRefusal::Malformed)
        );
        assert_eq!(
            board.datagram(
                "officer-01",
                "device-001",
                &datagram(29.9, NOW + 2_000),
                NOW + 2_000,
                1_000,
                2_000
            ),
            Ok(())
        );
        let latest = board.latest();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].latitude, 29.9);
        let (accepted, dropped) = board.counts();
        assert_eq!(accepted, 2);
        let count = |r| dropped.iter().find(|(x, _)| *x == r).map(|(_, n)| *n).unwrap();
        assert_eq!(count(PingRefusal::TooFrequent), 1);
        assert_eq!(count(PingRefusal::OutOfRange), 1);
        assert_eq!(count(PingRefusal::Malformed), 1);
        assert_eq!(count(PingRefusal::FromTheFuture), 0);
    }

    #[test]
    fn an_older_fix_does_not_move_the_officer_back_and_samples_are_taken_once() {
        let board = PositionBoard::default();
        board
            .datagram("officer-01", "device-001", &datagram(29.8, NOW), NOW, 1_000, 0)
            .unwrap();
        board
            .datagram(
                "officer-01",
                "device-002",
                &datagram(29.1, NOW - 60_000),
                NOW,
                1_000,
                0,
            )
            .unwrap();
        assert_eq!(board.latest()[0].latitude, 29.8);
        let samples = board.take_samples();
        assert_eq!(samples.len(), 1);
        assert!(board.take_samples().is_empty(), "nothing new since");
        board
            .datagram(
                "officer-01",
                "device-001",
                &datagram(29.7, NOW + 1),
                NOW + 1,
                1_000,
                0,
            )
            .unwrap();
        assert_eq!(board.take_samples()[0].latitude, 29.7);
    }
}
