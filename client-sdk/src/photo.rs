//! Media uploads — photos, video, audio, documents (the type says "photo"
//! for history): what the terminal declares, and progress reports.

use fieldlink_protocol::pb;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A photo, video, recording or document to upload: its bytes (in memory,
/// or a file read a piece at a time as it is sent) and what the terminal
/// recorded about it.
///
/// The SHA-256 is computed once, when the upload is built; the server
/// refuses bytes that do not match it.
#[derive(Debug, Clone)]
pub struct PhotoUpload {
    evidence_id: String,
    record_id: String,
    content_type: String,
    captured_at_ms: i64,
    capture_place: Option<pb::Place>,
    case_id: String,
    sha256: [u8; 32],
    /// A memory upload's SM3, once [`PhotoUpload::with_sm3`] computed it
    /// (a file's is in its [`Source::File`]).
    memory_sm3: Option<[u8; 32]>,
    source: Source,
}

/// Where an upload's bytes are.
#[derive(Debug, Clone)]
pub enum Source {
    /// In memory.
    Memory(bytes::Bytes),
    /// A file, never read whole (a body-camera video of several GiB); its
    /// SM3 was computed with its SHA-256, for the capture signature.
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Its size when it was hashed.
        size_bytes: u64,
        /// Its SM3.
        sm3: [u8; 32],
    },
}

impl PhotoUpload {
    /// A new upload with a fresh UUIDv7 evidence id. `content_type` is one
    /// of `Welcome.limits.content_types` (`image/jpeg`, `video/mp4`,
    /// `audio/mp4`, `application/pdf`, …; [`ContentType::sniff`] guesses it
    /// from the first bytes).
    ///
    /// [`ContentType::sniff`]: fieldlink_protocol::photo::ContentType::sniff
    pub fn new(
        record_id: &str,
        content_type: &str,
        captured_at_ms: i64,
        bytes: impl Into<bytes::Bytes>,
    ) -> Self {
        Self::with_id(
            &Uuid::now_v7().to_string(),
            record_id,
            content_type,
            captured_at_ms,
            bytes,
        )
    }

    /// An upload under a known evidence id (e.g. one kept across an app restart).
    pub fn with_id(
        evidence_id: &str,
        record_id: &str,
        content_type: &str,
        captured_at_ms: i64,
        bytes: impl Into<bytes::Bytes>,
    ) -> Self {
        let bytes = bytes.into();
        let sha256 = Sha256::digest(&bytes).into();
        Self::with_source(
            [evidence_id, record_id, content_type],
            captured_at_ms,
            sha256,
            Source::Memory(bytes),
        )
    }

    /// The upload of `source`: `[evidence_id, record_id, content_type]`,
    /// no place or case yet.
    fn with_source(ids: [&str; 3], captured_at_ms: i64, sha256: [u8; 32], source: Source) -> Self {
        let [evidence_id, record_id, content_type] = ids;
        Self {
            evidence_id: evidence_id.to_owned(),
            record_id: record_id.to_owned(),
            content_type: content_type.to_owned(),
            captured_at_ms,
            capture_place: None,
            case_id: String::new(),
            sha256,
            memory_sm3: None,
            source,
        }
    }

    /// Computes the SM3 of an upload in memory now, at capture time, so
    /// that signing the capture later (the device signature covers SHA-256
    /// and SM3) does not read the bytes again while the upload is sent. A
    /// file's SM3 is computed when the upload is built, so this changes
    /// nothing for it.
    pub fn with_sm3(mut self) -> Self {
        if let Source::Memory(bytes) = &self.source {
            use sm3::Digest as _;
            self.memory_sm3 = Some(sm3::Sm3::digest(bytes).into());
        }
        self
    }

    /// An upload of the file at `path`, read a piece at a time (hashed now,
    /// SHA-256 and SM3 in one pass on a blocking thread; sent later from the
    /// file, which must not change meanwhile: the server refuses bytes that
    /// do not match the digest). A fresh UUIDv7 evidence id.
    pub async fn from_file(
        record_id: &str,
        content_type: &str,
        captured_at_ms: i64,
        path: impl Into<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        Self::from_file_with_id(
            &Uuid::now_v7().to_string(),
            record_id,
            content_type,
            captured_at_ms,
            path,
        )
        .await
    }

    /// [`PhotoUpload::from_file`] under a known evidence id.
    pub async fn from_file_with_id(
        evidence_id: &str,
        record_id: &str,
        content_type: &str,
        captured_at_ms: i64,
        path: impl Into<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        let path = path.into();
        let hashed = path.clone();
        let (sha256, sm3, size_bytes) = tokio::task::spawn_blocking(move || hash_file(&hashed))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(Self::with_source(
            [evidence_id, record_id, content_type],
            captured_at_ms,
            sha256,
            Source::File {
                path,
                size_bytes,
                sm3,
            },
        ))
    }

