//! Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, …), for
//! deployments where several nodes share evidence without a shared file
//! system. Keys are `blobs/ab/abcdef…` — derived from the SHA-256 only, as
//! on disk.
//!
//! Ordering is the same as the filesystem store's: the object is PUT (a
//! single request for up to 16 MiB, a multipart upload of 8 MiB parts above
//! that; either way the store makes it visible whole or not at all) and only
//! after it succeeded is the evidence row committed and the receipt sent.
//! Reads stream: a video is never held whole in memory. Credentials come from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
//! `AWS_SESSION_TOKEN`), never from the configuration file.
//!
//! The methods block: they are called from blocking threads, as the
//! filesystem store's are, and run the request on the server's runtime.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Where the objects are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The endpoint URL (`https://…`); none for AWS itself.
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
}

/// The object-store blobs.
#[derive(Debug, Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Handle,
}

impl ObjectBlobs {
    /// Connects to `location` (no request is made until the first use).
    /// Must be called within the server's runtime.
    pub fn open(location: &S3Location) -> io::Result<Self> {
        // HTTPS to the store uses rustls with the process-wide provider: ring,
        // as everywhere else here (an error means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            .with_region(&location.region);
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(io::Error::other)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        Ok(Self {
            store: Arc::new(store),
            runtime,
        })
    }

    fn key(sha256: &[u8; 32]) -> ObjectPath {
        let name = hex::encode(sha256);
        ObjectPath::from(format!("blobs/{}/{}", &name[..2], name))
    }

    /// Whether the blob exists.
    pub fn contains(&self, sha256: &[u8; 32]) -> io::Result<bool> {
        match self.runtime.block_on(self.store.head(&Self::key(sha256))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(io::Error::other(error)),
        }
    }

    /// Stores `bytes` under `sha256` unless it is there already.
    pub fn put(&self, bytes: Vec<u8>, sha256: &[u8; 32]) -> io::Result<()> {
        if self.contains(sha256)? {
            return Ok(());
        }
        self.runtime
            .block_on(self.store.put(&Self::key(sha256), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(io::Error::other)
    }

    /// Stores the file at `path` (whose SHA-256 is `sha256`) unless the
    /// object is there already, reading it a part at a time.
    pub fn put_file(&self, path: &std::path::Path, sha256: &[u8; 32]) -> io::Result<()> {
        use std::io::Read;
        const SINGLE_PUT_BYTES_MAX: u64 = 16 << 20;
        const PART_BYTES: usize = 8 << 20;
        if self.contains(sha256)? {
            return Ok(());
        }
        let mut file = std::fs::File::open(path)?;
        if file.metadata()?.len() <= SINGLE_PUT_BYTES_MAX {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            return self.put(bytes, sha256);
        }
        self.runtime.block_on(async {
            let upload = self
                .store
                .put_multipart(&Self::key(sha256))
                .await
                .map_err(io::Error::other)?;
            let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut buffer = vec![0u8; PART_BYTES];
            loop {
                let read = match file.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) => {
                        let _ = writer.abort().await;
                        return Err(error);
                    }
                };
                // At most two parts in flight: bounded memory.
                writer.wait_for_capacity(2).await.map_err(io::Error::other)?;
                writer.write(&buffer[..read]);
            }
            writer.finish().await.map(|_| ()).map_err(io::Error::other)
        })
    }

    /// The object of a blob (a missing one is `NotFound`).
    async fn get(&self, sha256: &[u8; 32]) -> io::Result<object_store::GetResult> {
        self.store
            .get(&Self::key(sha256))
            .await
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => io::Error::from(io::ErrorKind::NotFound),
                other => io::Error::other(other),
            })
    }

    /// A blob as a stream of byte chunks, read as they come.
    pub fn reader(&self, sha256: &[u8; 32]) -> io::Result<RemoteReader> {
        let stream = self
            .runtime
            .block_on(async { Ok::<_, io::Error>(self.get(sha256).await?.into_stream()) })?;
        Ok(RemoteReader {
            runtime: self.runtime.clone(),
            stream,
            current: bytes::Bytes::new(),
        })
    }

    /// Reads a blob.
    pub fn read(&self, sha256: &[u8; 32]) -> io::Result<Vec<u8>> {
        self.runtime.block_on(async {
            let object = self.get(sha256).await?;
            object.bytes().await.map(|b| b.to_vec()).map_err(io::Error::other)
        })
    }

    /// Every blob with its age.
    pub fn list(&self) -> io::Result<Vec<([u8; 32], Duration)>> {
        let prefix = ObjectPath::from("blobs");
        let objects: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(io::Error::other)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?;
                let sha256 = <[u8; 32]>::try_from(hex::decode(name).ok()?).ok()?;
                let age_ms = now_ms
                    .saturating_sub(meta.last_modified.timestamp_millis())
                    .max(0);
                let age = Duration::from_millis(age_ms as u64);
                Some((sha256, age))
            })
            .collect())
    }

    /// Removes a blob.
    pub fn remove(&self, sha256: &[u8; 32]) -> io::Result<()> {
        self.runtime
            .block_on(self.store.delete(&Self::key(sha256)))
            .map_err(io::Error::other)
    }
}

/// A remote blob read as a [`std::io::Read`], one chunk of the response at
/// a time (from a blocking thread).
pub struct RemoteReader {
    runtime: tokio::runtime::Handle,
    stream: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl io::Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use futures::StreamExt;
        while self.current.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(chunk) => self.current = chunk.map_err(io::Error::other)?,
            }
        }
        let take = out.len().min(self.current.len());
        out[..take].copy_from_slice(&self.current.split_to(take));
        Ok(take)
    }
}
