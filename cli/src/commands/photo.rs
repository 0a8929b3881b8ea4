//! `fieldlink media …` (also `fieldlink photo …`): media evidence — photos
//! (JPEG, PNG, HEIC), video (MP4, MOV), audio (M4A, WAV, MP3), documents
//! (PDF) — attached to what they prove: an inspection record, a service
//! confirmation (signature, consent, the served document), an interview (its
//! recording), or a grid report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use fieldlink_client::PhotoUpload;
use fieldlink_protocol::photo::ContentType;

use super::connection::ConnectionArgs;
use super::error::CliError;
use super::output::{photo_receipt_json, print_line};

/// What to do with a photo.
#[derive(Debug, Subcommand)]
pub enum PhotoCommand {
    /// Upload a photo, video, recording or PDF as evidence for what it
    /// proves (its type is read from the file's first bytes); prints the
    /// receipt as one JSON line (`id`, `sha256`, `sm3`, `size`, `flags`, …).
    /// Shows a progress bar on a terminal; resumes by itself after a dropped
    /// connection.
    #[command(group(clap::ArgGroup::new("proves").required(true).args(["record", "service", "interview", "report"])))]
    Upload {
        /// The file: JPEG, PNG, HEIC, MP4, MOV, M4A, WAV, MP3 or PDF.
        file: PathBuf,
        /// The media type to declare [default: from the file's first bytes].
        #[arg(long)]
        content_type: Option<String>,
        /// The inspection record (UUIDv7) it belongs to.
        #[arg(long)]
        record: Option<String>,
        /// The electronic-service confirmation (UUIDv7) it belongs to.
        #[arg(long)]
        service: Option<String>,
        /// The remote interview (UUIDv7) it belongs to.
        #[arg(long)]
        interview: Option<String>,
        /// The grid report (UUIDv7) it belongs to (grid workers).
        #[arg(long)]
        report: Option<String>,
        /// Evidence id (UUIDv7) to use, e.g. to resume an earlier upload; new if absent.
        #[arg(long)]
        id: Option<String>,
        /// Capture time in ms since the Unix epoch [default: the file's modification time].
        #[arg(long)]
        captured_at_ms: Option<i64>,
        /// Capture latitude in degrees (with --longitude).
        #[arg(long, requires = "longitude", allow_hyphen_values = true)]
        latitude: Option<f64>,
        /// Capture longitude in degrees (with --latitude).
        #[arg(long, requires = "latitude", allow_hyphen_values = true)]
        longitude: Option<f64>,
        /// The case the photo belongs to.
        #[arg(long)]
        case: Option<String>,
    },
}

/// Runs a photo command.
pub async fn run(connection: &ConnectionArgs, command: PhotoCommand) -> Result<(), CliError> {
    let PhotoCommand::Upload {
        file,
        record,
        service,
        interview,
        report,
        id,
        captured_at_ms,
        latitude,
        longitude,
        case,
        content_type,
    } = command;
    // The file is sent a piece at a time (a video may be several GiB); its
    // first bytes tell its type.
    let cannot_read = |e: std::io::Error| CliError::Usage(format!("cannot read {}: {e}", file.display()));
    let mut start = [0u8; 64];
    let read = {
        use std::io::Read;
        std::fs::File::open(&file)
            .and_then(|mut f| f.read(&mut start))
            .map_err(cannot_read)?
    };
    let content_type = match content_type {
        Some(declared) => declared,
        None => match ContentType::sniff(&start[..read]) {
            Some(format) => format.as_mime().to_owned(),
            None => {
                return Err(CliError::Usage(format!(
                    "{} is not a photo, video, recording or PDF the server accepts ({}); name its type with --content-type",
                    file.display(),
                    ContentType::ALL.map(ContentType::as_mime).join(", ")
                )))
            }
        },
    };
    let captured_at_ms = match captured_at_ms {
        Some(ms) => ms,
        None => modified_ms(&file).unwrap_or_else(fieldlink_client::now_ms),
    };
    // Exactly one is given (clap's group): the item the photo belongs to.
    let record = record.or(service).or(interview).or(report).ok_or_else(|| {
        CliError::Usage("name what the photo proves: --record, --service, --interview or --report".into())
    })?;
    let evidence_id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut photo =
        PhotoUpload::from_file_with_id(&evidence_id, &record, &content_type, captured_at_ms, &file)
            .await
            .map_err(cannot_read)?;
    if let (Some(latitude), Some(longitude)) = (latitude, longitude) {
        photo = photo.at(latitude, longitude, 0.0);
    }
    if let Some(case) = case {
        photo = photo.in_case(&case);
    }
    let client = connection.connect(false).await?;
    let mut bar = ProgressBar::new(std::io::stderr().is_terminal());
    let receipt = client
        .upload_photo(&photo, |p| bar.show(p.sent_bytes, p.total_bytes))
        .await;
    bar.done();
    print_line(&photo_receipt_json(&receipt?))?;
    client.close().await;
    Ok(())
}

fn modified_ms(file: &Path) -> Option<i64> {
    let modified = std::fs::metadata(file).ok()?.modified().ok()?;
    Some(modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// Upload progress: a bar redrawn in place on a terminal; nothing otherwise
/// (the receipt line on stdout is the output that counts).
struct ProgressBar {
    terminal: bool,
    drawn_percent: Option<u64>,
}

impl ProgressBar {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            drawn_percent: None,
        }
    }

    fn show(&mut self, sent_bytes: u64, total_bytes: u64) {
        if !self.terminal || total_bytes == 0 {
            return;
        }
        let percent = sent_bytes.saturating_mul(100) / total_bytes;
        if self.drawn_percent == Some(percent) {
            return;
        }
        self.drawn_percent = Some(percent);
        let filled = (percent / 4) as usize;
        eprint!(
            "\r[{}{}] {percent:>3}% {:.1}/{:.1} MiB",
            "#".repeat(filled),
            " ".repeat(25 - filled.min(25)),
            sent_bytes as f64 / 1_048_576.0,
            total_bytes as f64 / 1_048_576.0
        );
    }

    fn done(&self) {
        if self.terminal && self.drawn_percent.is_some() {
            eprintln!();
        }
    }
}
