//! The transparency log's key, checkpoints and proofs.
//!
//! Leaves are appended by storage in each commit's transaction
//! ([`crate::storage::LogStore`]); this module signs checkpoints over them
//! (C2SP tlog-checkpoint notes, Ed25519 via `signed_note`) and answers
//! inclusion and consistency proofs from the stored subtree hashes
//! (`tlog_tiles`). The signer task (`checkpoint_signer`) signs at most once a
//! second, and only when the log grew; a proof for a leaf newer than the
//! newest checkpoint signs one on the spot.

use std::cell::RefCell;
use std::path::Path;

use signed_note::{Note, Signer, StandardSigner};
use tlog_tiles::{Hash, HashReader};

use crate::storage::{LogStore, StorageError, StoredCheckpoint};

/// The development log key's verifier key (certs-dev/log.pub): a server not
/// in development mode refuses to sign with it.
pub const DEV_VERIFIER_KEY: &str = include_str!("../../certs-dev/log.pub");

/// Why the log key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogKeyError {
    /// The key file cannot be read.
    #[error("cannot read the log key {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file does not hold a signed-note Ed25519 private key.
    #[error("the log key {0} is not a signed-note Ed25519 private key (PRIVATE+KEY+name+id+base64)")]
    Malformed(String),
    /// The development key, outside development mode.
    #[error("the log key {0} is the development key (certs-dev/log.key); production needs its own (fieldlink-server log-key)")]
    DevelopmentKey(String),
}

/// Signs the log's checkpoints.
pub struct LogSigner {
    signer: StandardSigner,
    verifier_key: String,
    origin: String,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("verifier_key", &self.verifier_key)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    /// Loads the private key in `path`; `dev` allows the development key.
    pub fn load(path: &Path, origin: &str, dev: bool) -> Result<Self, LogKeyError> {
        let text = std::fs::read_to_string(path).map_err(|error| LogKeyError::Read {
            path: path.display().to_string(),
            error,
        })?;
        let signer = Self::from_key(text.trim(), origin)
            .ok_or_else(|| LogKeyError::Malformed(path.display().to_string()))?;
        if !dev && signer.verifier_key == DEV_VERIFIER_KEY.trim() {
            return Err(LogKeyError::DevelopmentKey(path.display().to_string()));
        }
        Ok(signer)
    }

    /// A signer from a private key's text.
    pub fn from_key(private_key: &str, origin: &str) -> Option<Self> {
        let signer = StandardSigner::new(private_key).ok()?;
        let verifier_key = verifier_key_of(private_key)?;
        Some(Self {
            signer,
            verifier_key,
            origin: origin.to_owned(),
        })
    }

    /// The verifier key (`name+id+base64`) terminals and verifiers check
    /// checkpoints with.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The log's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The signed checkpoint note for a tree.
    pub fn sign(&self, size: u64, root: &[u8; 32]) -> Result<String, StorageError> {
        let text = fieldlink_protocol::log::checkpoint_text(&self.origin, size, root)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let mut note = Note::new(&text, &[]).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        note.add_sigs(&[&self.signer as &dyn Signer])
            .map_err(|e| StorageError::Corrupt(format!("signing the checkpoint: {e}")))?;
        String::from_utf8(note.to_bytes()).map_err(|e| StorageError::Corrupt(e.to_string()))
    }
}

/// The verifier key of a signed-note Ed25519 private key.
fn verifier_key_of(private_key: &str) -> Option<String> {
    use base64::Engine;
    let mut parts = private_key.splitn(5, '+');
    let (_, _, name, _, key) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let bytes = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
    let seed: [u8; 32] = bytes.get(1..)?.try_into().ok()?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    Some(signed_note::new_ed25519_verifier_key(
        name,
        &signing.verifying_key(),
    ))
}

/// A new key pair for a log named `name`: (private key, verifier key).
pub fn generate_key(name: &str) -> (String, String) {
    signed_note::generate_key(&mut rand::rngs::OsRng, name)
}

/// Stored hashes for the tlog functions: first recording which ones they
/// ask for, then answering from what storage returned.
enum Hashes {
    Recording(RefCell<Vec<u64>>),
    Read(Vec<u64>, Vec<[u8; 32]>),
}

impl HashReader for Hashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        match self {
            Hashes::Recording(asked) => {
                asked.borrow_mut().extend_from_slice(indexes);
                Err(tlog_tiles::Error::IndexesNotInTree)
            }
            Hashes::Read(known, hashes) => indexes
                .iter()
                .map(|index| {
                    known
                        .iter()
                        .position(|k| k == index)
                        .map(|at| Hash(hashes[at]))
                        .ok_or(tlog_tiles::Error::IndexesNotInTree)
                })
                .collect(),
        }
    }
}

/// Runs `compute` against the stored hashes, reading from storage the ones
/// it asks for (each tlog function used here asks once).
async fn with_hashes<T>(
    storage: &dyn LogStore,
    compute: impl Fn(&Hashes) -> Result<T, tlog_tiles::Error>,
) -> Result<T, StorageError> {
    let indexes = {
        let recording = Hashes::Recording(RefCell::new(Vec::new()));
        let first = compute(&recording);
        let Hashes::Recording(asked) = recording else {
            return Err(StorageError::Corrupt("log proof: reader changed".into()));
        };
        match first {
            Ok(value) => return Ok(value),
            Err(error) => {
                let asked = asked.into_inner();
                if asked.is_empty() {
                    return Err(StorageError::Corrupt(format!("log proof: {error}")));
                }
                asked
            }
        }
    };
    let hashes = storage.log_hashes(&indexes).await?;
    compute(&Hashes::Read(indexes, hashes)).map_err(|e| StorageError::Corrupt(format!("log proof: {e}")))
}

