//! Where an upload stream may start: the pure decision behind resuming.
//!
//! A terminal names an evidence id, the photo's SHA-256 and size, and the
//! offset it starts at. What the device already holds decides:
//! - the same photo at exactly its durable offset → resume there;
//! - offset 0 → a fresh upload (or a deliberate restart), within the device's
//!   partial-bytes quota;
//! - anything else → OFFSET_MISMATCH carrying the durable offset of that
//!   photo, or 0. An unknown id, another device's id and a different photo
//!   all get the same answer: no existence oracle.
//!
//! Kept free of I/O so it can be checked against a model
//! ([`crate::evidence::upload_model`], fuzzed by `fuzz/upload_model`).

/// What this device holds for the evidence id, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The SHA-256 declared when the upload began.
    pub header_sha256: [u8; 32],
    /// The size declared when the upload began.
    pub size_bytes: u64,
    /// Bytes held durably.
    pub durable_offset: u64,
}

/// What the stream declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The photo's SHA-256.
    pub sha256: [u8; 32],
    /// The photo's size.
    pub size_bytes: u64,
    /// Where this stream's bytes start.
    pub offset: u64,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Continue the held upload at this offset.
    Resume(u64),
    /// Begin (again) from byte 0.
    Fresh,
    /// Refused: start at `durable_offset` instead.
    OffsetMismatch {
        /// What the device holds of this photo (0 when nothing).
        durable_offset: u64,
    },
    /// Refused: the device would hold more unfinished bytes than allowed.
    OverQuota {
        /// Bytes the device would hold.
        held_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
}

/// Decides where a stream starts. `device_held_bytes` is the declared size
/// of every unfinished upload of the device (including `held`'s).
pub fn plan_start(held: Option<Held>, declared: Declared, device_held_bytes: u64, limit_bytes: u64) -> Start {
    let same_photo =
        held.is_some_and(|h| h.header_sha256 == declared.sha256 && h.size_bytes == declared.size_bytes);
    match held {
        Some(h) if same_photo && declared.offset == h.durable_offset => Start::Resume(declared.offset),
        _ if declared.offset == 0 => {
            let others = device_held_bytes.saturating_sub(held.map(|h| h.size_bytes).unwrap_or(0));
            let would_hold = others.saturating_add(declared.size_bytes);
            if would_hold > limit_bytes {
                Start::OverQuota {
                    held_bytes: would_hold,
                    limit_bytes,
                }
            } else {
                Start::Fresh
            }
        }
        _ => Start::OffsetMismatch {
            durable_offset: held.filter(|_| same_photo).map(|h| h.durable_offset).unwrap_or(0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHOTO: [u8; 32] = [1; 32];
    const OTHER: [u8; 32] = [2; 32];

    fn declared(sha256: [u8; 32], offset: u64) -> Declared {
        Declared {
            sha256,
            size_bytes: 1000,
            offset,
        }
    }

    fn held(durable_offset: u64) -> Option<Held> {
        Some(Held {
            header_sha256: PHOTO,
            size_bytes: 1000,
            durable_offset,
        })
    }

    #[test]
    fn resumes_only_at_the_durable_offset() {
        assert_eq!(
            plan_start(held(400), declared(PHOTO, 400), 1000, 10_000),
            Start::Resume(400)
        );
        assert_eq!(
            plan_start(held(400), declared(PHOTO, 300), 1000, 10_000),
            Start::OffsetMismatch { durable_offset: 400 }
        );
    }

    #[test]
    fn unknown_and_different_photos_get_the_same_answer() {
        let unknown = plan_start(None, declared(PHOTO, 400), 0, 10_000);
        let different = plan_start(held(400), declared(OTHER, 400), 1000, 10_000);
        assert_eq!(unknown, Start::OffsetMismatch { durable_offset: 0 });
        assert_eq!(different, unknown);
    }

    #[test]
    fn a_restart_from_zero_replaces_the_held_upload_within_the_quota() {
        // The held upload's own bytes do not count twice.
        assert_eq!(
            plan_start(held(400), declared(OTHER, 0), 1000, 1000),
            Start::Fresh
        );
        assert_eq!(
            plan_start(None, declared(PHOTO, 0), 500, 1000),
            Start::OverQuota {
                held_bytes: 1500,
                limit_bytes: 1000
            }
        );
    }
}
