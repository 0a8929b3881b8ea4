//! A model check of resumable uploads: a sequence of operations decoded from
//! arbitrary bytes drives the real pieces — [`plan_start`] deciding where a
//! stream starts and the [`UploadWriter`] truncating, re-hashing and
//! appending partial files — while a simple model (per device and evidence
//! id: which photo, how many bytes are durable) predicts every answer.
//!
//! Checked after every step: a resume is accepted exactly at the model's
//! durable offset and nowhere else; the answer for another device's id is the
//! answer for an id nobody holds; a checkpoint reports what was sent; the
//! quota holds; a finished upload's size and both digests are those of the
//! photo, whatever interruptions and torn tails came before.
//!
//! Used by the `upload_model` fuzz target and by a seeded unit test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sm3::Sm3;

use super::partial::{ReadBack, UploadWriter};
use super::upload_plan::{plan_start, Declared, Held, Start};

const DEVICES: u8 = 2;
const IDS: u8 = 3;
const PHOTOS: u8 = 3;
/// Partial bytes one device may hold.
const QUOTA_BYTES: u64 = 9_000;

fn photo_size(photo: u8) -> u64 {
    [1, 700, 5_000][usize::from(photo % PHOTOS)]
}

fn photo_bytes(photo: u8) -> Vec<u8> {
    (0..photo_size(photo))
        .map(|i| (i.wrapping_mul(31) as u8) ^ photo.wrapping_mul(97))
        .collect()
}

/// What the model knows of one (device, id): the photo and its durable bytes.
#[derive(Debug, Clone, Copy)]
struct Known {
    photo: u8,
    durable: u64,
}

struct Active {
    key: (u8, u8),
    photo: u8,
    written: u64,
    writer: UploadWriter,
}

/// The system under test plus the model, side by side.
/// What a run exercised (so a test can tell a degenerate input generator).
#[derive(Debug, Default, Clone, Copy)]
pub struct Exercised {
    /// Streams that resumed at a non-zero offset.
    pub resumes: u32,
    /// Uploads finished with their digests checked.
    pub finishes: u32,
    /// Starts refused (offset mismatch or quota).
    pub refusals: u32,
    /// Interruptions that left a torn tail.
    pub torn: u32,
}

struct Run {
    /// The last upload begun: (device, id, photo).
    last: Option<(u8, u8, u8)>,
    exercised: Exercised,
    dir: PathBuf,
    /// The system's table of partial uploads (what storage would hold).
    table: HashMap<(u8, u8), Held>,
    /// The model.
    model: HashMap<(u8, u8), Known>,
    active: Option<Active>,
}

/// Runs the operations `ops` encodes in a fresh state under `dir` (which
/// must be empty); `Err` names the first disagreement with the model.
pub async fn check(ops: &[u8], dir: &Path) -> Result<Exercised, String> {
    let mut run = Run {
        last: None,
        exercised: Exercised::default(),
        dir: dir.to_path_buf(),
        table: HashMap::new(),
        model: HashMap::new(),
        active: None,
    };
    let mut bytes = ops.iter().copied();
    let mut next = move || bytes.next();
    // Bounded: at most 64 operations per input.
    for _ in 0..64 {
        let Some(op) = next() else { break };
        let a = next().unwrap_or(0);
        let b = next().unwrap_or(0);
        let c = next().unwrap_or(0);
        match op % 6 {
            0 => {
                run.begin(a % DEVICES, b % IDS, c % PHOTOS, next().unwrap_or(0))
                    .await?
            }
            1 => run.send(u64::from(a) * 23 + u64::from(b) + 1).await?,
            2 => run.checkpoint().await?,
            3 => run.interrupt(a).await?,
            4 => run.finish().await?,
            // What a terminal does after an interruption: the same photo
            // again, from the offset it was last told is durable.
            _ => {
                if let Some((device, id, photo)) = run.last {
                    run.begin(device, id, photo, 1).await?;
                }
            }
        }
    }
    run.interrupt(0).await?;
    Ok(run.exercised)
}

impl Run {
    fn path(&self, key: (u8, u8)) -> PathBuf {
        self.dir.join(format!("{}-{}.part", key.0, key.1))
    }

