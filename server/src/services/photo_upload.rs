//! UploadPhoto: a header, then the file's bytes on the same stream — a
//! photo, a video, an audio recording or a document (the name is history).
//!
//! The order of the write path is what makes a receipt trustworthy: bytes are
//! hashed (SHA-256 and SM3) and their structure checked by the format's
//! validator while they are written to a partial file (header dimensions
//! against the limits, JPEG segments, PNG chunk CRCs, ISO-BMFF boxes and
//! codecs, RIFF chunks, MP3 frames, the PDF trailer; nothing is decoded, and
//! a file that is not what it claims is refused while it arrives); at the
//! end the file is fsync'd and, at the same time, read back and hashed
//! again; the digests are compared with the declaration and the read-back;
//! then the file is renamed into the content-addressed store and the
//! directory fsync'd; then the evidence row is committed, with its
//! post-processing job (the thumbnail: [`crate::evidence::media_worker`])
//! and the end of the upload (its partial row, its blob lease); only then
//! is the receipt sent. A crash at any step leaves nothing visible, an
//! orphan blob (collected later), or a committed item whose queued job
//! resumes.

use std::time::Duration;

use fieldlink_protocol::log::LeafKind;
use fieldlink_protocol::pb;
use fieldlink_protocol::photo::{ContentType, PhotoHeader};
use fieldlink_protocol::validate;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::evidence::exif_check::{self, ExifFacts, Tolerances};
use crate::evidence::partial::{Digests, ReadBack, UploadWriter, WriterError};
use crate::evidence::upload_plan::{plan_start, Declared, Held, Start};
use crate::services::capture_check;
use crate::services::commit::wire_receipt;
use crate::session::Session;
use crate::state::AppState;
use crate::storage::{CommitOutcome, ItemIndex, ItemKind, NewItem, PartialUpload, PhotoIndex, StoredPhoto};

/// How long a blob is leased while an upload files it (the janitor keeps a
/// leased blob; the lease is released at the end, or expires).
const BLOB_LEASE_MS: i64 = 60 * 60 * 1000;

/// Chunks (received packets' data) taken from the stream at once.
const CHUNKS_PER_READ: usize = 64;

/// No byte for this long is a pause: what arrived is made durable then
/// (once the checkpoint interval allows), even short of a full step.
const PAUSE: Duration = Duration::from_millis(200);

