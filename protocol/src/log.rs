//! The transparency log's contract: what a leaf is, how leaves and nodes are
//! hashed, and how a terminal or an offline verifier checks an inclusion
//! proof, a consistency proof and a signed checkpoint.
//!
//! Hashing is RFC 9162 (SHA-256; leaf = H(0x00 ‖ data), node = H(0x01 ‖ left
//! ‖ right)); proofs are RFC 9162 §2.1.3 (inclusion) and §2.1.4
//! (consistency), checked with `tlog_tiles` (a port of Go's sumdb/tlog).
//! Checkpoints are C2SP tlog-checkpoint signed notes with an Ed25519 key,
//! checked with `signed_note`. The leaf encoding is [`Leaf::encode`],
//! documented byte by byte in docs/protocol.md ("The transparency log").

use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::Hash;

/// The leaf encoding's version byte for an item without a device capture
/// signature.
pub const LEAF_VERSION: u8 = 1;
/// The version byte of a leaf that carries a device capture signature.
pub const LEAF_VERSION_SIGNED: u8 = 2;

/// Most hashes a proof may carry: a tree of 2^63 leaves needs 63.
pub const PROOF_HASHES_MAX: usize = 64;

/// What an item is, as its leaf names it (one byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// An inspection record.
    Inspection = 1,
    /// A photo.
    Photo = 2,
    /// An electronic-service confirmation.
    Service = 3,
    /// A later event of a service.
    ServiceEvent = 4,
    /// Remote-interview metadata.
    Interview = 5,
    /// An assignment event (created, accepted, completed, …).
    AssignmentEvent = 6,
    /// A custody event: an access to evidence (an export, an audit, a
    /// console view or download); its bytes are a `CustodyEvent` message.
    Custody = 7,
    /// A packet from a monitor over HJ 212, stored byte-exact as received.
    MonitorPacket = 8,
    /// An incident event (docs/intake.md); its bytes are an `IncidentEvent`.
    IncidentEvent = 9,
    /// An AI-video alert from the signed webhook, byte-exact as received.
    CameraAlert = 10,
    /// A grid worker's report (`GridReport`), byte-exact as received.
    GridReport = 11,
}

impl LeafKind {
    /// The kind with this byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Inspection,
            2 => Self::Photo,
            3 => Self::Service,
            4 => Self::ServiceEvent,
            5 => Self::Interview,
            6 => Self::AssignmentEvent,
            7 => Self::Custody,
            8 => Self::MonitorPacket,
            9 => Self::IncidentEvent,
            10 => Self::CameraAlert,
            11 => Self::GridReport,
            _ => return None,
        })
    }

    /// The kind of a stored item by its name (`inspection`, `photo`, …).
    pub fn from_item_kind(name: &str) -> Option<Self> {
        Some(match name {
            "inspection" => Self::Inspection,
            "photo" => Self::Photo,
            "service" => Self::Service,
            "service_event" => Self::ServiceEvent,
            "interview" => Self::Interview,
            "assignment_event" => Self::AssignmentEvent,
            "custody" => Self::Custody,
            "monitor_packet" => Self::MonitorPacket,
            "incident_event" => Self::IncidentEvent,
            "camera_alert" => Self::CameraAlert,
            "grid_report" => Self::GridReport,
            _ => return None,
        })
    }

    /// The kind's name, as [`LeafKind::from_item_kind`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Inspection => "inspection",
            Self::Photo => "photo",
            Self::Service => "service",
            Self::ServiceEvent => "service_event",
            Self::Interview => "interview",
            Self::AssignmentEvent => "assignment_event",
            Self::Custody => "custody",
            Self::MonitorPacket => "monitor_packet",
            Self::IncidentEvent => "incident_event",
            Self::CameraAlert => "camera_alert",
            Self::GridReport => "grid_report",
        }
    }
}

