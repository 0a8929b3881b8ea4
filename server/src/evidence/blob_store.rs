//! The content-addressed store: on the filesystem, or (an option for several
//! nodes without a shared file system) in an S3-compatible object store
//! ([`super::object_blobs`]).
//!
//! A blob's path is derived from its SHA-256 only (`ab/abcdef…`): nothing a
//! client sends ever becomes part of a path. Writes go to a temporary file,
//! which is fsync'd, renamed into place, and the directory fsync'd, so that a
//! crash leaves either no blob or a whole one — never a torn one under its
//! final name. The same bytes stored twice are one blob.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The store rooted at one directory, or (with [`BlobStore::in_object_store`])
/// in an S3-compatible object store with the directory for temporary files.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    temp: PathBuf,
    faults: super::faults::Faults,
    remote: Option<super::object_blobs::ObjectBlobs>,
}

impl BlobStore {
    /// Opens the store, creating its directories.
    pub fn open(root: &Path) -> io::Result<Self> {
        let temp = root.join("tmp");
        fs::create_dir_all(&temp)?;
        Ok(Self {
            root: root.to_path_buf(),
            temp,
            faults: super::faults::Faults::default(),
            remote: None,
        })
    }

    /// The same store keeping blobs in an object store instead.
    pub fn in_object_store(mut self, remote: super::object_blobs::ObjectBlobs) -> Self {
        self.remote = Some(remote);
        self
    }

    /// Whether blobs live in an object store (their `path_of` is then unused).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The same store with injected faults (tests).
    pub fn with_faults(mut self, faults: super::faults::Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Where the blob with `sha256` lives (whether or not it exists).
    pub fn path_of(&self, sha256: &[u8; 32]) -> PathBuf {
        let name = hex::encode(sha256);
        self.root.join(&name[..2]).join(name)
    }

    /// Whether the blob exists.
    pub fn contains(&self, sha256: &[u8; 32]) -> io::Result<bool> {
        match &self.remote {
            Some(remote) => remote.contains(sha256),
            None => Ok(self.path_of(sha256).is_file()),
        }
    }

    /// Moves an already fsync'd file whose content hashes to `sha256` into the
    /// store, then fsyncs the directory. If the blob exists already (the same
    /// bytes under another evidence id), the file is removed instead.
    pub fn adopt(&self, file: &Path, sha256: &[u8; 32]) -> io::Result<()> {
        use super::faults::FaultPoint;
        if let Some(remote) = &self.remote {
            // PUT returns once the object store holds the whole object; only
            // then is the local copy let go.
            remote.put_file(file, sha256)?;
            return fs::remove_file(file);
        }
        let target = self.path_of(sha256);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        if target.is_file() {
            fs::remove_file(file)?;
            // An earlier rename may not have been made durable (its directory
            // fsync failed): make sure of it before anything is acknowledged.
            self.faults.check(FaultPoint::DirectoryFsync)?;
            return sync_dir(&dir);
        }
        fs::create_dir_all(&dir)?;
        self.faults.check(FaultPoint::Rename)?;
        fs::rename(file, &target)?;
        self.faults.check(FaultPoint::DirectoryFsync)?;
        sync_dir(&dir)?;
        // The shard directory may be new: make its entry durable too.
        sync_dir(&self.root)
    }

    /// Stores `bytes` (whose SHA-256 is `sha256`): temp file, fsync, rename, fsync dir.
    pub fn put(&self, bytes: &[u8], sha256: &[u8; 32]) -> io::Result<()> {
        if let Some(remote) = &self.remote {
            return remote.put(bytes.to_vec(), sha256);
        }
        if self.contains(sha256)? {
            return Ok(());
        }
        let temp = self
            .temp
            .join(format!("{}.{}", hex::encode(sha256), rand::random::<u64>()));
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        self.adopt(&temp, sha256)
    }

    /// Opens a blob to read it in pieces (a video is never read whole).
    pub fn reader(&self, sha256: &[u8; 32]) -> io::Result<Box<dyn io::Read + Send>> {
        match &self.remote {
            Some(remote) => Ok(Box::new(remote.reader(sha256)?)),
            None => Ok(Box::new(fs::File::open(self.path_of(sha256))?)),
        }
    }

    /// SHA-256, SM3 and length of a stored blob, read in pieces.
    pub fn digests(&self, sha256: &[u8; 32]) -> io::Result<([u8; 32], [u8; 32], u64)> {
        use sha2::Digest;
        let mut reader = self.reader(sha256)?;
        let mut sha = sha2::Sha256::new();
        let mut sm3 = sm3::Sm3::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut length = 0u64;
        loop {
            let read = reader.read(&mut buffer)?;
            if read == 0 {
                return Ok((sha.finalize().into(), sm3.finalize().into(), length));
            }
            length += read as u64;
            sha.update(&buffer[..read]);
            sm3.update(&buffer[..read]);
        }
    }

    /// Reads a blob whole (pictures for thumbnails, small originals).
    pub fn read(&self, sha256: &[u8; 32]) -> io::Result<Vec<u8>> {
        match &self.remote {
            Some(remote) => remote.read(sha256),
            None => fs::read(self.path_of(sha256)),
        }
    }

    /// Every blob in the store with its age, for the janitor.
    pub fn list(&self) -> io::Result<Vec<([u8; 32], std::time::Duration)>> {
        if let Some(remote) = &self.remote {
            return remote.list();
        }
        let mut blobs = Vec::new();
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() || shard.file_name() == "tmp" {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                let Some(sha256) = entry
                    .file_name()
                    .to_str()
                    .and_then(|name| hex::decode(name).ok())
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                else {
                    continue;
                };
                let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                blobs.push((sha256, age));
            }
        }
        Ok(blobs)
    }

