//! Unfinished uploads on disk, and the writer that hashes while it writes.
//!
//! A partial upload is a file named by a digest of (device id, evidence id):
//! nothing from the client becomes a path. The writer runs on a thread of
//! its own so that hashing (SM3 costs ~4.6× SHA-256) and disk writes never
//! stall the tasks that drive the network; the same thread feeds the
//! format's structural validator ([`fieldlink_media::Validator`]), so a file
//! that is not what it claims is refused while it arrives. Bytes become
//! durable at checkpoints (fsync), and the durable offset is what a resume
//! may start from. SM3 runs on a thread of its own beside the writer, fed
//! the same chunks, so the two digests take two cores rather than one. Both
//! are bulk threads, niced below the ones that answer terminals.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fieldlink_media::{Facts, MediaError, Validator};

use sha2::{Digest, Sha256};
use sm3::Sm3;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The directory of partial uploads.
#[derive(Debug, Clone)]
pub struct PartialFiles {
    dir: PathBuf,
}

impl PartialFiles {
    /// Opens (creating) the directory.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The file of one device's upload of one evidence id.
    pub fn path_of(&self, device_id: &str, evidence_id: Uuid) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(device_id.as_bytes());
        hasher.update([0]);
        hasher.update(evidence_id.as_bytes());
        self.dir.join(format!("{}.part", hex::encode(hasher.finalize())))
    }

    /// Removes a partial file (missing is fine).
    pub fn remove(&self, device_id: &str, evidence_id: Uuid) -> io::Result<()> {
        match fs::remove_file(self.path_of(device_id, evidence_id)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Every partial file with its age, for the janitor.
    pub fn list(&self) -> io::Result<Vec<(PathBuf, std::time::Duration)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
            files.push((entry.path(), age));
        }
        Ok(files)
    }
}

/// The digests of a finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256 of every byte.
    pub sha256: [u8; 32],
    /// SM3 of every byte.
    pub sm3: [u8; 32],
    /// Bytes written in all.
    pub size_bytes: u64,
    /// What the validator found (when the writer had one).
    pub facts: Option<Facts>,
    /// SHA-256 of the file as read back from disk after the last write: the
    /// caller files the bytes only when it equals `sha256` (another writer,
    /// or the disk, could have changed them).
    pub read_back_sha256: [u8; 32],
}

/// What the read-back at the end of an upload may use.
pub struct ReadBack {
    /// Held while the file is read (a bounded number are read at once).
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// A test's fault: one byte of the file is changed before it is read.
    pub tamper: bool,
}

enum Command {
    Write(bytes::Bytes),
    Checkpoint(oneshot::Sender<io::Result<u64>>),
    Finish(ReadBack, oneshot::Sender<io::Result<Digests>>),
}

/// Feeds a partial file from the network; owns it on a bulk thread
/// ([`super::bulk_thread`]: below the threads that answer terminals).
pub struct UploadWriter {
    commands: mpsc::Sender<Command>,
    /// Closed when the writer thread has ended.
    ended: oneshot::Receiver<()>,
    /// The validator's refusal, as soon as the writer thread meets it.
    refused: Arc<Mutex<Option<MediaError>>>,
}

