//! Checking a case export package offline (`fieldlink verify FILE`).
//!
//! The package is a tar file (docs/evidence-export.md). It is read once,
//! front to back: every file is hashed (SHA-256 and SM3) as it streams by,
//! small ones are kept for the checks that read them, and then
//! [`fieldlink_protocol::export::verify`] checks the manifest, the
//! checkpoint's signature, every digest and every inclusion proof, and the
//! export's own logged event. Memory stays bounded whatever the media sizes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub use fieldlink_protocol::export::Trust;
use fieldlink_protocol::export::{self, FileFacts, Summary, KEPT_FILE_MAX};
use sha2::Digest;

/// Most files a package may hold.
pub const PACKAGE_FILES_MAX: usize = 1_000_000;

/// Why a package could not be read at all (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file cannot be opened or read, or is not a tar file.
    #[error("cannot read the package {path}: {error}")]
    Read {
        /// The package.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// An entry is not a plain file or directory (a link, a device, …), has
    /// an unsafe path, or appears twice.
    #[error("the package's entry {entry:?} is not acceptable: {why}")]
    BadEntry {
        /// The entry's path.
        entry: String,
        /// Why.
        why: &'static str,
    },
    /// More than [`PACKAGE_FILES_MAX`] files.
    #[error("the package holds more than {PACKAGE_FILES_MAX} files")]
    TooManyFiles,
}

/// Reads the package at `path` and checks it against what the verifier
/// trusts (the log key, witnesses, the agency CA).
pub fn verify_package(path: &Path, trust: &Trust<'_>) -> Result<Summary, PackageError> {
    let files = read_package(path)?;
    Ok(export::verify(&files, trust))
}

/// Every file of the package at `path`, hashed.
pub fn read_package(path: &Path) -> Result<BTreeMap<String, FileFacts>, PackageError> {
    let read_error = |error| PackageError::Read {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut files = BTreeMap::new();
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let bad = |why| PackageError::BadEntry {
            entry: name.clone(),
            why,
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular => {}
            _ => return Err(bad("not a plain file")),
        }
        if name.starts_with('/') || name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(bad("an absolute or escaping path"));
        }
        if files.contains_key(&name) {
            return Err(bad("it appears twice"));
        }
        if files.len() == PACKAGE_FILES_MAX {
            return Err(PackageError::TooManyFiles);
        }
        let facts = hash_entry(&mut entry).map_err(read_error)?;
        files.insert(name, facts);
    }
    Ok(files)
}

/// Hashes one file as it streams by, keeping it when it is small.
fn hash_entry(reader: &mut impl Read) -> std::io::Result<FileFacts> {
    let mut sha256 = sha2::Sha256::new();
    let mut sm3 = sm3::Sm3::new();
    let mut kept = Some(Vec::new());
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        sha256.update(chunk);
        sm3.update(chunk);
        if let Some(bytes) = &mut kept {
            if bytes.len() + read > KEPT_FILE_MAX {
                kept = None;
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
    }
    Ok(FileFacts {
        sha256: sha256.finalize().into(),
        sm3: sm3.finalize().into(),
        bytes: kept,
    })
}
