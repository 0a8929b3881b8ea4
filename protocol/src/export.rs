//! The case export package: what it holds and how it is checked offline.
//!
//! A package is a POSIX tar file (docs/evidence-export.md) holding every
//! item's bytes exactly as received, a manifest naming each item's leaf and
//! inclusion proof, one signed checkpoint, the log's verifier key, and the
//! export's own custody event (a leaf too, listing exactly the items
//! exported, so that an item dropped from the package is caught). This
//! module has the manifest's types and the checks; reading the tar and
//! hashing its files is the caller's (the SDK's `evidence_export`), so that
//! a file of any size is hashed as it streams by.

use std::collections::BTreeMap;

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::capture::{self, CaptureStatement};
use crate::log::{self, Leaf, LeafCapture, LeafKind};
use crate::pb;

/// The format name a manifest carries.
pub const FORMAT: &str = "fieldlink-evidence-export/1";
/// The manifest's path in the package.
pub const MANIFEST_PATH: &str = "manifest.json";
/// The signed checkpoint's path.
pub const CHECKPOINT_PATH: &str = "checkpoint.txt";
/// The log verifier key's path.
pub const LOG_KEY_PATH: &str = "log.pub";
/// The human-readable index's path.
pub const INDEX_PATH: &str = "index.html";
/// The agency CA certificate's path (PEM), when the exporter had it.
pub const CA_PATH: &str = "certs/ca.pem";
/// The custody action an export event names.
pub const EXPORT_ACTION: &str = "export";

/// The package's table of contents (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The case exported.
    pub case_id: String,
    /// When the package was made, ms since the Unix epoch.
    pub exported_at_ms: i64,
    /// Who made it (as the export event names them).
    pub exported_by: String,
    /// The checkpoint every proof leads to.
    pub log: LogSection,
    /// The export's own custody event (kind `custody`).
    pub export_event: Entry,
    /// The items, in leaf order.
    pub items: Vec<Entry>,
}

/// The log the proofs are against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSection {
    /// The log's origin line.
    pub origin: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Its root hash, lowercase hex.
    pub root_sha256: String,
    /// The signed checkpoint's path ([`CHECKPOINT_PATH`]).
    pub checkpoint: String,
    /// The verifier key's path ([`LOG_KEY_PATH`]).
    pub public_key: String,
    /// The cosignature verifier keys of the witnesses whose cosignatures
    /// the checkpoint carries (informative: a verifier checks the witnesses
    /// it trusts).
    #[serde(default)]
    pub cosigned_by: Vec<String>,
}

/// One logged item in the package: the fields of its leaf, its file and its
/// inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The item's id.
    pub item_id: String,
    /// Its kind's name (`inspection`, `photo`, …, `custody`).
    pub kind: String,
    /// Its leaf's index.
    pub leaf_index: u64,
    /// The server's sequence number for it.
    pub server_seq: u64,
    /// When the server stored it, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// The device that sent it (a custody event: where it came from).
    pub device_id: String,
    /// The officer who sent it (a custody event: who did it).
    pub officer_id: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// SM3 of the file, lowercase hex.
    pub sm3: String,
    /// The file's path in the package: the item's bytes as received.
    pub file: String,
    /// The inclusion proof up to the checkpoint, lowercase hex, bottom-up.
    pub proof: Vec<String>,
    /// The device's capture signature, when the item came with one (it is
    /// part of the leaf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<Capture>,
}

/// A device capture signature in a package (docs/protocol.md §10b).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// The TLS SignatureScheme code (1027 = 0x0403 ECDSA P-256 SHA-256,
    /// 2055 = 0x0807 Ed25519).
    pub scheme: u16,
    /// The capture statement as signed, lowercase hex.
    pub statement: String,
    /// The signature, lowercase hex.
    pub signature: String,
    /// The device certificate's path in the package (DER).
    pub certificate: String,
}