/// Why the writer failed.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The disk failed.
    #[error("evidence store I/O: {0}")]
    Io(#[from] io::Error),
    /// The writer thread is gone (it failed earlier).
    #[error("the upload writer stopped")]
    Stopped,
    /// The bytes are not the media they were declared to be.
    #[error(transparent)]
    Refused(#[from] MediaError),
}

impl UploadWriter {
    /// Opens `path` for an upload continuing at `offset`: the file is cut to
    /// `offset` bytes (anything past the last checkpoint is not trusted) and
    /// those bytes are hashed (and validated) again, so the final digests
    /// and facts cover the whole file.
    pub async fn start(
        path: PathBuf,
        offset: u64,
        faults: super::faults::Faults,
        validator: Option<Validator>,
    ) -> Result<Self, WriterError> {
        let (commands, receiver) = mpsc::channel(16);
        let (ready, opened) = oneshot::channel();
        let refused = Arc::new(Mutex::new(None));
        let check = Check {
            validator,
            refused: refused.clone(),
        };
        let (ending, ended) = oneshot::channel::<()>();
        super::bulk_thread::spawn("upload-writer", move || {
            let _ending = ending;
            run(path, offset, receiver, ready, faults, check);
        })?;
        opened.await.map_err(|_| WriterError::Stopped)??;
        Ok(Self {
            commands,
            ended,
            refused,
        })
    }

    /// The validator's refusal, if it has met one.
    fn refusal(&self) -> Result<(), WriterError> {
        match self.refused.lock().map(|refused| refused.clone()) {
            Ok(Some(error)) => Err(WriterError::Refused(error)),
            Ok(None) => Ok(()),
            Err(_) => Err(WriterError::Stopped),
        }
    }

    /// Appends bytes (waits when the writer is behind: backpressure on the
    /// stream). Fails as soon as the validator has refused what came before.
    pub async fn write(&self, bytes: bytes::Bytes) -> Result<(), WriterError> {
        self.refusal()?;
        self.commands
            .send(Command::Write(bytes))
            .await
            .map_err(|_| WriterError::Stopped)
    }

    /// fsyncs everything written so far; returns the durable size.
    pub async fn checkpoint(&self) -> Result<u64, WriterError> {
        let (respond, done) = oneshot::channel();
        self.commands
            .send(Command::Checkpoint(respond))
            .await
            .map_err(|_| WriterError::Stopped)?;
        Ok(done.await.map_err(|_| WriterError::Stopped)??)
    }

    /// Stops without an fsync and waits until queued writes are done, so no
    /// byte of this writer lands after it returns (what a crash leaves is
    /// then on disk, with or without those bytes).
    pub async fn abandon(self) {
        let Self { commands, ended, .. } = self;
        drop(commands);
        let _ = ended.await;
    }

    /// fsyncs and returns the digests of the whole file, what the
    /// validator found (or its refusal), and the file's SHA-256 read back
    /// from disk. The read-back runs beside the fsync and the end of SM3,
    /// not after them: after the last byte an upload waits for the longest
    /// of the three, not for their sum.
    pub async fn finish(self, read_back: ReadBack) -> Result<Digests, WriterError> {
        let (respond, done) = oneshot::channel();
        self.commands
            .send(Command::Finish(read_back, respond))
            .await
            .map_err(|_| WriterError::Stopped)?;
        let digests = done.await.map_err(|_| WriterError::Stopped)??;
        self.refusal()?;
        Ok(digests)
    }
}

/// The validator, on the writer thread, and where it reports a refusal.
struct Check {
    validator: Option<Validator>,
    refused: Arc<Mutex<Option<MediaError>>>,
}

impl Check {
    fn feed(&mut self, bytes: &[u8]) {
        let Some(validator) = self.validator.as_mut() else {
            return;
        };
        if let Err(error) = validator.feed(bytes) {
            self.validator = None;
            if let Ok(mut refused) = self.refused.lock() {
                refused.get_or_insert(error);
            }
        }
    }

    fn finish(&mut self) -> Option<Facts> {
        match self.validator.take()?.finish() {
            Ok(facts) => Some(facts),
            Err(error) => {
                if let Ok(mut refused) = self.refused.lock() {
                    refused.get_or_insert(error);
                }
                None
            }
        }
    }
}

/// SM3 on a thread of its own (it costs several times SHA-256), fed the
/// same chunks as the writer: the two digests use two cores.
struct Sm3Thread {
    chunks: Option<std::sync::mpsc::SyncSender<bytes::Bytes>>,
    thread: Option<std::thread::JoinHandle<[u8; 32]>>,
}

impl Sm3Thread {
    fn start() -> io::Result<Self> {
        let (chunks, receiver) = std::sync::mpsc::sync_channel::<bytes::Bytes>(32);
        let thread = super::bulk_thread::spawn("upload-sm3", move || {
            let mut sm3 = Sm3::new();
            for chunk in receiver {
                sm3.update(&chunk);
            }
            sm3.finalize().into()
        })?;
        Ok(Self {
            chunks: Some(chunks),
            thread: Some(thread),
        })
    }

    fn update(&self, chunk: bytes::Bytes) {
        if let Some(chunks) = &self.chunks {
            let _ = chunks.send(chunk);
        }
    }

    fn finish(&mut self) -> io::Result<[u8; 32]> {
        drop(self.chunks.take());
        self.thread
            .take()
            .ok_or_else(|| io::Error::other("SM3 finished twice"))?
            .join()
            .map_err(|_| io::Error::other("the SM3 thread failed"))
    }
}

/// The end of an upload, once every byte is written: the file is read
/// back and hashed on a bulk thread of its own while this one fsyncs it and
/// waits for SM3. Returns (SM3, the read-back SHA-256).
fn finish_file(
    path: &Path,
    file: &File,
    faults: &super::faults::Faults,
    sm3: &mut Sm3Thread,
    read_back: ReadBack,
) -> io::Result<([u8; 32], [u8; 32])> {
    let read_path = path.to_path_buf();
    let reading = super::bulk_thread::spawn("upload-reread", move || {
        let _permit = read_back.permit;
        if read_back.tamper {
            super::faults::change_a_byte(&read_path)?;
        }
        sha256_of_file(&read_path)
    })?;
    let synced = faults
        .check(super::faults::FaultPoint::Fsync)
        .and_then(|()| file.sync_all())
        .and_then(|()| sm3.finish());
    // Joined whatever the fsync did: no reader outlives the upload.
    let read = reading
        .join()
        .map_err(|_| io::Error::other("the read-back thread failed"))
        .and_then(|read| read);
    Ok((synced?, read?))
}

/// SHA-256 of a file, streamed.
fn sha256_of_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..read]);
    }
}

