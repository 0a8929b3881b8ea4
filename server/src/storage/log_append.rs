//! Appending to the transparency log, without the database: which stored
//! hashes an append must read, the hashes each new leaf completes, and the
//! leaf of each kind of item. The shared queries (`queries.rs`) read and
//! write the rows.

use std::collections::HashMap;

use fieldlink_protocol::log::{Leaf, LeafKind};
use prost::Message;
use sha2::Digest;
use tlog_tiles::{Hash, HashReader};
use uuid::Uuid;

use super::{ItemIndex, NewAssignmentEvent, NewItem, StorageError, StoredReceipt};

/// Leaves appended after a log of `size` leaves.
#[derive(Debug)]
pub(crate) struct LogAppend {
    size: u64,
    known: HashMap<u64, Hash>,
    new: Vec<(u64, [u8; 32])>,
}

struct Known<'a>(&'a HashMap<u64, Hash>);

impl HashReader for Known<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|index| {
                self.0
                    .get(index)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl LogAppend {
    /// Appending after `size` leaves.
    pub fn new(size: u64) -> Self {
        Self {
            size,
            known: HashMap::new(),
            new: Vec::new(),
        }
    }

    /// The stored hashes to read first: the complete subtrees left of the
    /// current size. Every later leaf of the batch needs only these and the
    /// hashes the batch itself makes.
    pub fn frontier_indexes(&self) -> Vec<u64> {
        if self.size == 0 {
            return Vec::new();
        }
        tlog_tiles::sub_tree_index(0, self.size, Vec::new())
    }

    /// A stored hash read from the database.
    pub fn know(&mut self, index: u64, hash: [u8; 32]) {
        self.known.insert(index, Hash(hash));
    }

    /// Appends one leaf; returns its index.
    pub fn push(&mut self, data: &[u8]) -> Result<u64, StorageError> {
        let index = self.size;
        let hashes = tlog_tiles::stored_hashes(index, data, &Known(&self.known))
            .map_err(|e| StorageError::Corrupt(format!("log hashes left of leaf {index}: {e}")))?;
        let start = tlog_tiles::stored_hash_index(0, index);
        for (offset, hash) in (0..).zip(hashes) {
            self.known.insert(start + offset, hash);
            // A leaf's own hash is not stored: its data is (log_leaves).
            if offset > 0 {
                self.new.push((start + offset, hash.0));
            }
        }
        self.size += 1;
        Ok(index)
    }

    /// The hashes to store, (stored-hash index, hash): those of the complete
    /// subtrees of two leaves or more.
    pub fn new_hashes(&self) -> &[(u64, [u8; 32])] {
        &self.new
    }
}

fn sm3_of(bytes: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(bytes).into()
}

fn leaf_kind(name: &str) -> Result<LeafKind, StorageError> {
    LeafKind::from_item_kind(name).ok_or_else(|| StorageError::Corrupt(format!("item kind {name}")))
}

/// The leaf of an item being stored now. A photo's digests are of the
/// photo's bytes (its SM3 from the upload); a record's, of its bytes as
/// received.
pub(crate) fn item_leaf(item: &NewItem, server_seq: u64, received_at_ms: i64) -> Leaf {
    let sm3 = match &item.index {
        ItemIndex::Photo(photo) => photo.sm3,
        _ => sm3_of(&item.body),
    };
    Leaf {
        kind: match item.kind {
            super::ItemKind::Inspection => LeafKind::Inspection,
            super::ItemKind::Photo => LeafKind::Photo,
            super::ItemKind::Service => LeafKind::Service,
            super::ItemKind::ServiceEvent => LeafKind::ServiceEvent,
            super::ItemKind::Interview => LeafKind::Interview,
            super::ItemKind::MonitorPacket => LeafKind::MonitorPacket,
            super::ItemKind::CameraAlert => LeafKind::CameraAlert,
            super::ItemKind::GridReport => LeafKind::GridReport,
        },
        item_id: item.item_id,
        server_seq,
        received_at_ms,
        sha256: item.sha256,
        sm3,
        device_id: item.device_id.clone(),
        officer_id: item.officer_id.clone(),
        capture: item.capture.as_ref().map(super::DeviceCapture::leaf_capture),
    }
}

/// The leaf of an item stored earlier (for items stored before the log).
pub(crate) fn stored_item_leaf(
    kind: &str,
    receipt: &StoredReceipt,
    device_id: String,
    officer_id: String,
    body: &[u8],
    photo_sm3: Option<[u8; 32]>,
    capture: Option<&super::DeviceCapture>,
) -> Result<Leaf, StorageError> {
    Ok(Leaf {
        kind: leaf_kind(kind)?,
        item_id: receipt.item_id,
        server_seq: receipt.server_seq,
        received_at_ms: receipt.received_at_ms,
        sha256: receipt.sha256,
        sm3: photo_sm3.unwrap_or_else(|| sm3_of(body)),
        device_id,
        officer_id,
        capture: capture.map(super::DeviceCapture::leaf_capture),
    })
}

/// The leaf of an assignment event: its digests are of the event as stored
/// (the `AssignmentEvent` encoding with `seq` = 0), its time the event's,
/// its device and officer who made it.
pub(crate) fn event_leaf(new: &NewAssignmentEvent, seq: u64) -> Leaf {
    let mut event = new.event.clone();
    event.seq = 0;
    let bytes = event.encode_to_vec();
    Leaf {
        kind: LeafKind::AssignmentEvent,
        item_id: new.event_id,
        server_seq: seq,
        received_at_ms: event.at_ms,
        sha256: sha2::Sha256::digest(&bytes).into(),
        sm3: sm3_of(&bytes),
        device_id: event.device_id,
        officer_id: event.by,
        capture: None,
    }
}

/// The leaf of an assignment event stored earlier, from its stored bytes.
pub(crate) fn stored_event_leaf(event_id: Uuid, seq: u64, bytes: &[u8]) -> Result<Leaf, StorageError> {
    let event = fieldlink_protocol::pb::AssignmentEvent::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("assignment event {event_id}: {e}")))?;
    Ok(Leaf {
        kind: LeafKind::AssignmentEvent,
        item_id: event_id,
        server_seq: seq,
        received_at_ms: event.at_ms,
        sha256: sha2::Sha256::digest(bytes).into(),
        sm3: sm3_of(bytes),
        device_id: event.device_id,
        officer_id: event.by,
        capture: None,
    })
}

