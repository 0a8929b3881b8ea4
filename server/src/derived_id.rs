//! Ids the server derives from what it received, so that the same input
//! always gets the same id (resends and retries find what was stored):
//! UUIDv7s whose time is the input's own and whose random bits are a
//! SHA-256 of the input — valid wherever the protocol asks for a UUIDv7.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A UUIDv7 at `at_ms` (clamped to the v7 range) with the digest of `parts`
/// (each length-prefixed, under `purpose`) as its random bits.
pub fn derived_v7(purpose: &str, at_ms: i64, parts: &[&[u8]]) -> Uuid {
    let mut hash = Sha256::new();
    hash.update(purpose.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at_ms).unwrap_or(0).min((1 << 48) - 1);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_input_gets_the_same_v7() {
        let a = derived_v7("x", 1_800_000_000_000, &[b"one", b"two"]);
        assert_eq!(a, derived_v7("x", 1_800_000_000_000, &[b"one", b"two"]));
        assert_eq!(a.get_version_num(), 7);
        assert!(fieldlink_protocol::validate::item_id("id", &a.to_string()).is_ok());
        assert_ne!(a, derived_v7("x", 1_800_000_000_000, &[b"onet", b"wo"]));
        assert_ne!(a, derived_v7("y", 1_800_000_000_000, &[b"one", b"two"]));
        assert_eq!(derived_v7("x", -5, &[]).get_version_num(), 7);
    }
}
