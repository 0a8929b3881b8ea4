//! The log's side of witnessing: sending a signed checkpoint to each
//! configured witness (C2SP tlog-witness `add-checkpoint`) with a
//! consistency proof from the size the witness last cosigned, and keeping
//! the cosignature it answers with. Used by the running server after each
//! checkpoint (so witnesses follow the log as it grows) and by the export
//! (whose package carries the cosigned checkpoint).

use fieldlink_protocol::cosignature;

use crate::storage::{LogStore, StorageError, StoredCheckpoint};
use crate::witness::AddCheckpoint;

/// How long one request to a witness may take.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A witness the log reports to: `URL KEY` in the configuration.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// The witness's base URL (`http://host:port`).
    pub url: String,
    /// Its cosignature/v1 verifier key.
    pub key: String,
    /// The size it last cosigned, as far as this process knows.
    pub known_size: u64,
}

impl WitnessEndpoint {
    /// Parses a `witnesses` configuration entry: the URL, a space, the key.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (url, key) = entry
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("witness {entry:?}: expected `URL KEY`"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("witness {url:?}: not an http(s) URL"));
        }
        cosignature::CosignatureVerifier::new(key.trim()).map_err(|e| format!("witness {url}: {e}"))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            key: key.trim().to_owned(),
            known_size: 0,
        })
    }
}

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum WitnessCallError {
    /// The witness could not be reached or answered garbage.
    #[error("witness {url}: {detail}")]
    Unreachable {
        /// The witness.
        url: String,
        /// What happened.
        detail: String,
    },
    /// The witness refused the checkpoint (a fork, a bad proof, not the log).
    #[error("witness {url} refused the checkpoint of {size} leaves: {detail}")]
    Refused {
        /// The witness.
        url: String,
        /// The checkpoint's size.
        size: u64,
        /// Its answer.
        detail: String,
    },
    /// The witness has cosigned a larger tree than this checkpoint.
    #[error("witness {url} has cosigned {witnessed} leaves, more than this checkpoint's {size}")]
    Behind {
        /// The witness.
        url: String,
        /// Its size.
        witnessed: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The log could not be read for the proof.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Asks `witness` to cosign `checkpoint`; returns the checkpoint's note with
/// the witness's cosignature line added (checked against its key).
pub async fn cosign(
    http: &reqwest::Client,
    witness: &mut WitnessEndpoint,
    storage: &dyn LogStore,
    checkpoint: &StoredCheckpoint,
) -> Result<String, WitnessCallError> {
    let unreachable = |detail: String| WitnessCallError::Unreachable {
        url: witness.url.clone(),
        detail,
    };
    // One retry: after a 409 the witness has said which size it holds.
    for _ in 0..2 {
        if witness.known_size > checkpoint.tree_size {
            return Err(WitnessCallError::Behind {
                url: witness.url.clone(),
                witnessed: witness.known_size,
                size: checkpoint.tree_size,
            });
        }
        let proof = match witness.known_size {
            0 => Vec::new(),
            old => crate::transparency::consistency_proof(storage, old, checkpoint.tree_size)
                .await?
                .into_iter()
                .map(|hash| hash.to_vec())
                .collect(),
        };
        let body = AddCheckpoint {
            old: witness.known_size,
            proof,
            note: checkpoint.note.clone(),
        }
        .encode();
        let response = http
            .post(format!("{}/add-checkpoint", witness.url))
            .timeout(REQUEST_TIMEOUT)
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| unreachable(e.to_string()))?;
        match status.as_u16() {
            200 => {
                let cosigned = format!("{}{}", checkpoint.note, text);
                cosignature::check_cosigned(&cosigned, &witness.key)
                    .map_err(|e| unreachable(format!("its answer is not its cosignature: {e}")))?;
                witness.known_size = checkpoint.tree_size;
                return Ok(cosigned);
            }
            409 => {
                witness.known_size = text
                    .trim()
                    .parse()
                    .map_err(|_| unreachable(format!("a 409 without a size: {text:?}")))?;
            }
            _ => {
                return Err(WitnessCallError::Refused {
                    url: witness.url.clone(),
                    size: checkpoint.tree_size,
                    detail: format!("{status}: {}", text.trim()),
                })
            }
        }
    }
    Err(unreachable("it keeps answering 409".into()))
}

/// The witnesses of `entries` (the `witnesses` configuration).
pub fn endpoints(entries: &[String]) -> Result<Vec<WitnessEndpoint>, String> {
    entries
        .iter()
        .map(|entry| WitnessEndpoint::parse(entry))
        .collect()
}

/// An HTTP client for witnesses (rustls with the process's ring provider).
pub fn http_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().map_err(|e| e.to_string())
}