/// The leaf of an incident event: its digests are of its stored bytes (the
/// `IncidentEvent` encoding), its device the reporting source (empty for a
/// person's change), its officer who made the change.
pub(crate) fn incident_leaf(seq: u64, bytes: &[u8]) -> Result<Leaf, StorageError> {
    let event = fieldlink_protocol::pb::IncidentEvent::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("incident event: {e}")))?;
    Ok(Leaf {
        kind: LeafKind::IncidentEvent,
        item_id: super::convert::uuid(&event.event_id)?,
        server_seq: seq,
        received_at_ms: event.at_ms,
        sha256: sha2::Sha256::digest(bytes).into(),
        sm3: sm3_of(bytes),
        device_id: event.source.map(|source| source.source_id).unwrap_or_default(),
        officer_id: event.by,
        capture: None,
    })
}

/// The leaf of a custody event: its digests are of its stored bytes (the
/// `CustodyEvent` encoding), its device the event's origin, its officer the
/// actor.
pub(crate) fn custody_leaf(seq: u64, bytes: &[u8]) -> Result<Leaf, StorageError> {
    let event = fieldlink_protocol::pb::CustodyEvent::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("custody event: {e}")))?;
    Ok(Leaf {
        kind: LeafKind::Custody,
        item_id: super::convert::uuid(&event.event_id)?,
        server_seq: seq,
        received_at_ms: event.at_ms,
        sha256: sha2::Sha256::digest(bytes).into(),
        sm3: sm3_of(bytes),
        device_id: event.origin,
        officer_id: event.actor,
        capture: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appending in batches of any size, reading only the frontier, gives
    /// the same hashes as one leaf at a time with everything known, and
    /// the root of every prefix matches RFC 9162's definition.
    #[test]
    fn batched_appends_read_only_the_frontier_and_agree_with_the_definition() {
        let data: Vec<Vec<u8>> = (0..300).map(|i| format!("leaf {i}").into_bytes()).collect();
        let mut stored: HashMap<u64, [u8; 32]> = HashMap::new();
        let mut size = 0;
        for batch in [1, 2, 3, 7, 8, 1, 50, 100, 128] {
            let mut append = LogAppend::new(size);
            for index in append.frontier_indexes() {
                append.know(index, stored[&index]);
            }
            for leaf in &data[size as usize..size as usize + batch] {
                append.push(leaf).unwrap();
            }
            for (index, hash) in append.new_hashes() {
                assert!(
                    tlog_tiles::split_stored_hash_index(*index).0 > 0,
                    "a leaf's own hash is stored"
                );
                assert!(
                    stored.insert(*index, *hash).is_none(),
                    "hash {index} written twice"
                );
            }
            // A leaf's own hash comes from its data, as storage reads it.
            for (n, leaf) in data.iter().enumerate().take(size as usize + batch) {
                stored.insert(
                    tlog_tiles::stored_hash_index(0, n as u64),
                    fieldlink_protocol::log::leaf_hash(leaf),
                );
            }
            size += batch as u64;
            let known: HashMap<u64, Hash> = stored.iter().map(|(i, h)| (*i, Hash(*h))).collect();
            let reader = Known(&known);
            let root = tlog_tiles::tree_hash(size, &reader).unwrap().0;
            assert_eq!(root, definition_root(&data[..size as usize]), "size {size}");
        }
    }

    fn definition_root(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            1 => fieldlink_protocol::log::leaf_hash(&leaves[0]),
            n => {
                let k = n.next_power_of_two() / 2;
                fieldlink_protocol::log::node_hash(
                    &definition_root(&leaves[..k]),
                    &definition_root(&leaves[k..]),
                )
            }
        }
    }

    #[test]
    fn a_missing_frontier_hash_is_an_error_not_a_panic() {
        let mut append = LogAppend::new(3);
        assert!(matches!(append.push(b"x"), Err(StorageError::Corrupt(_))));
    }
}