/// One leaf: the receipt of one committed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// What the item is.
    pub kind: LeafKind,
    /// The item's id (an assignment event's event id).
    pub item_id: uuid::Uuid,
    /// The server's sequence number for it (items and assignment events
    /// count separately).
    pub server_seq: u64,
    /// When the server stored it, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// SHA-256 of its bytes as received (a photo: the photo's bytes).
    pub sha256: [u8; 32],
    /// SM3 of the same bytes.
    pub sm3: [u8; 32],
    /// The device that sent it.
    pub device_id: String,
    /// The officer who sent it.
    pub officer_id: String,
    /// The device's capture signature, when the item came with one.
    pub capture: Option<LeafCapture>,
}

/// A device capture signature as a leaf carries it (docs/protocol.md §10b).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafCapture {
    /// The TLS SignatureScheme code.
    pub scheme: u16,
    /// The capture statement, as signed.
    pub statement: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// Why a leaf, a proof or a checkpoint did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The leaf bytes are not a leaf of this version.
    #[error("malformed leaf: {0}")]
    MalformedLeaf(&'static str),
    /// A proof hash is not 32 bytes, or there are too many.
    #[error("malformed proof")]
    MalformedProof,
    /// The proof does not lead to the checkpoint's root.
    #[error("the proof does not match the checkpoint")]
    InvalidProof,
    /// The checkpoint text or its signature block is malformed.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// The checkpoint is not signed by the log's key, or the signature is bad.
    #[error("the checkpoint is not signed by the log key: {0}")]
    BadSignature(String),
    /// The checkpoint names another log.
    #[error("the checkpoint is of log {found}, expected {expected}")]
    WrongOrigin {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// The newer checkpoint is smaller than the older, or the two disagree
    /// about the leaves they share: the log was rewritten.
    #[error("the log forked or shrank: {0}")]
    Forked(String),
    /// The verifier key is malformed.
    #[error("malformed log key: {0}")]
    MalformedKey(String),
}

impl Leaf {
    /// The canonical encoding: version (1 byte, [`LEAF_VERSION`]), kind (1),
    /// item id (16, RFC 9562 byte order), server_seq (8, big-endian),
    /// received_at_ms (8, big-endian two's complement), SHA-256 (32), SM3
    /// (32), then device id and officer id, each as a 2-byte big-endian
    /// length and that many bytes of UTF-8. A leaf with a capture signature
    /// has version [`LEAF_VERSION_SIGNED`] and then the scheme (2 bytes),
    /// the statement and the signature (each a 2-byte length and the bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(102 + self.device_id.len() + self.officer_id.len());
        out.push(match self.capture {
            Some(_) => LEAF_VERSION_SIGNED,
            None => LEAF_VERSION,
        });
        out.push(self.kind as u8);
        out.extend_from_slice(self.item_id.as_bytes());
        out.extend_from_slice(&self.server_seq.to_be_bytes());
        out.extend_from_slice(&self.received_at_ms.to_be_bytes());
        out.extend_from_slice(&self.sha256);
        out.extend_from_slice(&self.sm3);
        for text in [&self.device_id, &self.officer_id] {
            // Ids are bounded far below 64 KiB by validation; cut, never wrap.
            let bytes = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        if let Some(capture) = &self.capture {
            out.extend_from_slice(&capture.scheme.to_be_bytes());
            for bytes in [&capture.statement, &capture.signature] {
                let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
                out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
        out
    }

    /// Parses [`Leaf::encode`]'s output; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, LogError> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], LogError> {
            if rest.len() < n {
                return Err(LogError::MalformedLeaf("truncated"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let signed = match take(1)?[0] {
            LEAF_VERSION => false,
            LEAF_VERSION_SIGNED => true,
            _ => return Err(LogError::MalformedLeaf("unknown version")),
        };
        let kind = LeafKind::from_byte(take(1)?[0]).ok_or(LogError::MalformedLeaf("unknown kind"))?;
        let array = |slice: &[u8]| -> [u8; 32] {
            let mut out = [0; 32];
            out.copy_from_slice(slice);
            out
        };
        let item_id = uuid::Uuid::from_slice(take(16)?).map_err(|_| LogError::MalformedLeaf("item id"))?;
        let eight = |slice: &[u8]| -> [u8; 8] {
            let mut out = [0; 8];
            out.copy_from_slice(slice);
            out
        };
        let server_seq = u64::from_be_bytes(eight(take(8)?));
        let received_at_ms = i64::from_be_bytes(eight(take(8)?));
        let sha256 = array(take(32)?);
        let sm3 = array(take(32)?);
        let mut text = || -> Result<String, LogError> {
            let length = take(2)?;
            let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
            String::from_utf8(take(length)?.to_vec()).map_err(|_| LogError::MalformedLeaf("not UTF-8"))
        };
        let device_id = text()?;
        let officer_id = text()?;
        let capture = match signed {
            false => None,
            true => {
                let scheme = take(2)?;
                let scheme = u16::from_be_bytes([scheme[0], scheme[1]]);
                let mut bytes = || -> Result<Vec<u8>, LogError> {
                    let length = take(2)?;
                    Ok(take(usize::from(u16::from_be_bytes([length[0], length[1]])))?.to_vec())
                };
                let statement = bytes()?;
                let signature = bytes()?;
                Some(LeafCapture {
                    scheme,
                    statement,
                    signature,
                })
            }
        };
        if !rest.is_empty() {
            return Err(LogError::MalformedLeaf("trailing bytes"));
        }
        Ok(Self {
            kind,
            item_id,
            server_seq,
            received_at_ms,
            sha256,
            sm3,
            device_id,
            officer_id,
            capture,
        })
    }
}

/// The leaf hash of `data`: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    tlog_tiles::record_hash(data).0
}

/// An interior node's hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    tlog_tiles::node_hash(Hash(*left), Hash(*right)).0
}

/// A checkpoint whose signature by the log key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (the first line of the note).
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash of the tree of that size.
    pub root: [u8; 32],
    /// The whole signed note, as received.
    pub note: String,
}

/// The checkpoint text (C2SP tlog-checkpoint) for a tree, to be signed.
pub fn checkpoint_text(origin: &str, size: u64, root: &[u8; 32]) -> Result<Vec<u8>, LogError> {
    tlog_tiles::Checkpoint::new(origin, size, Hash(*root), "")
        .map(|checkpoint| checkpoint.to_bytes())
        .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))
}