/// What the reader learnt of one file of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// SM3 of its bytes.
    pub sm3: [u8; 32],
    /// Its bytes, when small enough to be kept ([`KEPT_FILE_MAX`]).
    pub bytes: Option<Vec<u8>>,
}

/// Files up to this size are kept in memory by readers (the manifest, the
/// checkpoint, keys, certificates, custody events, records).
pub const KEPT_FILE_MAX: usize = 4 << 20;

/// One check that failed, naming the item (or file) and what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The item concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// The file concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Which check: `manifest`, `log_key`, `checkpoint`, `missing_file`,
    /// `extra_file`, `digest`, `proof`, `export_event`, `cosignature`, `capture` (the
    /// statement does not describe the item), `capture_signature`,
    /// `certificate`.
    pub check: &'static str,
    /// What was found.
    pub detail: String,
}

/// The verifier's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// True when every check passed.
    pub ok: bool,
    /// The case, as the manifest names it.
    pub case_id: String,
    /// Items checked (not counting the export event).
    pub items: usize,
    /// Items whose device capture signature verified.
    pub device_signed: usize,
    /// The checkpoint's origin, size and root (hex), as signed.
    pub checkpoint: Option<CheckpointSummary>,
    /// The verifier key the checkpoint was checked with.
    pub log_key: String,
    /// The witnesses (verifier keys) whose required cosignature verified.
    pub cosigned_by: Vec<String>,
    /// Whether device certificates were checked against a CA the verifier
    /// trusts (else against the package's own `certs/ca.pem`).
    pub ca_trusted: bool,
    /// Every failed check; empty when `ok`.
    pub failures: Vec<Failure>,
}

/// The checkpoint a package proves against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointSummary {
    /// The log's origin.
    pub origin: String,
    /// Its size.
    pub tree_size: u64,
    /// Its root, hex.
    pub root_sha256: String,
}

/// What the verifier trusts, obtained apart from the package.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    /// The log's verifier key; without it the package's own `log.pub` is
    /// used, which proves only that the package is self-consistent.
    pub log_key: Option<&'a str>,
    /// Witnesses (cosignature verifier keys) whose cosignature the
    /// checkpoint must carry.
    pub witness_keys: &'a [String],
    /// The agency CA certificate (PEM) device certificates must chain to;
    /// without it, the package's `certs/ca.pem`.
    pub ca_pem: Option<&'a [u8]>,
}