/// Receives, checks and stores one photo.
pub async fn upload(
    state: &AppState,
    session: &Session,
    header: pb::PhotoHeader,
    header_bytes: &[u8],
    capture: Option<&pb::CaptureSignature>,
    recv: &mut fieldlink_link::RecvStream,
) -> Result<pb::Receipt, ServiceError> {
    // A resend of a stored photo is answered before anything else, and its
    // bytes are not read at all.
    let evidence_id = validate::item_id("evidence_id", &header.evidence_id)?;
    if let Some(stored) = state.storage.photo(evidence_id).await? {
        let stored_header = state.storage.item(evidence_id).await?.map(|item| item.body);
        return replay_or_conflict(stored, stored_header.as_deref(), &header);
    }
    if let Some(other) = state.storage.item(evidence_id).await? {
        // The id names an item of another kind.
        return Err(ServiceError::Conflict {
            existing_seq: other.receipt.server_seq,
        });
    }
    let context = state.validation_context();
    let header_checked = PhotoHeader::parse(header, &context, &state.config.media_bytes_max())?;
    check_record_link(state, session, header_checked.record_id).await?;
    crate::services::case_access::admit(state, session, header_checked.case_id.as_deref()).await?;
    // The device's signature is checked before any byte is read; its SM3
    // once the bytes are in.
    let expected = capture_check::Expected {
        kind: LeafKind::Photo,
        item_id: header_checked.evidence_id,
        sha256: &header_checked.sha256,
        sm3: None,
        photo: Some((
            header_checked.captured_at_ms,
            header_checked
                .capture_place
                .as_ref()
                .map(|p| (p.latitude, p.longitude)),
        )),
    };
    let capture_checked = capture_check::check(session, capture, &expected)?;

    let _upload = state
        .device_limits
        .upload(&session.device_id)
        .map_err(|refusal| match refusal {
            crate::device_limits::UploadRefusal::Device(limit) => ServiceError::UploadLimit { limit },
            crate::device_limits::UploadRefusal::Server(limit) => ServiceError::ServerUploadLimit { limit },
        })?;
    tracing::debug!(device = %session.device_id, evidence = %header_checked.evidence_id, "upload started");
    let slot = state
        .evidence
        .slots
        .acquire(&session.device_id, header_checked.evidence_id)
        .await;
    let lease = crate::evidence::upload_lease::UploadLease::take(
        state,
        &session.device_id,
        header_checked.evidence_id,
    )
    .await?;
    let (offset, fresh) = plan_this_stream(state, session, &header_checked).await?;
    let path = state
        .evidence
        .partials
        .path_of(&session.device_id, header_checked.evidence_id);
    let validator = fieldlink_media::Validator::new(
        header_checked.content_type,
        header_checked.size_bytes,
        media_limits(),
    );
    let starting = UploadWriter::start(
        path.clone(),
        offset,
        state.evidence.faults.clone(),
        Some(validator),
    );
    // A fresh upload's row is written while its writer starts (a thread
    // and a file): before any byte can become durable either way.
    let started = match fresh {
        Some(row) => {
            let (registered, started) = tokio::join!(state.storage.put_partial_upload(&row), starting);
            if let Err(error) = registered {
                if let Ok(writer) = started {
                    writer.abandon().await;
                }
                // No row names the file (the janitor would find it later).
                let _ = state
                    .evidence
                    .partials
                    .remove(&session.device_id, header_checked.evidence_id);
                return Err(error.into());
            }
            started
        }
        None => starting.await,
    };
    let writer = match started {
        Ok(writer) => writer,
        Err(error) => {
            // The partial file does not hold what its row says (lost, cut):
            // start this upload over rather than trust it.
            tracing::warn!(%error, evidence = %header_checked.evidence_id, "partial upload unusable; discarded");
            discard(state, session, header_checked.evidence_id).await;
            return Err(ServiceError::OffsetMismatch { durable_offset: 0 });
        }
    };

    let received = match receive(
        state,
        session,
        &header_checked,
        recv,
        &writer,
        offset,
        &slot.cancelled,
    )
    .await
    {
        Ok(received) => received,
        Err(error) => {
            if matches!(
                error,
                ServiceError::SizeMismatch { .. } | ServiceError::Media { .. }
            ) {
                // Never completable as sent: the stream is stopped and
                // what arrived is dropped.
                recv.stop(fieldlink_protocol::stream_code::FRAME_REFUSED);
                discard(state, session, header_checked.evidence_id).await;
            } else {
                // Interrupted: keep what arrived, durably, for a resume.
                checkpoint(state, session, header_checked.evidence_id, &writer).await;
            }
            return Err(error);
        }
    };
    if received < header_checked.size_bytes {
        discard(state, session, header_checked.evidence_id).await;
        return Err(ServiceError::SizeMismatch {
            declared_bytes: header_checked.size_bytes,
            received_bytes: received,
        });
    }
    // Held under the photo's id: its commit releases it (`insert_index`).
    let holder = header_checked.evidence_id.to_string();
    // The blob is leased while the writer finishes: adopting may find the
    // same bytes in the store already and rely on them, which the janitor
    // must then not remove. Leased under the declared digest, which is the
    // only one filed.
    let (finished, leased) = tokio::join!(
        finish(state, session, &header_checked, writer, capture_checked.as_ref()),
        state.storage.take_blob_lease(
            &header_checked.sha256,
            &holder,
            (state.clock)().saturating_add(BLOB_LEASE_MS),
        ),
    );
    let checked = async {
        leased?;
        let (digests, facts) = finished?;
        // Still this stream's upload (no other node took it over meanwhile).
        lease.confirm().await?;
        if digests.read_back_sha256 != digests.sha256 {
            tracing::error!(evidence = %header_checked.evidence_id, "the upload's file changed after it was hashed: refused, not filed");
            discard(state, session, header_checked.evidence_id).await;
            return Err(ServiceError::StorageUnavailable);
        }
        Ok((digests, facts))
    }
    .await;
    let (digests, facts) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            let _ = state
                .storage
                .release_blob_lease(&header_checked.sha256, &holder)
                .await;
            return Err(error);
        }
    };
    let content_type = header_checked.content_type;
    let utc_offset = state.config.exif_default_utc_offset_minutes;
    let tolerances = Tolerances {
        time_ms: state.config.exif_time_tolerance_ms,
        distance_m: state.config.exif_distance_tolerance_m,
        default_utc_offset_minutes: utc_offset,
    };
    let mut flags = Vec::new();
    let mut exif = ExifFacts::default();
    match content_type {
        // EXIF is compared for the pictures it is read from.
        ContentType::Jpeg | ContentType::Png => {
            exif = facts
                .exif
                .as_deref()
                .map(|tiff| exif_check::read_tiff(tiff, utc_offset))
                .unwrap_or_default();
            flags = exif_check::flags(
                &exif,
                header_checked.captured_at_ms,
                header_checked.capture_place.as_ref(),
                &tolerances,
            );
        }
        _ => {
            if let Some(created) = facts.created_at_ms {
                if created.abs_diff(header_checked.captured_at_ms) > tolerances.time_ms.unsigned_abs() {
                    flags.push(pb::EvidenceFlag::ContainerTimeMismatch);
                }
            }
        }
    }
    if facts.trailing_bytes {
        flags.push(pb::EvidenceFlag::TrailingBytes);
    }

    // Into the content-addressed store (leased above): rename, fsync the
    // directory.
    let sha256 = digests.sha256;
    let blobs = state.evidence.blobs.clone();
    let adopted = tokio::task::spawn_blocking(move || blobs.adopt(&path, &sha256))
        .await
        .map_err(|_| ServiceError::StorageUnavailable)
        .and_then(|done| done.map_err(|error| io_failure(&error)));
    if let Err(error) = adopted {
        let _ = state.storage.release_blob_lease(&sha256, &holder).await;
        return Err(error);
    }

    let index = PhotoIndex {
        record_id: header_checked.record_id.to_string(),
        size_bytes: digests.size_bytes,
        sm3: digests.sm3,
        content_type: content_type.as_mime().to_owned(),
        width: facts.width,
        height: facts.height,
        captured_at_ms: header_checked.captured_at_ms,
        position: header_checked
            .capture_place
            .as_ref()
            .map(|p| (p.latitude, p.longitude)),
        exif_time_ms: exif.captured_at_ms,
        exif_position: exif.position,
        flags: flags.iter().map(|flag| *flag as i32).collect(),
        duration_ms: facts.duration_ms,
        codecs: codecs(&facts),
        container_time_ms: facts.created_at_ms,
    };
    let item = NewItem {
        item_id: header_checked.evidence_id,
        kind: ItemKind::Photo,
        device_id: session.device_id.clone(),
        officer_id: session.officer.id.clone(),
        case_id: header_checked.case_id.clone(),
        sha256: digests.sha256,
        body: header_bytes.to_vec(),
        index: ItemIndex::Photo(index.clone()),
        capture: capture_checked.map(|checked| checked.capture),
    };
    let outcome = match state
        .evidence
        .faults
        .check(crate::evidence::faults::FaultPoint::Commit)
    {
        Ok(()) => state.committer.commit(item).await,
        Err(error) => Err(crate::storage::group_commit::CommitError::Storage(
            error.to_string(),
        )),
    };
    // The upload is over whatever the outcome: its bytes moved into the
    // store. A stored photo's commit deleted its partial upload row and
    // released its blob lease in the same transaction. Otherwise the blob
    // is unreferenced (collected later, or reused by the retry), the retry
    // starts from 0, and the lease has done its work (one left behind
    // expires).
    if !matches!(outcome, Ok(CommitOutcome::Stored(_))) {
        let _ = state
            .storage
            .delete_partial_upload(&session.device_id, header_checked.evidence_id)
            .await;
        let _ = state.storage.release_blob_lease(&sha256, &holder).await;
    }
    let outcome = outcome?;
    drop(slot);
    state
        .evidence
        .slots
        .release(&session.device_id, header_checked.evidence_id);
    let (receipt, replayed) = match outcome {
        CommitOutcome::Stored(receipt) => (receipt, false),
        CommitOutcome::Replayed(receipt) => (receipt, true),
        CommitOutcome::Conflict { existing_seq } => return Err(ServiceError::Conflict { existing_seq }),
        CommitOutcome::StepTaken { at_ms } => return Err(ServiceError::step_taken(at_ms)),
    };
    if !replayed {
        // Its thumbnail is queued with it; the worker may start now.
        state.evidence.media_wake.notify_one();
    }
    Ok(photo_receipt(wire_receipt(receipt, replayed), &index))
}