    fn device_held(&self, device: u8) -> u64 {
        self.table
            .iter()
            .filter(|((d, _), _)| *d == device)
            .map(|(_, h)| h.size_bytes)
            .sum()
    }

    async fn begin(&mut self, device: u8, id: u8, photo: u8, offset_kind: u8) -> Result<(), String> {
        self.interrupt(0).await?;
        self.last = Some((device, id, photo));
        let key = (device, id);
        let known = self.model.get(&key).copied();
        let offset = match offset_kind % 4 {
            0 => 0,
            1 => known.map(|k| k.durable).unwrap_or(0),
            2 => known.map(|k| k.durable + 1).unwrap_or(1),
            _ => u64::from(offset_kind) * 13,
        };
        let declared = Declared {
            sha256: Sha256::digest(photo_bytes(photo)).into(),
            size_bytes: photo_size(photo),
            offset,
        };
        let decision = plan_start(
            self.table.get(&key).copied(),
            declared,
            if offset == 0 { self.device_held(device) } else { 0 },
            QUOTA_BYTES,
        );

        // The model's answer.
        let same = known.filter(|k| k.photo == photo);
        let expected = match same {
            Some(k) if offset == k.durable => Start::Resume(offset),
            _ if offset == 0 => {
                let others: u64 = self
                    .model
                    .iter()
                    .filter(|((d, i), _)| *d == device && *i != id)
                    .map(|(_, k)| photo_size(k.photo))
                    .sum();
                if others + photo_size(photo) > QUOTA_BYTES {
                    Start::OverQuota {
                        held_bytes: others + photo_size(photo),
                        limit_bytes: QUOTA_BYTES,
                    }
                } else {
                    Start::Fresh
                }
            }
            _ => Start::OffsetMismatch {
                durable_offset: same.map(|k| k.durable).unwrap_or(0),
            },
        };
        if decision != expected {
            return Err(format!(
                "begin {key:?} photo {photo} at {offset}: {decision:?}, model {expected:?}"
            ));
        }
        // No existence oracle: the other device asking for this id hears what
        // it would hear for an id nobody holds.
        let stranger = (device + 1) % DEVICES;
        if !self.table.contains_key(&(stranger, id)) && offset != 0 {
            let theirs = plan_start(None, declared, 0, QUOTA_BYTES);
            if theirs != (Start::OffsetMismatch { durable_offset: 0 }) {
                return Err(format!("an unheld id answered {theirs:?}"));
            }
        }

        let start_at = match decision {
            Start::Resume(offset) => {
                self.exercised.resumes += u32::from(offset > 0);
                offset
            }
            Start::Fresh => {
                let held = Held {
                    header_sha256: declared.sha256,
                    size_bytes: declared.size_bytes,
                    durable_offset: 0,
                };
                self.table.insert(key, held);
                self.model.insert(key, Known { photo, durable: 0 });
                0
            }
            Start::OffsetMismatch { .. } | Start::OverQuota { .. } => {
                self.exercised.refusals += 1;
                return Ok(());
            }
        };
        let writer = UploadWriter::start(self.path(key), start_at, Default::default(), None)
            .await
            .map_err(|e| format!("writer at {start_at} for {key:?}: {e}"))?;
        self.active = Some(Active {
            key,
            photo,
            written: start_at,
            writer,
        });
        Ok(())
    }