/// Checks a signed checkpoint against the log's verifier key (a signed-note
/// key, `name+id+base64`) and origin, and parses it.
pub fn open_checkpoint(note: &str, verifier_key: &str, origin: &str) -> Result<Checkpoint, LogError> {
    let verifier = StandardVerifier::new(verifier_key).map_err(|e| LogError::MalformedKey(e.to_string()))?;
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
    parsed
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| LogError::BadSignature(e.to_string()))?;
    let checkpoint = tlog_tiles::Checkpoint::from_bytes(parsed.text())
        .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
    if checkpoint.origin() != origin {
        return Err(LogError::WrongOrigin {
            expected: origin.to_owned(),
            found: checkpoint.origin().to_owned(),
        });
    }
    Ok(Checkpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: checkpoint.hash().0,
        note: note.to_owned(),
    })
}

fn proof_hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, LogError> {
    if proof.len() > PROOF_HASHES_MAX {
        return Err(LogError::MalformedProof);
    }
    proof
        .iter()
        .map(|hash| {
            <[u8; 32]>::try_from(hash.as_slice())
                .map(Hash)
                .map_err(|_| LogError::MalformedProof)
        })
        .collect()
}

/// Checks that `leaf` is the leaf at `leaf_index` of the tree `checkpoint`
/// describes, given the audit path `proof` (bottom-up).
pub fn verify_inclusion(
    leaf: &[u8],
    leaf_index: u64,
    proof: &[Vec<u8>],
    checkpoint: &Checkpoint,
) -> Result<(), LogError> {
    if leaf_index >= checkpoint.size {
        return Err(LogError::InvalidProof);
    }
    tlog_tiles::check_record(
        &proof_hashes(proof)?,
        checkpoint.size,
        Hash(checkpoint.root),
        leaf_index,
        tlog_tiles::record_hash(leaf),
    )
    .map_err(|_| LogError::InvalidProof)
}

