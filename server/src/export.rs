//! The case export (`fieldlink-server export case`, the console's export
//! button): one package that anyone can check offline with `fieldlink
//! verify` or an independent verifier (docs/evidence-export.md).
//!
//! The export is itself a custody event and a leaf of the log, listing
//! exactly the items exported; a checkpoint covering it is signed, and every
//! item's inclusion proof is against that checkpoint. So a package missing
//! an item, or holding one more, no longer matches what the log says was
//! exported.

use std::io::Write;
use std::path::Path;

use fieldlink_protocol::export::{self as format, Capture, Entry, LogSection, Manifest};
use fieldlink_protocol::log::{Leaf, LeafKind};
use sha2::Digest;
use uuid::Uuid;

use crate::custody::{Accessor, Action};
use crate::evidence::blob_store::BlobStore;
use crate::storage::{Storage, StorageError};
use crate::transparency::LogSigner;
use crate::witness_client::{WitnessCallError, WitnessEndpoint};

/// Most items one package holds.
pub const EXPORT_ITEMS_MAX: usize = 100_000;

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The case id is not a valid case id.
    #[error("{0}")]
    BadCaseId(#[from] fieldlink_protocol::FieldError),
    /// Nothing is stored for the case.
    #[error("no items are stored for case {0}")]
    EmptyCase(String),
    /// More than [`EXPORT_ITEMS_MAX`] items.
    #[error("case {0} has more than {EXPORT_ITEMS_MAX} items; export it in parts")]
    TooManyItems(String),
    /// An item has no leaf (the audit names such items).
    #[error("item {0} has no leaf in the log; run `fieldlink-server audit`")]
    Unlogged(Uuid),
    /// A photo's original is not in the evidence store, or does not match.
    #[error("the original of photo {item_id} cannot be read: {detail}")]
    Original {
        /// The photo.
        item_id: Uuid,
        /// Why.
        detail: String,
    },
    /// The database cannot be read or written.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The package cannot be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The log key is unusable (or is the development key in production).
    #[error(transparent)]
    LogKey(#[from] crate::transparency::LogKeyError),
    /// The stored data cannot be opened.
    #[error(transparent)]
    Open(#[from] crate::stored_data::OpenError),
    /// A witness refused the log's checkpoint (it is not an extension of
    /// what the witness cosigned: the log was rewritten), or the
    /// configuration names an unusable witness.
    #[error("witness: {0}")]
    Witness(String),
}

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// The package file.
    pub file: String,
    /// The case.
    pub case_id: String,
    /// Items in it.
    pub items: usize,
    /// The export's custody event.
    pub export_event: String,
    /// The checkpoint the proofs are against.
    pub tree_size: u64,
    /// The package's size in bytes.
    pub bytes: u64,
    /// The witnesses (keys) whose cosignature the checkpoint carries.
    pub cosigned_by: Vec<String>,
    /// Witnesses (URLs) that could not be reached.
    pub witnesses_unreachable: Vec<String>,
}

/// One item to package: its entry (without its proof yet), its bytes and
/// the device certificate its capture signature is checked with.
struct Packed {
    entry: Entry,
    content: Content,
    certificate: Option<Vec<u8>>,
}

/// What a packed file holds: bytes at hand, or an original in the evidence
/// store, copied into the package a piece at a time (a video is never held
/// whole in memory).
enum Content {
    Bytes(Vec<u8>),
    Original {
        item_id: Uuid,
        sha256: [u8; 32],
        size_bytes: u64,
    },
}

/// Exports a case from `storage` (and the originals in `blobs`) into a
/// package written to `out` (through a temporary file beside it, renamed
/// when complete). `ca_pem` is the agency CA certificate, when known. The
/// checkpoint is sent to each of `witnesses` for its cosignature: one that
/// cannot be reached is named in the summary; one that refuses (the log is
/// not an extension of what it cosigned) stops the export.
#[allow(clippy::too_many_arguments)]
pub async fn export_case(
    storage: &dyn Storage,
    blobs: &BlobStore,
    signer: &LogSigner,
    witnesses: &mut [WitnessEndpoint],
    case_id: &str,
    requester: &Accessor,
    ca_pem: Option<&[u8]>,
    out: &Path,
) -> Result<ExportSummary, ExportError> {
    let case_id = fieldlink_protocol::validate::case_id("case_id", case_id)?;
    let mut packed = Vec::new();
    for id in case_item_ids(storage, &case_id).await? {
        if packed.len() == EXPORT_ITEMS_MAX {
            return Err(ExportError::TooManyItems(case_id));
        }
        packed.push(pack_item(storage, blobs, id).await?);
    }
    if packed.is_empty() {
        return Err(ExportError::EmptyCase(case_id));
    }
    packed.sort_by_key(|item| item.entry.leaf_index);

    let item_ids = packed.iter().map(|item| item.entry.item_id.clone()).collect();
    let custody = crate::custody::record(storage, requester, Action::Export, &case_id, item_ids).await?;
    let event_leaf = crate::storage::custody_leaf(custody.seq, &custody.bytes)?;
    let now_ms = event_leaf.received_at_ms;
    let event_id = event_leaf.item_id.to_string();
    let mut event_packed = Packed {
        entry: entry_of(&event_leaf, custody.leaf_index, format!("custody/{event_id}.pb")),
        content: Content::Bytes(custody.bytes),
        certificate: None,
    };
    let mut checkpoint =
        crate::transparency::checkpoint_covering(storage, signer, custody.leaf_index + 1, now_ms).await?;
    let (note, cosigned_by, witnesses_unreachable) =
        cosign(storage, signer, witnesses, &mut checkpoint, now_ms).await?;
    for item in packed.iter_mut().chain(std::iter::once(&mut event_packed)) {
        let proof =
            crate::transparency::inclusion_proof(storage, item.entry.leaf_index, checkpoint.tree_size)
                .await?;
        item.entry.proof = proof.iter().map(hex::encode).collect();
    }

    let manifest = Manifest {
        format: format::FORMAT.into(),
        case_id: case_id.clone(),
        exported_at_ms: now_ms,
        exported_by: requester.actor.clone(),
        log: LogSection {
            origin: signer.origin().to_owned(),
            tree_size: checkpoint.tree_size,
            root_sha256: hex::encode(checkpoint.root),
            checkpoint: format::CHECKPOINT_PATH.into(),
            public_key: format::LOG_KEY_PATH.into(),
            cosigned_by: cosigned_by.clone(),
        },
        export_event: event_packed.entry.clone(),
        items: packed.iter().map(|item| item.entry.clone()).collect(),
    };
    let bytes = write_package(
        out,
        blobs,
        &manifest,
        &packed,
        &event_packed,
        &note,
        signer,
        ca_pem,
    )?;
    Ok(ExportSummary {
        file: out.display().to_string(),
        case_id,
        items: packed.len(),
        export_event: event_id,
        tree_size: checkpoint.tree_size,
        bytes,
        cosigned_by,
        witnesses_unreachable,
    })
}

/// The checkpoint's note with every reachable witness's cosignature, the
/// witnesses that cosigned (their keys) and those that could not be
/// reached. A witness that has cosigned a larger tree gets a checkpoint
/// signed now (the log has grown meanwhile), once.
async fn cosign(
    storage: &dyn Storage,
    signer: &LogSigner,
    witnesses: &mut [WitnessEndpoint],
    checkpoint: &mut crate::storage::StoredCheckpoint,
    now_ms: i64,
) -> Result<(String, Vec<String>, Vec<String>), ExportError> {
    if witnesses.is_empty() {
        return Ok((checkpoint.note.clone(), Vec::new(), Vec::new()));
    }
    let http = crate::witness_client::http_client().map_err(ExportError::Witness)?;
    for attempt in 0..2 {
        let mut notes = Vec::new();
        let mut cosigned_by = Vec::new();
        let mut unreachable = Vec::new();
        let mut behind = false;
        for witness in witnesses.iter_mut() {
            match crate::witness_client::cosign(&http, witness, storage, checkpoint).await {
                Ok(note) => {
                    notes.push(note);
                    cosigned_by.push(witness.key.clone());
                }
                Err(WitnessCallError::Unreachable { url, detail }) => {
                    tracing::warn!(%url, %detail, "witness unreachable; exporting without its cosignature");
                    unreachable.push(url);
                }
                Err(WitnessCallError::Behind { .. }) if attempt == 0 => behind = true,
                Err(error) => return Err(ExportError::Witness(error.to_string())),
            }
        }
        if behind {
            *checkpoint = crate::transparency::sign_now(storage, signer, now_ms).await?;
            continue;
        }
        let note = fieldlink_protocol::cosignature::merge(&checkpoint.note, &notes)
            .map_err(|e| ExportError::Witness(e.to_string()))?;
        return Ok((note, cosigned_by, unreachable));
    }
    Err(ExportError::Witness(
        "the witnesses keep holding larger trees".into(),
    ))
}

/// The case's items, and the photos its records list or that name its
/// records (a photo sent without the case id still belongs to it).
async fn case_item_ids(storage: &dyn Storage, case_id: &str) -> Result<Vec<Uuid>, StorageError> {
    let mut ids = Vec::new();
    for row in storage
        .case_items(case_id, &crate::storage::CasePage::ALL)
        .await?
    {
        ids.push(row.receipt.item_id);
        if row.kind == "inspection" {
            let links = storage.record_links(row.receipt.item_id).await?;
            let photos = links
                .listed
                .iter()
                .chain(links.naming.iter().map(|(id, _, _)| id));
            for photo in photos.filter_map(|id| Uuid::parse_str(id).ok()) {
                if storage.photo(photo).await?.is_some() {
                    ids.push(photo);
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn pack_item(storage: &dyn Storage, blobs: &BlobStore, item_id: Uuid) -> Result<Packed, ExportError> {
    let (index, data) = storage
        .log_leaf(item_id)
        .await?
        .ok_or(ExportError::Unlogged(item_id))?;
    let leaf = Leaf::decode(&data).map_err(|e| StorageError::Corrupt(format!("leaf {index}: {e}")))?;
    let item = storage
        .item(item_id)
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("item {item_id} has a leaf but no row")))?;
    let original_error = |detail: String| ExportError::Original { item_id, detail };
    let (content, extension) = if leaf.kind == LeafKind::Photo {
        // Its size and type from its row; its bytes are read once, when
        // they are copied into the package (and hashed again there).
        let photo = storage
            .photo(item_id)
            .await?
            .ok_or_else(|| original_error("no photo row".into()))?;
        if !blobs
            .contains(&leaf.sha256)
            .map_err(|error| original_error(error.to_string()))?
        {
            return Err(original_error("it is not in the evidence store".into()));
        }
        let extension = fieldlink_protocol::photo::ContentType::from_mime(&photo.index.content_type)
            .map_or("bin", |format| format.extension());
        let content = Content::Original {
            item_id,
            sha256: leaf.sha256,
            size_bytes: photo.index.size_bytes,
        };
        (content, extension)
    } else {
        (Content::Bytes(item.body), "pb")
    };
    let file = format!("items/{index:08}-{}-{item_id}.{extension}", leaf.kind.name());
    let mut entry = entry_of(&leaf, index, file);
    let certificate = match (&leaf.capture, item.capture) {
        (Some(logged), Some(stored)) => {
            entry.capture = Some(Capture {
                scheme: logged.scheme,
                statement: hex::encode(&logged.statement),
                signature: hex::encode(&logged.signature),
                certificate: format!(
                    "certs/devices/{}.der",
                    hex::encode(sha2::Sha256::digest(&stored.certificate))
                ),
            });
            Some(stored.certificate)
        }
        _ => None,
    };
    Ok(Packed {
        entry,
        content,
        certificate,
    })
}

fn entry_of(leaf: &Leaf, leaf_index: u64, file: String) -> Entry {
    Entry {
        item_id: leaf.item_id.to_string(),
        kind: leaf.kind.name().into(),
        leaf_index,
        server_seq: leaf.server_seq,
        received_at_ms: leaf.received_at_ms,
        device_id: leaf.device_id.clone(),
        officer_id: leaf.officer_id.clone(),
        sha256: hex::encode(leaf.sha256),
        sm3: hex::encode(leaf.sm3),
        file,
        proof: Vec::new(),
        capture: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn write_package(
    out: &Path,
    blobs: &BlobStore,
    manifest: &Manifest,
    items: &[Packed],
    event: &Packed,
    checkpoint_note: &str,
    signer: &LogSigner,
    ca_pem: Option<&[u8]>,
) -> Result<u64, ExportError> {
    let write_error = |error| ExportError::Write {
        path: out.display().to_string(),
        error,
    };
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| write_error(std::io::Error::other(e)))?;
    let index = crate::export_index::render(manifest);
    let key = format!("{}\n", signer.verifier_key());
    let mut files: Vec<(&str, Source)> = vec![
        (format::MANIFEST_PATH, Source::Bytes(&json)),
        (format::CHECKPOINT_PATH, Source::Bytes(checkpoint_note.as_bytes())),
        (format::LOG_KEY_PATH, Source::Bytes(key.as_bytes())),
        (format::INDEX_PATH, Source::Bytes(index.as_bytes())),
    ];
    if let Some(ca) = ca_pem {
        files.push((format::CA_PATH, Source::Bytes(ca)));
    }
    files.push((&event.entry.file, Source::of(&event.content)));
    let mut certificates = std::collections::BTreeSet::new();
    for item in items {
        if let (Some(capture), Some(der)) = (&item.entry.capture, &item.certificate) {
            if certificates.insert(capture.certificate.as_str()) {
                files.push((&capture.certificate, Source::Bytes(der)));
            }
        }
    }
    files.extend(
        items
            .iter()
            .map(|item| (item.entry.file.as_str(), Source::of(&item.content))),
    );

    let temp = out.with_extension(format!("partial-{}", rand::random::<u32>()));
    let written = (|| -> Result<u64, ExportError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(write_error)?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        for (path, source) in files {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o444);
            header.set_mtime(u64::try_from(manifest.exported_at_ms / 1000).unwrap_or(0));
            header.set_entry_type(tar::EntryType::Regular);
            match source {
                Source::Bytes(bytes) => {
                    header.set_size(bytes.len() as u64);
                    tar.append_data(&mut header, path, bytes).map_err(write_error)?;
                }
                Source::Original {
                    item_id,
                    sha256,
                    size_bytes,
                } => {
                    // The one read of the original: hashed as it is copied,
                    // so the package holds what its name says, or the
                    // export fails.
                    let original_error = |detail: String| ExportError::Original { item_id, detail };
                    header.set_size(size_bytes);
                    let mut reader = HashingReader {
                        inner: blobs.reader(&sha256).map_err(|e| original_error(e.to_string()))?,
                        sha256: sha2::Sha256::new(),
                    };
                    tar.append_data(&mut header, path, &mut reader)
                        .map_err(write_error)?;
                    if <[u8; 32]>::from(reader.sha256.finalize()) != sha256 {
                        return Err(original_error("it does not hash to its name".into()));
                    }
                }
            }
        }
        let mut writer = tar.into_inner().map_err(write_error)?;
        writer.flush().map_err(write_error)?;
        let file = writer.into_inner().map_err(|e| write_error(e.into_error()))?;
        file.sync_all().map_err(write_error)?;
        let length = file.metadata().map_err(write_error)?.len();
        std::fs::rename(&temp, out).map_err(write_error)?;
        Ok(length)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Exports a case from the data `config` names (a command, not the
/// running server: it may run beside it).
pub async fn export_data(
    config: &crate::Config,
    case_id: &str,
    actor: &str,
    out: &Path,
) -> Result<ExportSummary, ExportError> {
    let signer = LogSigner::load(&config.log_key_file()?, &config.log_origin, config.dev)?;
    let ca_pem = config
        .tls_files()
        .ok()
        .and_then(|files| std::fs::read(files.ca).ok());
    let mut witnesses = crate::witness_client::endpoints(&config.witnesses).map_err(ExportError::Witness)?;
    let (storage, evidence) = crate::stored_data::open(config).await?;
    let requester = Accessor {
        actor: actor.to_owned(),
        origin: "fieldlink-server export".into(),
    };
    let summary = export_case(
        storage.as_ref(),
        &evidence.blobs,
        &signer,
        &mut witnesses,
        case_id,
        &requester,
        ca_pem.as_deref(),
        out,
    )
    .await;
    storage.close().await;
    summary
}

/// A file of the package: bytes at hand, or an original to copy.
enum Source<'a> {
    Bytes(&'a [u8]),
    Original {
        item_id: Uuid,
        sha256: [u8; 32],
        size_bytes: u64,
    },
}

impl<'a> Source<'a> {
    fn of(content: &'a Content) -> Self {
        match content {
            Content::Bytes(bytes) => Source::Bytes(bytes),
            Content::Original {
                item_id,
                sha256,
                size_bytes,
            } => Source::Original {
                item_id: *item_id,
                sha256: *sha256,
                size_bytes: *size_bytes,
            },
        }
    }
}

/// Hashes what passes through.
struct HashingReader {
    inner: Box<dyn std::io::Read + Send>,
    sha256: sha2::Sha256,
}

impl std::io::Read for HashingReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(out)?;
        self.sha256.update(&out[..read]);
        Ok(read)
    }
}
