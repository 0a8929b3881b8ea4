//! The witness (`fieldlink-server witness`): an independent process, run by
//! another party with its own key, that cosigns the log's checkpoints
//! (C2SP tlog-cosignature) only when each one extends the last checkpoint it
//! cosigned — checked with a consistency proof. A log rewritten behind the
//! witness's back (rows altered and the tree rebuilt, or truncated and
//! re-appended) gets no cosignature, and a package or terminal that
//! requires one notices.
//!
//! It speaks C2SP tlog-witness's `add-checkpoint` over HTTP: the log POSTs
//! `old <size>`, the consistency proof from that size (one base64 hash a
//! line), an empty line and the signed checkpoint; the witness answers 200
//! with its cosignature line, 409 with its own size (text/x.tlog.size) when
//! `old` is not the size it last cosigned, 403 when the log's signature
//! does not verify, 422 when the proof does not, and 400 for anything
//! malformed. What it last cosigned is kept in a state file, written
//! (fsync, rename) before it answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::prelude::{Engine, BASE64_STANDARD};
use fieldlink_protocol::cosignature::{self, CosignatureSigner};
use fieldlink_protocol::log::{self, Checkpoint};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// Largest add-checkpoint request body.
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// What the witness last cosigned (its state file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witnessed {
    /// The log's origin.
    pub origin: String,
    /// The tree size last cosigned.
    pub size: u64,
    /// Its root, hex.
    pub root: String,
}

/// The witness's configuration.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Its private key text (`fieldlink-server witness-key`).
    pub private_key: String,
    /// The log's verifier key (its `log.pub`).
    pub log_key: String,
    /// The log's origin.
    pub origin: String,
    /// The state file.
    pub state_file: PathBuf,
}

