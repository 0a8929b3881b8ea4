//! Live positions as QUIC datagrams (position.proto): the datagram's
//! framing and the checks both ends apply to a ping.

use prost::Message;

use crate::pb::PositionPing;

/// The first byte of a position datagram; other values are reserved.
pub const DATAGRAM_POSITION: u8 = 0x01;
/// Largest position datagram, bytes (a ping encodes in under 40).
pub const DATAGRAM_BYTES_MAX: usize = 128;
/// Oldest ping accepted, ms before the server's clock.
pub const AGE_MS_MAX: i64 = 10 * 60 * 1000;
/// Largest accuracy radius accepted, metres.
pub const ACCURACY_M_MAX: f32 = 10_000.0;
/// Largest speed accepted, metres per second (360 km/h).
pub const SPEED_MPS_MAX: f32 = 100.0;
/// Default shortest interval between two pings of one device, ms.
pub const INTERVAL_MS_MIN_DEFAULT: u32 = 2_000;

/// Why a ping was dropped. Each is counted by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PingRefusal {
    /// Not a position datagram, or not a PositionPing.
    #[error("not a position datagram")]
    Malformed,
    /// Latitude, longitude, accuracy or speed outside its range.
    #[error("a value is out of range")]
    OutOfRange,
    /// Taken later than the server's clock plus the allowed skew.
    #[error("from the future")]
    FromTheFuture,
    /// Taken longer ago than AGE_MS_MAX.
    #[error("too old")]
    TooOld,
    /// Sooner after the device's previous ping than the interval allows.
    #[error("too frequent")]
    TooFrequent,
}

impl PingRefusal {
    /// Every refusal, for metrics.
    pub const ALL: [PingRefusal; 5] = [
        PingRefusal::Malformed,
        PingRefusal::OutOfRange,
        PingRefusal::FromTheFuture,
        PingRefusal::TooOld,
        PingRefusal::TooFrequent,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            PingRefusal::Malformed => "malformed",
            PingRefusal::OutOfRange => "out_of_range",
            PingRefusal::FromTheFuture => "from_the_future",
            PingRefusal::TooOld => "too_old",
            PingRefusal::TooFrequent => "too_frequent",
        }
    }
}

/// The datagram carrying `ping`.
pub fn encode_datagram(ping: &PositionPing) -> Vec<u8> {
    let mut datagram = Vec::with_capacity(1 + ping.encoded_len());
    datagram.push(DATAGRAM_POSITION);
    ping.encode(&mut datagram).unwrap_or_default();
    datagram
}

/// The ping a datagram carries.
pub fn decode_datagram(datagram: &[u8]) -> Result<PositionPing, PingRefusal> {
    match datagram.split_first() {
        Some((&DATAGRAM_POSITION, body)) if datagram.len() <= DATAGRAM_BYTES_MAX => {
            PositionPing::decode(body).map_err(|_| PingRefusal::Malformed)
        }
        _ => Err(PingRefusal::Malformed),
    }
}

/// Whether the ping's values are in their ranges (what a terminal can
/// check without the server's clock).
pub fn check_values(ping: &PositionPing) -> Result<(), PingRefusal> {
    let in_range = (-90.0..=90.0).contains(&ping.latitude)
        && (-180.0..=180.0).contains(&ping.longitude)
        && (0.0..=ACCURACY_M_MAX).contains(&ping.accuracy_m)
        && (0.0..=SPEED_MPS_MAX).contains(&ping.speed_mps);
    // NaN fails every range too.
    in_range.then_some(()).ok_or(PingRefusal::OutOfRange)
}

/// Whether `ping` may be kept, by a clock reading `now_ms` that allows
/// `skew_ms` of difference.
pub fn check(ping: &PositionPing, now_ms: i64, skew_ms: i64) -> Result<(), PingRefusal> {
    check_values(ping)?;
    if ping.at_ms > now_ms.saturating_add(skew_ms) {
        return Err(PingRefusal::FromTheFuture);
    }
    if ping.at_ms < now_ms.saturating_sub(AGE_MS_MAX) {
        return Err(PingRefusal::TooOld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(at_ms: i64) -> PositionPing {
        PositionPing {
            latitude: 29.8683,
            longitude: 121.544,
            accuracy_m: 5.0,
            speed_mps: 1.2,
            at_ms,
        }
    }

    #[test]
    fn a_ping_round_trips_through_its_datagram_and_other_bytes_are_malformed() {
        let datagram = encode_datagram(&ping(1_000));
        assert!(datagram.len() < 40, "{}", datagram.len());
        assert_eq!(decode_datagram(&datagram), Ok(ping(1_000)));
        assert_eq!(decode_datagram(&[]), Err(PingRefusal::Malformed));
        assert_eq!(decode_datagram(&[0x02, 0x08, 0x01]), Err(PingRefusal::Malformed));
        assert_eq!(decode_datagram(&[0x01, 0xff, 0xff]), Err(PingRefusal::Malformed));
        let mut long = vec![DATAGRAM_POSITION];
        long.resize(DATAGRAM_BYTES_MAX + 1, 0);
        assert_eq!(decode_datagram(&long), Err(PingRefusal::Malformed));
    }

    #[test]
    fn values_out_of_range_stale_and_future_pings_are_refused() {
        let now = 1_800_000_000_000;
        assert_eq!(check(&ping(now), now, 1_000), Ok(()));
        for bad in [
            PositionPing {
                latitude: 90.5,
                ..ping(now)
            },
            PositionPing {
                longitude: -181.0,
                ..ping(now)
            },
            PositionPing {
                latitude: f64::NAN,
                ..ping(now)
            },
            PositionPing {
                accuracy_m: -1.0,
                ..ping(now)
            },
            PositionPing {
                speed_mps: 150.0,
                ..ping(now)
            },
        ] {
            assert_eq!(check(&bad, now, 1_000), Err(PingRefusal::OutOfRange), "{bad:?}");
        }
        assert_eq!(
            check(&ping(now + 1_001), now, 1_000),
            Err(PingRefusal::FromTheFuture)
        );
        assert_eq!(check(&ping(now + 1_000), now, 1_000), Ok(()));
        assert_eq!(
            check(&ping(now - AGE_MS_MAX - 1), now, 1_000),
            Err(PingRefusal::TooOld)
        );
    }
}