fn run(
    path: PathBuf,
    offset: u64,
    mut commands: mpsc::Receiver<Command>,
    ready: oneshot::Sender<io::Result<()>>,
    faults: super::faults::Faults,
    mut check: Check,
) {
    use super::faults::FaultPoint;
    let mut sha256 = Sha256::new();
    let mut sm3 = match Sm3Thread::start() {
        Ok(sm3) => sm3,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let opened = (|| -> io::Result<File> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let length = file.metadata()?.len();
        if length < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("partial file holds {length} bytes, {offset} expected"),
            ));
        }
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(0))?;
        let mut buffer = vec![0u8; 256 * 1024];
        let mut remaining = offset;
        while remaining > 0 {
            let want = remaining.min(buffer.len() as u64) as usize;
            file.read_exact(&mut buffer[..want])?;
            sha256.update(&buffer[..want]);
            sm3.update(bytes::Bytes::copy_from_slice(&buffer[..want]));
            check.feed(&buffer[..want]);
            remaining -= want as u64;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(file)
    })();
    let mut file = match opened {
        Ok(file) => {
            let _ = ready.send(Ok(()));
            file
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let mut written = offset;
    let mut failed: Option<io::ErrorKind> = None;
    while let Some(command) = commands.blocking_recv() {
        match command {
            Command::Write(bytes) => {
                if failed.is_some() {
                    continue;
                }
                // SM3, the longest of the work on these bytes, gets them
                // first. Should the write fail, the upload fails with it
                // and that digest is never used.
                sm3.update(bytes.clone());
                match faults
                    .check(FaultPoint::Write)
                    .and_then(|()| file.write_all(&bytes))
                {
                    Ok(()) => {
                        sha256.update(&bytes);
                        check.feed(&bytes);
                        written += bytes.len() as u64;
                    }
                    Err(error) => failed = Some(error.kind()),
                }
            }
            Command::Checkpoint(respond) => {
                // An fsync error fails the write: never retried and then trusted.
                // An fsync error fails this writer for good: a later fsync
                // may "succeed" without the lost data, so it is never trusted.
                let result = match failed {
                    Some(kind) => Err(io::Error::from(kind)),
                    None => faults
                        .check(FaultPoint::Fsync)
                        .and_then(|()| file.sync_data())
                        .map(|()| written),
                };
                if let Err(error) = &result {
                    failed = Some(error.kind());
                }
                let _ = respond.send(result);
            }
            Command::Finish(read_back, respond) => {
                let result = match failed {
                    Some(kind) => Err(io::Error::from(kind)),
                    None => finish_file(&path, &file, &faults, &mut sm3, read_back).map(
                        |(sm3, read_back_sha256)| Digests {
                            sha256: sha256.clone().finalize().into(),
                            sm3,
                            size_bytes: written,
                            facts: check.finish(),
                            read_back_sha256,
                        },
                    ),
                };
                let _ = respond.send(result);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_read_back() -> ReadBack {
        ReadBack {
            permit: None,
            tamper: false,
        }
    }

    #[tokio::test]
    async fn the_read_back_hashes_what_is_on_disk_when_the_upload_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let expected = <[u8; 32]>::from(Sha256::digest(&data));
        for tamper in [false, true] {
            let path = dir.path().join(format!("{tamper}.part"));
            let writer = UploadWriter::start(path.clone(), 0, Default::default(), None)
                .await
                .unwrap();
            writer.write(bytes::Bytes::from(data.clone())).await.unwrap();
            let permits = Arc::new(tokio::sync::Semaphore::new(1));
            let permit = permits.clone().acquire_owned().await.unwrap();
            let digests = writer
                .finish(ReadBack {
                    permit: Some(permit),
                    tamper,
                })
                .await
                .unwrap();
            // The running digest is of what arrived either way; the
            // read-back sees a byte changed on disk after it was written.
            assert_eq!(digests.sha256, expected);
            assert_eq!(digests.read_back_sha256 == expected, !tamper, "tamper: {tamper}");
            assert_eq!(
                digests.read_back_sha256,
                <[u8; 32]>::from(Sha256::digest(std::fs::read(&path).unwrap()))
            );
            // The permit was given back with the read-back's thread.
            assert_eq!(permits.available_permits(), 1);
        }
    }

    #[tokio::test]
    async fn a_resumed_upload_hashes_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();

        let writer = UploadWriter::start(path.clone(), 0, Default::default(), None)
            .await
            .unwrap();
        writer
            .write(bytes::Bytes::copy_from_slice(&data[..40_000]))
            .await
            .unwrap();
        assert_eq!(writer.checkpoint().await.unwrap(), 40_000);
        // Bytes after the checkpoint that a crash might tear.
        writer.write(bytes::Bytes::from_static(b"garbage")).await.unwrap();
        drop(writer);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;

        let writer = UploadWriter::start(path.clone(), 40_000, Default::default(), None)
            .await
            .unwrap();
        writer
            .write(bytes::Bytes::copy_from_slice(&data[40_000..]))
            .await
            .unwrap();
        let digests = writer.finish(no_read_back()).await.unwrap();
        assert_eq!(digests.size_bytes, 100_000);
        assert_eq!(digests.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_eq!(digests.sm3, <[u8; 32]>::from(Sm3::digest(&data)));
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[tokio::test]
    async fn the_validator_refuses_while_bytes_arrive_and_checks_a_resumed_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.part");
        let limits = fieldlink_media::Limits::default();
        let pdf =
            b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\nxref\n0 1\ntrailer\n<<>>\nstartxref\n29\n%%EOF\n".to_vec();
        // Declared a PNG: refused at the first write after the validator saw it.
        let validator = fieldlink_media::Validator::new(fieldlink_media::Format::Png, 1 << 20, limits);
        let writer = UploadWriter::start(path.clone(), 0, Default::default(), Some(validator))
            .await
            .unwrap();
        writer.write(bytes::Bytes::from(pdf.clone())).await.unwrap();
        let mut refused = None;
        for _ in 0..100 {
            match writer.write(bytes::Bytes::from_static(b"more")).await {
                Err(WriterError::Refused(error)) => {
                    refused = Some(error);
                    break;
                }
                Ok(()) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(
            refused,
            Some(MediaError::NotThisFormat(fieldlink_media::Format::Png))
        );
        writer.abandon().await;

        // A PDF checkpointed half way and resumed: the held half is fed to
        // the validator again, and the whole is accepted.
        let _ = std::fs::remove_file(&path);
        let total = pdf.len() as u64;
        let validator = fieldlink_media::Validator::new(fieldlink_media::Format::Pdf, total, limits);
        let writer = UploadWriter::start(path.clone(), 0, Default::default(), Some(validator))
            .await
            .unwrap();
        writer
            .write(bytes::Bytes::copy_from_slice(&pdf[..20]))
            .await
            .unwrap();
        assert_eq!(writer.checkpoint().await.unwrap(), 20);
        writer.abandon().await;
        let validator = fieldlink_media::Validator::new(fieldlink_media::Format::Pdf, total, limits);
        let writer = UploadWriter::start(path.clone(), 20, Default::default(), Some(validator))
            .await
            .unwrap();
        writer
            .write(bytes::Bytes::copy_from_slice(&pdf[20..]))
            .await
            .unwrap();
        let digests = writer.finish(no_read_back()).await.unwrap();
        assert_eq!(digests.size_bytes, total);
        assert!(digests.facts.is_some());
    }

    #[tokio::test]
    async fn a_partial_shorter_than_the_offset_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.part");
        std::fs::write(&path, b"abc").unwrap();
        assert!(UploadWriter::start(path, 10, Default::default(), None)
            .await
            .is_err());
    }

    #[test]
    fn partial_file_names_carry_nothing_from_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let files = PartialFiles::open(dir.path()).unwrap();
        let path = files.path_of("../../etc", Uuid::now_v7());
        assert_eq!(path.parent().unwrap(), dir.path());
        assert!(!path.to_string_lossy().contains("etc"));
    }
}