    /// Where the photo was taken, as the terminal's GPS said.
    pub fn at(mut self, latitude: f64, longitude: f64, accuracy_m: f32) -> Self {
        self.capture_place = Some(pb::Place {
            latitude,
            longitude,
            address: String::new(),
            accuracy_m,
        });
        self
    }

    /// The case the photo belongs to.
    pub fn in_case(mut self, case_id: &str) -> Self {
        self.case_id = case_id.to_owned();
        self
    }

    /// The evidence id.
    pub fn evidence_id(&self) -> &str {
        &self.evidence_id
    }

    /// The photo's SHA-256 (compare it with the receipt's:
    /// `photo.sha256() == receipt.sha256`).
    pub fn sha256(&self) -> fieldlink_protocol::Digest {
        fieldlink_protocol::Digest::new(self.sha256)
    }

    /// The size in bytes.
    pub fn size_bytes(&self) -> u64 {
        match &self.source {
            Source::Memory(bytes) => bytes.len() as u64,
            Source::File { size_bytes, .. } => *size_bytes,
        }
    }

    /// Where the bytes are.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The bytes, when they are in memory.
    pub fn bytes(&self) -> Option<&bytes::Bytes> {
        match &self.source {
            Source::Memory(bytes) => Some(bytes),
            Source::File { .. } => None,
        }
    }

    /// SHA-256 and SM3 when both are known without reading the bytes (a
    /// file's, computed when the upload was built; a memory upload's after
    /// [`PhotoUpload::with_sm3`]).
    pub fn digests(&self) -> Option<fieldlink_protocol::Digests> {
        let sm3 = match &self.source {
            Source::Memory(_) => self.memory_sm3?,
            Source::File { sm3, .. } => *sm3,
        };
        Some(fieldlink_protocol::Digests {
            sha256: fieldlink_protocol::Digest::new(self.sha256),
            sm3: fieldlink_protocol::Digest::new(sm3),
        })
    }

    /// When the photo was taken, ms since the Unix epoch.
    pub fn captured_at_ms(&self) -> i64 {
        self.captured_at_ms
    }

    /// Where it was taken (latitude, longitude), if given.
    pub fn place(&self) -> Option<(f64, f64)> {
        self.capture_place.as_ref().map(|p| (p.latitude, p.longitude))
    }

    /// The header for a stream that starts at `offset`.
    pub fn header(&self, offset: u64) -> pb::PhotoHeader {
        pb::PhotoHeader {
            evidence_id: self.evidence_id.clone(),
            record_id: self.record_id.clone(),
            size_bytes: self.size_bytes(),
            sha256: self.sha256.to_vec(),
            content_type: self.content_type.clone(),
            captured_at_ms: self.captured_at_ms,
            capture_place: self.capture_place.clone(),
            offset,
            case_id: self.case_id.clone(),
        }
    }
}

/// SHA-256, SM3 and size of a file, read a piece at a time.
fn hash_file(path: &std::path::Path) -> std::io::Result<([u8; 32], [u8; 32], u64)> {
    use sm3::Digest as _;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut sha256 = Sha256::new();
    let mut sm3 = sm3::Sm3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok((sha256.finalize().into(), sm3.finalize().into(), size));
        }
        size += read as u64;
        sha2::Digest::update(&mut sha256, &buffer[..read]);
        sm3.update(&buffer[..read]);
    }
}

/// How far an upload has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes the server holds or has been sent on the current stream.
    pub sent_bytes: u64,
    /// The photo's size.
    pub total_bytes: u64,
    /// Which attempt this is (1 for the first stream).
    pub attempt: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_upload_knows_its_sm3_only_once_computed() {
        use sm3::Digest as _;
        let bytes = b"\xff\xd8 not really a photo".to_vec();
        let upload = PhotoUpload::new(&Uuid::now_v7().to_string(), "image/jpeg", 1, bytes.clone());
        assert!(upload.digests().is_none());
        let digests = upload.with_sm3().digests().expect("computed at capture");
        assert_eq!(
            *digests.sm3.as_bytes(),
            <[u8; 32]>::from(sm3::Sm3::digest(&bytes))
        );
        assert_eq!(
            *digests.sha256.as_bytes(),
            <[u8; 32]>::from(Sha256::digest(&bytes))
        );
    }
}