    async fn send(&mut self, length: u64) -> Result<(), String> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let size = photo_size(active.photo);
        let end = (active.written + length).min(size);
        if end == active.written {
            return Ok(());
        }
        let bytes = photo_bytes(active.photo);
        let chunk = bytes::Bytes::copy_from_slice(&bytes[active.written as usize..end as usize]);
        active
            .writer
            .write(chunk)
            .await
            .map_err(|e| format!("write: {e}"))?;
        active.written = end;
        Ok(())
    }

    async fn checkpoint(&mut self) -> Result<(), String> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let durable = active
            .writer
            .checkpoint()
            .await
            .map_err(|e| format!("checkpoint: {e}"))?;
        if durable != active.written {
            return Err(format!("checkpoint says {durable}, {} were sent", active.written));
        }
        if let Some(held) = self.table.get_mut(&active.key) {
            held.durable_offset = durable;
        }
        if let Some(known) = self.model.get_mut(&active.key) {
            known.durable = active.written;
        }
        Ok(())
    }

    /// The stream dies without a checkpoint; `torn` bytes of garbage land
    /// after what was written, as a crash may leave them.
    async fn interrupt(&mut self, torn: u8) -> Result<(), String> {
        let Some(active) = self.active.take() else {
            return Ok(());
        };
        active.writer.abandon().await;
        if torn > 0 {
            self.exercised.torn += 1;
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(self.path(active.key))
                .map_err(|e| format!("open for a torn tail: {e}"))?;
            file.write_all(&vec![0xa5; usize::from(torn)])
                .map_err(|e| format!("torn tail: {e}"))?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), String> {
        let Some(active) = self.active.take() else {
            return Ok(());
        };
        let size = photo_size(active.photo);
        if active.written < size {
            // The service answers SIZE_MISMATCH and forgets the upload.
            active.writer.abandon().await;
            self.table.remove(&active.key);
            self.model.remove(&active.key);
            let _ = std::fs::remove_file(self.path(active.key));
            return Ok(());
        }
        let read_back = ReadBack {
            permit: None,
            tamper: false,
        };
        let digests = active
            .writer
            .finish(read_back)
            .await
            .map_err(|e| format!("finish: {e}"))?;
        let bytes = photo_bytes(active.photo);
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let sm3: [u8; 32] = Sm3::digest(&bytes).into();
        if digests.size_bytes != size
            || digests.sha256 != sha256
            || digests.sm3 != sm3
            || digests.read_back_sha256 != sha256
        {
            return Err(format!(
                "finished {:?} photo {}: {} bytes, digests differ from the photo's",
                active.key, active.photo, digests.size_bytes
            ));
        }
        let stored = std::fs::read(self.path(active.key)).map_err(|e| format!("read back: {e}"))?;
        if stored != bytes {
            return Err("the finished file is not the photo".into());
        }
        self.table.remove(&active.key);
        self.model.remove(&active.key);
        let _ = std::fs::remove_file(self.path(active.key));
        self.exercised.finishes += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn random_operation_sequences_agree_with_the_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261130);
        let mut total = super::Exercised::default();
        // Bounded: 300 sequences of up to 256 bytes (64 operations).
        for round in 0..300 {
            let length = rng.gen_range(1..256);
            let ops: Vec<u8> = (0..length).map(|_| rng.gen()).collect();
            let dir = tempfile::tempdir().unwrap();
            match super::check(&ops, dir.path()).await {
                Ok(run) => {
                    total.resumes += run.resumes;
                    total.finishes += run.finishes;
                    total.refusals += run.refusals;
                    total.torn += run.torn;
                }
                Err(disagreement) => panic!("round {round}: {disagreement}\nops: {ops:?}"),
            }
        }
        // The generator reaches every path, many times.
        assert!(total.resumes >= 20, "{total:?}");
        assert!(total.finishes >= 20, "{total:?}");
        assert!(total.refusals >= 20, "{total:?}");
        assert!(total.torn >= 20, "{total:?}");
    }

    #[tokio::test]
    async fn an_interrupted_and_torn_upload_resumes_to_the_right_digests() {
        // begin(device 0, id 0, photo 2 at 0); send 921; checkpoint; send 231;
        // interrupt leaving 77 torn bytes; resume at the durable offset; send
        // the rest; finish.
        let ops = [
            0, 0, 0, 2, 0, //
            1, 40, 0, 0, //
            2, 0, 0, 0, //
            1, 10, 0, 0, //
            3, 77, 0, 0, //
            5, 0, 0, 0, //
            1, 255, 255, 0, //
            4, 0, 0, 0,
        ];
        let dir = tempfile::tempdir().unwrap();
        let run = super::check(&ops, dir.path()).await.unwrap();
        assert_eq!((run.resumes, run.finishes, run.torn), (1, 1, 1), "{run:?}");
    }
}