/// The root hash of the first `size` leaves.
pub async fn root_at(storage: &dyn LogStore, size: u64) -> Result<[u8; 32], StorageError> {
    with_hashes(storage, |hashes| tlog_tiles::tree_hash(size, hashes))
        .await
        .map(|hash| hash.0)
}

/// The audit path of leaf `index` in the tree of `size` leaves.
pub async fn inclusion_proof(
    storage: &dyn LogStore,
    index: u64,
    size: u64,
) -> Result<Vec<[u8; 32]>, StorageError> {
    with_hashes(storage, |hashes| tlog_tiles::prove_record(size, index, hashes))
        .await
        .map(|proof| proof.into_iter().map(|hash| hash.0).collect())
}

/// The proof that the tree of `new_size` leaves extends the one of `old_size`.
pub async fn consistency_proof(
    storage: &dyn LogStore,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<[u8; 32]>, StorageError> {
    if old_size == new_size {
        return Ok(Vec::new());
    }
    with_hashes(storage, |hashes| {
        tlog_tiles::prove_tree(new_size, old_size, hashes)
    })
    .await
    .map(|proof| proof.into_iter().map(|hash| hash.0).collect())
}

/// The newest checkpoint covering at least `size` leaves: the stored one
/// if it does, else a new one over the whole log, signed now.
pub async fn checkpoint_covering(
    storage: &dyn LogStore,
    signer: &LogSigner,
    size: u64,
    now_ms: i64,
) -> Result<StoredCheckpoint, StorageError> {
    if let Some(latest) = storage.latest_checkpoint().await? {
        if latest.tree_size >= size {
            return Ok(latest);
        }
    }
    sign_now(storage, signer, now_ms).await
}

/// The checkpoint to prove against for a tree of at least `size` leaves:
/// the newest one a witness cosigned if it is large enough, else
/// [`checkpoint_covering`]; its note carries every stored cosignature.
pub async fn witnessed_covering(
    storage: &dyn LogStore,
    signer: &LogSigner,
    size: u64,
    now_ms: i64,
) -> Result<StoredCheckpoint, StorageError> {
    let cosigned = match storage.latest_cosigned_size().await? {
        Some(cosigned) if cosigned >= size => storage.checkpoint_at(cosigned).await?,
        _ => None,
    };
    let checkpoint = match cosigned {
        Some(checkpoint) => checkpoint,
        None => checkpoint_covering(storage, signer, size, now_ms).await?,
    };
    with_cosignatures(storage, checkpoint).await
}

/// `checkpoint` with the cosignature lines of every witness that cosigned it.
pub async fn with_cosignatures(
    storage: &dyn LogStore,
    mut checkpoint: StoredCheckpoint,
) -> Result<StoredCheckpoint, StorageError> {
    let cosigned = storage.cosignatures(checkpoint.tree_size).await?;
    if !cosigned.is_empty() {
        checkpoint.note = fieldlink_protocol::cosignature::merge(&checkpoint.note, &cosigned)
            .map_err(|e| StorageError::Corrupt(format!("a stored cosignature: {e}")))?;
    }
    Ok(checkpoint)
}

/// Signs a checkpoint of the log as it is now and stores it.
pub async fn sign_now(
    storage: &dyn LogStore,
    signer: &LogSigner,
    now_ms: i64,
) -> Result<StoredCheckpoint, StorageError> {
    let size = storage.log_size().await?;
    let root = root_at(storage, size).await?;
    let checkpoint = StoredCheckpoint {
        tree_size: size,
        root,
        note: signer.sign(size, &root)?,
        signed_at_ms: now_ms,
    };
    storage.store_checkpoint(&checkpoint).await?;
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certs_dev() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev")
    }

    #[test]
    fn the_verifier_key_is_derived_as_published() {
        // The signed-note vector of golang.org/x/mod/sumdb/note.
        let private = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let signer = LogSigner::from_key(private, "x").unwrap();
        assert_eq!(
            signer.verifier_key(),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        assert!(LogSigner::from_key("PRIVATE+KEY+x+00000000+AAAA", "x").is_none());
    }

    #[test]
    fn production_refuses_the_development_key() {
        let key = certs_dev().join("log.key");
        assert!(matches!(
            LogSigner::load(&key, "fieldlink.local/evidence", false),
            Err(LogKeyError::DevelopmentKey(_))
        ));
        let dev = LogSigner::load(&key, "fieldlink.local/evidence", true).unwrap();
        assert_eq!(dev.verifier_key(), DEV_VERIFIER_KEY.trim());
        let garbage = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(garbage.path(), "not a key").unwrap();
        assert!(matches!(
            LogSigner::load(garbage.path(), "o", true),
            Err(LogKeyError::Malformed(_))
        ));
        let (private, _) = generate_key("zfj.example");
        std::fs::write(garbage.path(), private).unwrap();
        assert!(LogSigner::load(garbage.path(), "o", false).is_ok());
    }

    #[test]
    fn a_signed_checkpoint_opens_with_the_verifier_key() {
        let signer = LogSigner::load(&certs_dev().join("log.key"), "fieldlink.local/evidence", true).unwrap();
        let note = signer.sign(7, &[5; 32]).unwrap();
        let opened = fieldlink_protocol::log::open_checkpoint(
            &note,
            DEV_VERIFIER_KEY.trim(),
            "fieldlink.local/evidence",
        )
        .unwrap();
        assert_eq!((opened.size, opened.root), (7, [5; 32]));
        let (_, other) = generate_key("fieldlink-dev");
        assert!(fieldlink_protocol::log::open_checkpoint(&note, &other, "fieldlink.local/evidence").is_err());
    }
}
