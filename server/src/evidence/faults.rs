//! Fault injection on the write path, for tests: an armed fault makes that
//! step fail with an I/O error, as a full disk or a failing drive would.
//! Never armed in production (nothing outside tests calls [`Faults::arm`]).

use std::io;
use std::sync::{Arc, Mutex};

/// The steps of the evidence write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Writing received bytes to the partial file.
    Write,
    /// fsync of the partial file (checkpoint or end).
    Fsync,
    /// Renaming the finished file into the blob store.
    Rename,
    /// fsync of the blob store directory after the rename.
    DirectoryFsync,
    /// The database commit of the item.
    Commit,
    /// A media job (post-processing after the receipt).
    MediaJob,
    /// Not a failure: when armed, a byte of a finished upload's file is
    /// changed before it is checked, as another writer (a resume on another
    /// node) could.
    PartialChanged,
}

/// Changes one byte in the middle of `path` (for [`FaultPoint::PartialChanged`]).
pub fn change_a_byte(path: &std::path::Path) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let middle = file.metadata()?.len() / 2;
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(middle))?;
    file.read_exact(&mut byte)?;
    file.seek(SeekFrom::Start(middle))?;
    file.write_all(&[byte[0] ^ 0xFF])?;
    file.sync_all()
}

/// The armed faults. Cheap to clone; clones share the set.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    armed: Arc<Mutex<Vec<(FaultPoint, io::ErrorKind)>>>,
}

impl Faults {
    /// Makes `point` fail with `kind` until cleared.
    pub fn arm(&self, point: FaultPoint, kind: io::ErrorKind) {
        self.lock().push((point, kind));
    }

    /// Clears every fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Fails if `point` is armed.
    pub fn check(&self, point: FaultPoint) -> io::Result<()> {
        match self.lock().iter().find(|(armed, _)| *armed == point) {
            Some((_, kind)) => Err(io::Error::new(*kind, format!("injected fault at {point:?}"))),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(FaultPoint, io::ErrorKind)>> {
        // Poisoning follows a panic elsewhere; the set stays usable.
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }
}