/// The end of the bytes: the writer's fsync, its digests and read-back,
/// and the validator's facts, checked against the declaration and the
/// device's capture signature. Bytes that are not what was declared are
/// discarded.
async fn finish(
    state: &AppState,
    session: &Session,
    header: &PhotoHeader,
    writer: UploadWriter,
    capture: Option<&capture_check::Checked>,
) -> Result<(Digests, fieldlink_media::Facts), ServiceError> {
    // What is filed is what was hashed: the writer reads the file back
    // (streamed, on a bulk thread, a bounded number at a time) while it
    // fsyncs it, and it must hash to the running digest (another writer, a
    // disk, could have changed it).
    let read_back = ReadBack {
        permit: state.evidence.check_permits.clone().acquire_owned().await.ok(),
        tamper: state
            .evidence
            .faults
            .check(crate::evidence::faults::FaultPoint::PartialChanged)
            .is_err(),
    };
    let mut digests = match writer.finish(read_back).await {
        Ok(digests) => digests,
        Err(WriterError::Refused(error)) => {
            discard(state, session, header.evidence_id).await;
            return Err(ServiceError::Media {
                kind: header.content_type.kind(),
                error,
            });
        }
        Err(error) => return Err(io_failure(&error)),
    };
    if digests.sha256 != header.sha256 {
        discard(state, session, header.evidence_id).await;
        return Err(ServiceError::DigestMismatch);
    }
    if let Err(error) = capture_check::check_sm3(capture, &digests.sm3) {
        discard(state, session, header.evidence_id).await;
        return Err(error);
    }
    let Some(facts) = digests.facts.take() else {
        return Err(io_failure(&"the upload ended without the validator's facts"));
    };
    Ok((digests, facts))
}