/// Why a checkpoint was not cosigned: each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The request is not an add-checkpoint request.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The checkpoint is not signed by the log's key, or is of another log.
    #[error("the checkpoint is not the log's: {0}")]
    NotTheLog(String),
    /// `old` is not what the witness last cosigned.
    #[error("the witness last cosigned size {0}")]
    Conflict(u64),
    /// The checkpoint does not extend what the witness cosigned.
    #[error("not an extension of the cosigned tree: {0}")]
    NotAnExtension(String),
    /// The state file cannot be written.
    #[error("cannot keep the witness state: {0}")]
    State(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match &self {
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::NotTheLog(_) => StatusCode::FORBIDDEN,
            Refusal::Conflict(size) => {
                return (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, "text/x.tlog.size")],
                    format!("{size}\n"),
                )
                    .into_response()
            }
            Refusal::NotAnExtension(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::State(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// A running witness's shared state.
pub struct Witness {
    config: WitnessConfig,
    name: String,
    key: ed25519_dalek::SigningKey,
    /// What it last cosigned; held across the whole check so two requests
    /// cannot both extend the same size.
    state: Mutex<Option<Witnessed>>,
}

impl Witness {
    /// Loads the key and the state file (absent: nothing cosigned yet).
    pub fn open(config: WitnessConfig) -> Result<Self, String> {
        let (name, key) = cosignature::parse_private_key(&config.private_key).map_err(|e| e.to_string())?;
        signed_note::StandardVerifier::new(config.log_key.trim()).map_err(|e| format!("the log key: {e}"))?;
        let state = match std::fs::read(&config.state_file) {
            Ok(bytes) => Some(
                serde_json::from_slice::<Witnessed>(&bytes)
                    .map_err(|e| format!("{}: {e}", config.state_file.display()))?,
            ),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(format!("{}: {error}", config.state_file.display())),
        };
        if let Some(state) = &state {
            if state.origin != config.origin {
                return Err(format!(
                    "the state file is of log {:?}, not {:?}",
                    state.origin, config.origin
                ));
            }
        }
        Ok(Self {
            config,
            name,
            key,
            state: Mutex::new(state),
        })
    }

    /// This witness's verifier key.
    pub fn verifier_key(&self) -> String {
        cosignature::verifier_key(&self.name, &self.key.verifying_key())
    }

    /// Handles one add-checkpoint request body: the cosignature line(s).
    pub async fn add_checkpoint(&self, body: &[u8], now_secs: u64) -> Result<String, Refusal> {
        let request = AddCheckpoint::parse(body)?;
        let checkpoint = log::open_checkpoint(&request.note, &self.config.log_key, &self.config.origin)
            .map_err(|e| Refusal::NotTheLog(e.to_string()))?;
        let mut state = self.state.lock().await;
        let cosigned_size = state.as_ref().map_or(0, |s| s.size);
        if request.old != cosigned_size {
            return Err(Refusal::Conflict(cosigned_size));
        }
        if let Some(state) = state.as_ref() {
            let root: [u8; 32] = hex::decode(&state.root)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| Refusal::State("the state file's root is not 32 bytes of hex".into()))?;
            let older = Checkpoint {
                origin: state.origin.clone(),
                size: state.size,
                root,
                note: String::new(),
            };
            log::verify_consistency(&older, &checkpoint, &request.proof)
                .map_err(|e| Refusal::NotAnExtension(e.to_string()))?;
        }
        let next = Witnessed {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
            root: hex::encode(checkpoint.root),
        };
        if state.as_ref() != Some(&next) {
            save(&self.config.state_file, &next).map_err(|e| Refusal::State(e.to_string()))?;
            *state = Some(next);
        }
        let mut note = signed_note::Note::from_bytes(request.note.as_bytes())
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let text_len = note.text().len();
        let signer = CosignatureSigner::new(&self.name, self.key.clone(), now_secs);
        note.add_sigs(&[&signer])
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let bytes = note.to_bytes();
        // The new line is the last one (add_sigs appends; an older line of
        // this witness, if the log sent one, was replaced).
        let lines = String::from_utf8_lossy(&bytes[text_len + 1..]).into_owned();
        let ours = lines
            .lines()
            .last()
            .map(|line| format!("{line}\n"))
            .ok_or_else(|| Refusal::Malformed("no signature line".into()))?;
        Ok(ours)
    }
}

/// Writes the state durably: a temporary file, fsync, rename, fsync the
/// directory.
fn save(path: &Path, state: &Witnessed) -> std::io::Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    let temp = path.with_extension(format!("tmp-{}", rand::random::<u32>()));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// An add-checkpoint request.
#[derive(Debug)]
pub struct AddCheckpoint {
    /// The size the log believes the witness cosigned last.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint.
    pub proof: Vec<Vec<u8>>,
    /// The signed checkpoint.
    pub note: String,
}

impl AddCheckpoint {
    /// The request body (C2SP tlog-witness).
    pub fn encode(&self) -> String {
        let mut body = format!("old {}\n", self.old);
        for hash in &self.proof {
            body.push_str(&BASE64_STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }

    /// Parses a request body; anything else is [`Refusal::Malformed`].
    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        let bad = |why: &str| Refusal::Malformed(why.to_owned());
        if body.len() > REQUEST_BYTES_MAX {
            return Err(bad("too large"));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.lines();
        let old = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .and_then(|size| size.parse::<u64>().ok())
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        let proof = lines
            .map(|line| {
                BASE64_STANDARD
                    .decode(line)
                    .ok()
                    .filter(|hash| hash.len() == 32)
                    .ok_or_else(|| bad("a proof line is not a base64 32-byte hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > log::PROOF_HASHES_MAX {
            return Err(bad("too many proof hashes"));
        }
        Ok(Self {
            old,
            proof,
            note: note.to_owned(),
        })
    }
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match witness.add_checkpoint(&body, now_secs).await {
        Ok(line) => (StatusCode::OK, line).into_response(),
        Err(refusal) => {
            tracing::warn!(%refusal, "checkpoint not cosigned");
            refusal.into_response()
        }
    }
}

/// Serves the witness on `listener` until `shutdown`.
pub async fn serve(
    witness: Arc<Witness>,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/add-checkpoint", axum::routing::post(add_checkpoint))
        .layer(axum::extract::DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .with_state(witness);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