    /// Removes a blob (only the janitor, only for blobs no evidence references).
    pub fn remove(&self, sha256: &[u8; 32]) -> io::Result<()> {
        match &self.remote {
            Some(remote) => remote.remove(sha256),
            None => fs::remove_file(self.path_of(sha256)),
        }
    }

    /// Moves an orphan out of the store, into `tmp/aside-<name>` (the
    /// janitor's first step: it looks again, then puts it back or discards
    /// it). None for an object store, which cannot move an object.
    pub fn set_aside(&self, sha256: &[u8; 32]) -> io::Result<Option<PathBuf>> {
        if self.remote.is_some() {
            return Ok(None);
        }
        let aside = self.temp.join(format!(
            "{ASIDE_PREFIX}{}.{}",
            hex::encode(sha256),
            rand::random::<u64>()
        ));
        fs::rename(self.path_of(sha256), &aside)?;
        Ok(Some(aside))
    }

    /// Puts a blob set aside back (a reference or a lease appeared). If an
    /// upload stored the same bytes meanwhile, the copy set aside goes.
    pub fn put_back(&self, sha256: &[u8; 32], aside: &Path) -> io::Result<()> {
        let target = self.path_of(sha256);
        if target.is_file() {
            return fs::remove_file(aside);
        }
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        fs::rename(aside, &target)?;
        sync_dir(&dir)
    }

    /// Blobs set aside and not yet decided (a crash in between): (digest, path).
    pub fn set_aside_blobs(&self) -> io::Result<Vec<([u8; 32], PathBuf)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.temp)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(sha256) = name
                .to_str()
                .and_then(|name| name.strip_prefix(ASIDE_PREFIX))
                .and_then(|rest| rest.split('.').next())
                .and_then(|hex_name| hex::decode(hex_name).ok())
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            else {
                continue;
            };
            found.push((sha256, entry.path()));
        }
        Ok(found)
    }
}

/// Names of blobs the janitor set aside, in the store's `tmp` directory.
const ASIDE_PREFIX: &str = "aside-";

/// fsyncs a directory so that renames and new entries in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn blobs_are_named_by_their_digest_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let bytes = b"evidence".to_vec();
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        store.put(&bytes, &sha).unwrap();
        store.put(&bytes, &sha).unwrap();
        assert_eq!(store.read(&sha).unwrap(), bytes);
        let name = hex::encode(sha);
        assert!(dir.path().join(&name[..2]).join(&name).is_file());
        assert_eq!(store.list().unwrap().len(), 1);
    }
}