/// A receipt with the photo's facts added.
pub fn photo_receipt(mut receipt: pb::Receipt, index: &PhotoIndex) -> pb::Receipt {
    receipt.sm3 = index.sm3.to_vec();
    receipt.size_bytes = index.size_bytes;
    receipt.flags = index.flags.clone();
    receipt
}

/// A resend of a stored photo is a replay only if it declares the same
/// bytes and the same header (record, time, place, case, type, size) as the
/// stored one, whatever offset it starts at; anything else is a conflict,
/// never a receipt for a header that was not stored.
fn replay_or_conflict(
    stored: StoredPhoto,
    stored_header: Option<&[u8]>,
    header: &pb::PhotoHeader,
) -> Result<pb::Receipt, ServiceError> {
    let from_start = |mut header: pb::PhotoHeader| {
        header.offset = 0;
        header
    };
    let same_header = stored_header
        .and_then(|bytes| <pb::PhotoHeader as prost::Message>::decode(bytes).ok())
        .is_some_and(|stored| from_start(stored) == from_start(header.clone()));
    if stored.receipt.sha256.as_slice() == header.sha256.as_slice() && same_header {
        Ok(photo_receipt(wire_receipt(stored.receipt, true), &stored.index))
    } else {
        Err(ServiceError::Conflict {
            existing_seq: stored.receipt.server_seq,
        })
    }
}

/// Who may attach media to a record: the device and officer that created
/// it; or a team-mate from their own handheld, when the record names them
/// among its officers (an inspection's or service's `officer_ids`, an
/// interview's `interviewer_ids`) and the directory has them in the
/// creator's team. A record not stored yet is fine: it may arrive after its
/// media.
async fn check_record_link(state: &AppState, session: &Session, record_id: Uuid) -> Result<(), ServiceError> {
    let Some(record) = state.storage.item(record_id).await? else {
        return Ok(());
    };
    // What a photo may prove: a record, a service confirmation (signature,
    // consent, the served document), an interview, a grid report.
    let linkable = [
        ItemKind::Inspection.as_str(),
        ItemKind::Service.as_str(),
        ItemKind::Interview.as_str(),
        ItemKind::GridReport.as_str(),
    ];
    let creator = record.device_id == session.device_id && record.officer_id == session.officer.id;
    let team_mate = || {
        let named = named_officers(&record.kind, &record.body);
        let team_of = |officer: &str| state.directory.get().officer(officer).map(|o| o.team_id.clone());
        record.officer_id != session.officer.id
            && named.contains(&session.officer.id)
            && team_of(&session.officer.id).is_some_and(|team| Some(team) == team_of(&record.officer_id))
    };
    if !linkable.contains(&record.kind.as_str()) || !(creator || team_mate()) {
        return Err(ServiceError::PermissionDenied {
            field: "record_id".into(),
            message: "media may be attached only to records, services, interviews and grid reports this device and officer created, or that name this officer beside a team-mate who created them".into(),
        });
    }
    Ok(())
}