/// Checks a package whose files are `files` (path → facts) against `trust`.
pub fn verify(files: &BTreeMap<String, FileFacts>, trust: &Trust<'_>) -> Summary {
    let trusted_log_key = trust.log_key;
    let witness_keys = trust.witness_keys;
    let mut summary = Summary {
        ok: false,
        case_id: String::new(),
        items: 0,
        device_signed: 0,
        checkpoint: None,
        log_key: String::new(),
        cosigned_by: Vec::new(),
        ca_trusted: trust.ca_pem.is_some(),
        failures: Vec::new(),
    };
    let fail = |summary: &mut Summary, item: Option<&str>, file: Option<&str>, check, detail: String| {
        summary.failures.push(Failure {
            item_id: item.map(str::to_owned),
            file: file.map(str::to_owned),
            check,
            detail,
        });
    };
    let manifest = match kept_text(files, MANIFEST_PATH).and_then(|text| {
        serde_json::from_str::<Manifest>(&text).map_err(|error| format!("not a manifest: {error}"))
    }) {
        Ok(manifest) if manifest.format == FORMAT => manifest,
        Ok(manifest) => {
            let detail = format!("format {:?}, expected {FORMAT:?}", manifest.format);
            fail(&mut summary, None, Some(MANIFEST_PATH), "manifest", detail);
            return summary;
        }
        Err(detail) => {
            fail(&mut summary, None, Some(MANIFEST_PATH), "manifest", detail);
            return summary;
        }
    };
    summary.case_id = manifest.case_id.clone();
    summary.items = manifest.items.len();

    // The key: the trusted one, and the package's must be it.
    let packaged_key = kept_text(files, &manifest.log.public_key).map(|key| key.trim().to_owned());
    let key = match (trusted_log_key.map(str::trim), packaged_key) {
        (Some(trusted), Ok(packaged)) if trusted != packaged => {
            let detail = format!("the package's log key {packaged:?} is not the trusted key {trusted:?}");
            fail(
                &mut summary,
                None,
                Some(&manifest.log.public_key),
                "log_key",
                detail,
            );
            trusted.to_owned()
        }
        (Some(trusted), _) => trusted.to_owned(),
        (None, Ok(packaged)) => packaged,
        (None, Err(detail)) => {
            fail(
                &mut summary,
                None,
                Some(&manifest.log.public_key),
                "log_key",
                detail,
            );
            return summary;
        }
    };
    summary.log_key = key.clone();

    let checkpoint = match kept_text(files, &manifest.log.checkpoint)
        .and_then(|note| log::open_checkpoint(&note, &key, &manifest.log.origin).map_err(|e| e.to_string()))
    {
        Ok(checkpoint) => checkpoint,
        Err(detail) => {
            fail(
                &mut summary,
                None,
                Some(&manifest.log.checkpoint),
                "checkpoint",
                detail,
            );
            return summary;
        }
    };
    if checkpoint.size != manifest.log.tree_size || hex::encode(checkpoint.root) != manifest.log.root_sha256 {
        let detail = format!(
            "the signed checkpoint is of {} leaves, root {}; the manifest says {}, {}",
            checkpoint.size,
            hex::encode(checkpoint.root),
            manifest.log.tree_size,
            manifest.log.root_sha256
        );
        fail(
            &mut summary,
            None,
            Some(&manifest.log.checkpoint),
            "checkpoint",
            detail,
        );
    }
    for witness in witness_keys {
        if let Err(error) = crate::cosignature::check_cosigned(&checkpoint.note, witness) {
            fail(
                &mut summary,
                None,
                Some(&manifest.log.checkpoint),
                "cosignature",
                error.to_string(),
            );
        } else {
            summary.cosigned_by.push(witness.trim().to_owned());
        }
    }
    summary.checkpoint = Some(CheckpointSummary {
        origin: checkpoint.origin.clone(),
        tree_size: checkpoint.size,
        root_sha256: hex::encode(checkpoint.root),
    });

    for entry in std::iter::once(&manifest.export_event).chain(&manifest.items) {
        for (check, detail) in check_entry(files, entry, &checkpoint) {
            fail(
                &mut summary,
                Some(&entry.item_id),
                Some(&entry.file),
                check,
                detail,
            );
        }
        if let Some(capture) = &entry.capture {
            let failures = check_capture(files, entry, capture, trust.ca_pem);
            if failures.is_empty() {
                summary.device_signed += 1;
            }
            for (check, detail) in failures {
                let file = Some(capture.certificate.as_str());
                fail(&mut summary, Some(&entry.item_id), file, check, detail);
            }
        }
    }
    for detail in check_export_event(files, &manifest) {
        let event = &manifest.export_event;
        fail(
            &mut summary,
            Some(&event.item_id),
            Some(&event.file),
            "export_event",
            detail,
        );
    }
    let named: Vec<&str> = [MANIFEST_PATH, INDEX_PATH, CA_PATH]
        .into_iter()
        .chain([manifest.log.checkpoint.as_str(), manifest.log.public_key.as_str()])
        .chain(
            std::iter::once(&manifest.export_event)
                .chain(&manifest.items)
                .map(|e| e.file.as_str()),
        )
        .chain(
            manifest
                .items
                .iter()
                .filter_map(|e| e.capture.as_ref())
                .map(|c| c.certificate.as_str()),
        )
        .collect();
    for path in files.keys().filter(|path| !named.contains(&path.as_str())) {
        let detail = "a file the manifest does not name".to_owned();
        fail(&mut summary, None, Some(path), "extra_file", detail);
    }
    summary.ok = summary.failures.is_empty();
    summary
}