/// Checks that `newer` extends `older`: same leaves up to `older.size`.
/// A smaller newer tree, or equal sizes with different roots, is a fork.
pub fn verify_consistency(older: &Checkpoint, newer: &Checkpoint, proof: &[Vec<u8>]) -> Result<(), LogError> {
    if newer.size < older.size {
        return Err(LogError::Forked(format!(
            "the log shrank from {} to {} leaves",
            older.size, newer.size
        )));
    }
    if older.size == 0 || newer.size == older.size {
        return if older.size == 0 || newer.root == older.root {
            Ok(())
        } else {
            Err(LogError::Forked(format!(
                "two different roots for {} leaves",
                older.size
            )))
        };
    }
    tlog_tiles::check_tree(
        &proof_hashes(proof)?,
        newer.size,
        Hash(newer.root),
        older.size,
        Hash(older.root),
    )
    .map_err(|_| {
        LogError::Forked(format!(
            "the tree of {} leaves does not extend the one of {}",
            newer.size, older.size
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    // An independent reading of RFC 9162 §2.1: MTH, PATH and PROOF written
    // from the definitions, to cross-check the library the code uses.
    fn mth(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => {
                let mut h = Sha256::new();
                h.update([0]);
                h.update(&leaves[0]);
                h.finalize().into()
            }
            n => {
                let k = n.next_power_of_two() / 2;
                let mut h = Sha256::new();
                h.update([1]);
                h.update(mth(&leaves[..k]));
                h.update(mth(&leaves[k..]));
                h.finalize().into()
            }
        }
    }

    fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = n.next_power_of_two() / 2;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]).to_vec());
            p
        }
    }

    fn subproof(m: usize, leaves: &[Vec<u8>], complete: bool) -> Vec<Vec<u8>> {
        let n = leaves.len();
        if m == n {
            return if complete {
                vec![]
            } else {
                vec![mth(leaves).to_vec()]
            };
        }
        let k = n.next_power_of_two() / 2;
        if m <= k {
            let mut p = subproof(m, &leaves[..k], complete);
            p.push(mth(&leaves[k..]).to_vec());
            p
        } else {
            let mut p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]).to_vec());
            p
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    fn checkpoint(leaves: &[Vec<u8>]) -> Checkpoint {
        Checkpoint {
            origin: "test".into(),
            size: leaves.len() as u64,
            root: mth(leaves),
            note: String::new(),
        }
    }

    #[test]
    fn inclusion_proofs_check_at_the_sizes_that_matter() {
        for n in [1, 2, 3, 7, 8, 1000] {
            let all = leaves(n);
            let head = checkpoint(&all);
            for m in (0..n).filter(|m| n < 20 || m % 97 == 0 || *m == n - 1) {
                verify_inclusion(&all[m], m as u64, &path(m, &all), &head).unwrap();
                // Another leaf, another index, a shortened or padded path: refused.
                let other = (m + 1) % n;
                if other != m {
                    assert_eq!(
                        verify_inclusion(&all[other], m as u64, &path(m, &all), &head),
                        Err(LogError::InvalidProof)
                    );
                }
                let mut padded = path(m, &all);
                padded.push(vec![0; 32]);
                assert!(verify_inclusion(&all[m], m as u64, &padded, &head).is_err());
            }
            assert!(verify_inclusion(&all[0], n as u64, &[], &head).is_err());
        }
    }

    #[test]
    fn consistency_proofs_check_and_a_rewritten_prefix_is_a_fork() {
        for n in [1, 2, 3, 7, 8, 1000] {
            let all = leaves(n);
            let newer = checkpoint(&all);
            for m in (1..=n).filter(|m| n < 20 || m % 97 == 0 || *m == n) {
                let older = checkpoint(&all[..m]);
                verify_consistency(&older, &newer, &subproof(m, &all, true)).unwrap();
                let mut rewritten = all.clone();
                rewritten[m - 1] = b"rewritten".to_vec();
                let forked = checkpoint(&rewritten);
                assert!(matches!(
                    verify_consistency(&older, &forked, &subproof(m, &rewritten, true)),
                    Err(LogError::Forked(_))
                ));
            }
        }
        let seven = checkpoint(&leaves(7));
        let three = checkpoint(&leaves(3));
        assert!(matches!(
            verify_consistency(&seven, &three, &[]),
            Err(LogError::Forked(_))
        ));
    }

    #[test]
    fn proofs_with_bad_hashes_are_malformed_not_panics() {
        let all = leaves(8);
        let head = checkpoint(&all);
        assert_eq!(
            verify_inclusion(&all[0], 0, &[vec![1; 31]], &head),
            Err(LogError::MalformedProof)
        );
        assert_eq!(
            verify_inclusion(&all[0], 0, &vec![vec![0; 32]; PROOF_HASHES_MAX + 1], &head),
            Err(LogError::MalformedProof)
        );
    }

    #[test]
    fn a_leaf_round_trips_and_its_encoding_is_pinned() {
        let leaf = Leaf {
            kind: LeafKind::Photo,
            item_id: uuid::Uuid::from_bytes([0x11; 16]),
            server_seq: 258,
            received_at_ms: -1,
            sha256: [0xaa; 32],
            sm3: [0xbb; 32],
            device_id: "device-001".into(),
            officer_id: "执法员".into(),
            capture: None,
        };
        let bytes = leaf.encode();
        assert_eq!(&bytes[..2], &[1, 2]);
        assert_eq!(&bytes[18..26], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&bytes[26..34], &[0xff; 8]);
        assert_eq!(&bytes[98..100], &[0, 10]);
        assert_eq!(&bytes[110..112], &[0, 9]);
        assert_eq!(bytes.len(), 121);
        assert_eq!(Leaf::decode(&bytes).unwrap(), leaf);
        for cut in 0..bytes.len() {
            assert!(Leaf::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Leaf::decode(&longer).is_err());
        let mut unknown = bytes;
        unknown[1] = 99;
        assert!(Leaf::decode(&unknown).is_err());

        // With a capture signature: version 2, then scheme, statement and
        // signature, each length-prefixed.
        let signed = Leaf {
            capture: Some(LeafCapture {
                scheme: 0x0403,
                statement: vec![7; 5],
                signature: vec![8; 3],
            }),
            ..leaf
        };
        let bytes = signed.encode();
        assert_eq!(bytes[0], LEAF_VERSION_SIGNED);
        assert_eq!(&bytes[121..], &[0x04, 0x03, 0, 5, 7, 7, 7, 7, 7, 0, 3, 8, 8, 8]);
        assert_eq!(Leaf::decode(&bytes).unwrap(), signed);
        for cut in 0..bytes.len() {
            assert!(Leaf::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut unsigned_version = bytes;
        unsigned_version[0] = LEAF_VERSION;
        assert!(
            Leaf::decode(&unsigned_version).is_err(),
            "trailing capture in a v1 leaf"
        );
    }

    // The published signed-note vector of golang.org/x/mod/sumdb/note.
    const PETER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn the_published_signed_note_vector_verifies_and_a_changed_text_does_not() {
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        // Signature good, but the text is no checkpoint.
        assert!(matches!(
            open_checkpoint(note, PETER_KEY, "x"),
            Err(LogError::MalformedCheckpoint(_))
        ));
        let changed = note.replacen("cryptography", "cryptographY", 1);
        assert!(matches!(
            open_checkpoint(&changed, PETER_KEY, "x"),
            Err(LogError::BadSignature(_))
        ));
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_and_origin_only() {
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let signer = signed_note::StandardSigner::new(skey).unwrap();
        let root = mth(&leaves(3));
        let mut note = Note::new(&checkpoint_text("fieldlink.test/log", 3, &root).unwrap(), &[]).unwrap();
        note.add_sigs(&[&signer]).unwrap();
        let text = String::from_utf8(note.to_bytes()).unwrap();
        let opened = open_checkpoint(&text, PETER_KEY, "fieldlink.test/log").unwrap();
        assert_eq!((opened.size, opened.root), (3, root));
        assert!(matches!(
            open_checkpoint(&text, PETER_KEY, "another/log"),
            Err(LogError::WrongOrigin { .. })
        ));
        let (_, other_key) = signed_note::generate_key(&mut rand::rngs::OsRng, "PeterNeumann");
        assert!(open_checkpoint(&text, &other_key, "fieldlink.test/log").is_err());
    }
}