/// The officers a stored record names (besides its creator).
fn named_officers(kind: &str, body: &[u8]) -> Vec<String> {
    use prost::Message;
    let named = if kind == ItemKind::Inspection.as_str() {
        pb::InspectionRecord::decode(body).map(|r| r.officer_ids)
    } else if kind == ItemKind::Service.as_str() {
        pb::ServiceConfirmation::decode(body).map(|s| s.officer_ids)
    } else if kind == ItemKind::Interview.as_str() {
        pb::InterviewRecord::decode(body).map(|i| i.interviewer_ids)
    } else {
        Ok(Vec::new())
    };
    named.unwrap_or_default()
}

/// Decides where this stream's bytes start; for a fresh upload, also the
/// partial upload row to write (the caller writes it).
async fn plan_this_stream(
    state: &AppState,
    session: &Session,
    header: &PhotoHeader,
) -> Result<(u64, Option<PartialUpload>), ServiceError> {
    let existing = state
        .storage
        .partial_upload(&session.device_id, header.evidence_id)
        .await?;
    let held_bytes = match header.offset {
        // Only a fresh start needs the device's quota.
        0 => state.storage.partial_bytes_for_device(&session.device_id).await?,
        _ => 0,
    };
    let held = existing.as_ref().map(|p| Held {
        header_sha256: p.header_sha256,
        size_bytes: p.size_bytes,
        durable_offset: p.durable_offset,
    });
    let declared = Declared {
        sha256: header.sha256,
        size_bytes: header.size_bytes,
        offset: header.offset,
    };
    match plan_start(
        held,
        declared,
        held_bytes,
        state.config.partial_bytes_per_device_max,
    ) {
        Start::Resume(offset) => Ok((offset, None)),
        Start::Fresh => {
            let now_ms = (state.clock)();
            let row = PartialUpload {
                evidence_id: header.evidence_id,
                device_id: session.device_id.clone(),
                officer_id: session.officer.id.clone(),
                header_sha256: header.sha256,
                size_bytes: header.size_bytes,
                durable_offset: 0,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
            };
            Ok((0, Some(row)))
        }
        Start::OverQuota {
            held_bytes,
            limit_bytes,
        } => Err(ServiceError::PartialQuota {
            held_bytes,
            limit_bytes,
        }),
        Start::OffsetMismatch { durable_offset } => Err(ServiceError::OffsetMismatch { durable_offset }),
    }
}

/// Reads the photo's bytes into the writer; returns the total held when the
/// stream finished.
async fn receive(
    state: &AppState,
    session: &Session,
    header: &PhotoHeader,
    recv: &mut fieldlink_link::RecvStream,
    writer: &UploadWriter,
    offset: u64,
    superseded: &tokio_util::sync::CancellationToken,
) -> Result<u64, ServiceError> {
    use tokio::time::Instant;
    let chunk_timeout = Duration::from_millis(state.config.upload_chunk_timeout_ms);
    let checkpoint_bytes = u64::from(state.config.upload_checkpoint_bytes);
    let checkpoint_interval = Duration::from_millis(state.config.upload_checkpoint_interval_ms);
    let kind = header.content_type.kind();
    let mut last_checkpoint = Instant::now();
    let mut last_chunk = Instant::now();
    let mut received = offset;
    let mut since_checkpoint = 0u64;
    let mut chunks: Vec<bytes::Bytes> = vec![bytes::Bytes::new(); CHUNKS_PER_READ];
    loop {
        // Wake for the next chunk; or, while bytes wait to become durable,
        // when the stream has paused (a checkpoint is then made even short
        // of a full step); or at the silence limit.
        let stalled_at = last_chunk + chunk_timeout;
        let pending = since_checkpoint > 0;
        let wake = if pending {
            stalled_at.min((last_checkpoint + checkpoint_interval).max(last_chunk + PAUSE))
        } else {
            stalled_at
        };
        let next = tokio::select! {
            // Every chunk the stream holds at once (packets arrive a
            // datagram each): one write to the writer thread for them all.
            // (the reads are cancel-safe: a wake-up loses no byte.)
            next = tokio::time::timeout_at(wake, read_chunks(recv, &mut chunks)) => next,
            () = superseded.cancelled() => return Err(ServiceError::Superseded),
        };
        let paused = match next {
            Err(_) if Instant::now() >= stalled_at => return Err(ServiceError::UploadStalled),
            Err(_) => true,
            Ok(Err(_)) => return Err(ServiceError::StreamLost),
            Ok(Ok(None)) => return Ok(received),
            Ok(Ok(Some(chunk))) => {
                last_chunk = Instant::now();
                let length = chunk.len() as u64;
                received += length;
                state
                    .metrics
                    .upload_bytes
                    .fetch_add(length, std::sync::atomic::Ordering::Relaxed);
                if received > header.size_bytes {
                    return Err(ServiceError::SizeMismatch {
                        declared_bytes: header.size_bytes,
                        received_bytes: received,
                    });
                }
                writer
                    .write(chunk)
                    .await
                    .map_err(|error| writer_failure(kind, error))?;
                since_checkpoint += length;
                false
            }
        };
        // A full step, or what arrived before a pause, is made durable once
        // the interval allows.
        let step_due = since_checkpoint >= checkpoint_bytes || (paused && since_checkpoint > 0);
        if step_due && Instant::now() >= last_checkpoint + checkpoint_interval {
            since_checkpoint = 0;
            last_checkpoint = Instant::now();
            make_durable(state, session, header, writer).await?;
        }
    }
}