/// The checks of one entry: its file is there with the digests the
/// manifest gives, and the leaf those fields make is in the checkpoint's tree.
fn check_entry(
    files: &BTreeMap<String, FileFacts>,
    entry: &Entry,
    checkpoint: &log::Checkpoint,
) -> Vec<(&'static str, String)> {
    let mut failures = Vec::new();
    match files.get(&entry.file) {
        None => failures.push((
            "missing_file",
            "the manifest names it; the package lacks it".into(),
        )),
        Some(facts) => {
            for (name, actual, listed) in [
                ("SHA-256", &facts.sha256, &entry.sha256),
                ("SM3", &facts.sm3, &entry.sm3),
            ] {
                if hex::encode(actual) != *listed {
                    let detail = format!(
                        "the file's {name} is {}; the logged one is {listed}",
                        hex::encode(actual)
                    );
                    failures.push(("digest", detail));
                }
            }
        }
    }
    let leaf = match leaf_of(entry) {
        Ok(leaf) => leaf,
        Err(detail) => {
            failures.push(("manifest", detail));
            return failures;
        }
    };
    let proof: Result<Vec<Vec<u8>>, String> = entry.proof.iter().map(|hash| unhex(hash)).collect();
    let checked = proof.and_then(|proof| {
        log::verify_inclusion(&leaf.encode(), entry.leaf_index, &proof, checkpoint).map_err(|e| e.to_string())
    });
    if let Err(detail) = checked {
        failures.push((
            "proof",
            format!(
                "leaf {} is not in the signed checkpoint's tree: {detail}",
                entry.leaf_index
            ),
        ));
    }
    failures
}

/// The leaf an entry's fields make.
fn leaf_of(entry: &Entry) -> Result<Leaf, String> {
    let digest = |text: &str| -> Result<[u8; 32], String> {
        unhex(text)?
            .try_into()
            .map_err(|_| format!("{text:?} is not a 32-byte digest"))
    };
    Ok(Leaf {
        kind: LeafKind::from_item_kind(&entry.kind)
            .ok_or_else(|| format!("unknown kind {:?}", entry.kind))?,
        item_id: uuid::Uuid::parse_str(&entry.item_id).map_err(|_| "the item id is not a UUID".to_owned())?,
        server_seq: entry.server_seq,
        received_at_ms: entry.received_at_ms,
        sha256: digest(&entry.sha256)?,
        sm3: digest(&entry.sm3)?,
        device_id: entry.device_id.clone(),
        officer_id: entry.officer_id.clone(),
        capture: entry
            .capture
            .as_ref()
            .map(|capture| -> Result<LeafCapture, String> {
                Ok(LeafCapture {
                    scheme: capture.scheme,
                    statement: unhex(&capture.statement)?,
                    signature: unhex(&capture.signature)?,
                })
            })
            .transpose()?,
    })
}