/// The chunks the stream holds now (at least one; waits for one), as one
/// piece; `None` at the end of the stream.
async fn read_chunks(
    recv: &mut fieldlink_link::RecvStream,
    chunks: &mut [bytes::Bytes],
) -> std::io::Result<Option<bytes::Bytes>> {
    let Some(count) = recv.read_chunks(chunks).await? else {
        return Ok(None);
    };
    let taken = &mut chunks[..count];
    if let [only] = taken {
        return Ok(Some(std::mem::take(only)));
    }
    let mut joined = bytes::BytesMut::with_capacity(taken.iter().map(bytes::Bytes::len).sum());
    for chunk in taken.iter_mut() {
        joined.extend_from_slice(&std::mem::take(chunk));
    }
    Ok(Some(joined.freeze()))
}

/// A checkpoint while the stream goes on: fsync, then the durable offset.
async fn make_durable(
    state: &AppState,
    session: &Session,
    header: &PhotoHeader,
    writer: &UploadWriter,
) -> Result<(), ServiceError> {
    let durable = writer
        .checkpoint()
        .await
        .map_err(|error| writer_failure(header.content_type.kind(), error))?;
    state
        .storage
        .set_partial_offset(&session.device_id, header.evidence_id, durable, (state.clock)())
        .await?;
    Ok(())
}

/// Makes what arrived durable and records the offset, for a later resume.
async fn checkpoint(state: &AppState, session: &Session, evidence_id: Uuid, writer: &UploadWriter) {
    match writer.checkpoint().await {
        Ok(durable) => {
            let _ = state
                .storage
                .set_partial_offset(&session.device_id, evidence_id, durable, (state.clock)())
                .await;
        }
        Err(error) => tracing::warn!(%error, "could not make an interrupted upload durable"),
    }
}

/// Forgets an upload that can never complete as sent.
async fn discard(state: &AppState, session: &Session, evidence_id: Uuid) {
    let _ = state
        .storage
        .delete_partial_upload(&session.device_id, evidence_id)
        .await;
    let _ = state.evidence.partials.remove(&session.device_id, evidence_id);
}

/// A refusal by the validator, or a failed disk.
fn writer_failure(kind: fieldlink_media::Kind, error: WriterError) -> ServiceError {
    match error {
        WriterError::Refused(error) => ServiceError::Media { kind, error },
        error => io_failure(&error),
    }
}

/// The validators' limits: the protocol's pixel limits.
fn media_limits() -> fieldlink_media::Limits {
    fieldlink_media::Limits {
        pixels_max: fieldlink_protocol::limits::IMAGE_PIXELS_MAX,
        side_max: fieldlink_protocol::limits::IMAGE_SIDE_PIXELS_MAX,
        ..fieldlink_media::Limits::default()
    }
}

/// The codecs a container names, comma-separated.
fn codecs(facts: &fieldlink_media::Facts) -> Option<String> {
    let named: Vec<&str> = [facts.video_codec.as_deref(), facts.audio_codec.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    (!named.is_empty()).then(|| named.join(","))
}

/// SHA-256 of a file, read in fixed-size pieces.
fn io_failure(error: &dyn std::fmt::Display) -> ServiceError {
    tracing::error!(%error, "evidence store failure");
    ServiceError::StorageUnavailable
}