/// The checks of a device capture signature: the statement describes this
/// item (kind, id, digests, device, officer), the signature verifies with
/// the device certificate, and the certificate was issued by the package's
/// CA and valid at capture time.
fn check_capture(
    files: &BTreeMap<String, FileFacts>,
    entry: &Entry,
    capture: &Capture,
    trusted_ca_pem: Option<&[u8]>,
) -> Vec<(&'static str, String)> {
    let mut failures = Vec::new();
    let (statement_bytes, signature) = match (unhex(&capture.statement), unhex(&capture.signature)) {
        (Ok(statement), Ok(signature)) => (statement, signature),
        _ => return vec![("capture", "the statement or signature is not hex".into())],
    };
    let statement = match CaptureStatement::decode(&statement_bytes) {
        Ok(statement) => statement,
        Err(error) => return vec![("capture", error.to_string())],
    };
    let describes = statement.kind.name() == entry.kind
        && statement.item_id.to_string() == entry.item_id
        && hex::encode(statement.sha256) == entry.sha256
        && hex::encode(statement.sm3) == entry.sm3
        && statement.device_id == entry.device_id
        && statement.officer_id == entry.officer_id;
    if !describes {
        failures.push((
            "capture",
            "the signed statement describes another item, bytes, device or officer".into(),
        ));
    }
    let Some(certificate) = files.get(&capture.certificate).and_then(|f| f.bytes.as_deref()) else {
        failures.push((
            "certificate",
            "the device certificate is not in the package".into(),
        ));
        return failures;
    };
    if let Err(error) = capture::verify_signature(certificate, capture.scheme, &statement_bytes, &signature) {
        failures.push(("capture_signature", error.to_string()));
    }
    let ca_pem = match trusted_ca_pem {
        Some(trusted) => Some(trusted),
        None => files.get(CA_PATH).and_then(|f| f.bytes.as_deref()),
    };
    match ca_pem.map(pem_certificate) {
        Some(Ok(ca)) => {
            if let Err(error) = capture::verify_certificate(certificate, &ca, statement.captured_at_ms) {
                failures.push(("certificate", error.to_string()));
            }
        }
        Some(Err(detail)) => failures.push(("certificate", detail)),
        None => failures.push(("certificate", "the package has no CA certificate".into())),
    }
    failures
}

/// The DER of the first certificate in a PEM file.
fn pem_certificate(pem: &[u8]) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| "the CA file holds no certificate".to_owned())?
        .map(|der| der.to_vec())
        .map_err(|error| format!("the CA file: {error}"))
}

/// The export event must be an export of this case listing exactly the
/// package's items, in order.
fn check_export_event(files: &BTreeMap<String, FileFacts>, manifest: &Manifest) -> Vec<String> {
    let event = &manifest.export_event;
    if event.kind != LeafKind::Custody.name() {
        return vec![format!("its kind is {:?}, not custody", event.kind)];
    }
    let Some(bytes) = files.get(&event.file).and_then(|facts| facts.bytes.as_deref()) else {
        return Vec::new(); // Named as a missing file already.
    };
    let decoded = match pb::CustodyEvent::decode(bytes) {
        Ok(decoded) => decoded,
        Err(error) => return vec![format!("not a custody event: {error}")],
    };
    let mut problems = Vec::new();
    if decoded.event_id != event.item_id
        || decoded.action != EXPORT_ACTION
        || decoded.case_id != manifest.case_id
    {
        problems.push(format!(
            "it is event {} ({:?} of case {:?}), not the export of case {:?}",
            decoded.event_id, decoded.action, decoded.case_id, manifest.case_id
        ));
    }
    let packaged: Vec<&str> = manifest.items.iter().map(|item| item.item_id.as_str()).collect();
    for id in decoded
        .item_ids
        .iter()
        .filter(|id| !packaged.contains(&id.as_str()))
    {
        problems.push(format!("item {id} was exported but is not in the package"));
    }
    for id in packaged
        .iter()
        .filter(|id| !decoded.item_ids.iter().any(|e| e == *id))
    {
        problems.push(format!("item {id} is in the package but was not exported"));
    }
    if problems.is_empty()
        && decoded
            .item_ids
            .iter()
            .map(String::as_str)
            .ne(packaged.iter().copied())
    {
        problems.push("the package lists the exported items in another order".into());
    }
    problems
}

fn kept_text(files: &BTreeMap<String, FileFacts>, path: &str) -> Result<String, String> {
    let facts = files.get(path).ok_or_else(|| format!("{path} is missing"))?;
    let bytes = facts
        .bytes
        .as_ref()
        .ok_or_else(|| format!("{path} is too large"))?;
    String::from_utf8(bytes.clone()).map_err(|_| format!("{path} is not UTF-8"))
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text).map_err(|_| format!("{text:?} is not hex"))
}
