//! The remote-interview (远程询问) metadata builder: who asked whom, after
//! which notice of rights, on which platform, and the digests of what was
//! recorded.

use fieldlink_protocol::pb::{self, interviewee_confirmation, IdentityVerification, IntervieweeRole};
use fieldlink_protocol::{Digest, FieldError};

use super::{check_interview, new_id};

/// Builds remote-interview metadata and checks it.
///
/// ```
/// use fieldlink_client::items::InterviewBuilder;
/// use fieldlink_client::protocol::pb::{IdentityVerification, IntervieweeRole};
/// use fieldlink_client::protocol::Digest;
///
/// let start = fieldlink_client::now_ms() - 3_600_000;
/// let end = start + 40 * 60_000;
/// let interview = InterviewBuilder::new("CASE-2026-0118", "officer-01", "officer-02")
///     .interviewee("陈小明", IntervieweeRole::Party, IdentityVerification::FaceMatch, "3302**********1234")
///     .rights_notice_at(start - 60_000)
///     .during(start, end)
///     .platform("gov-video", "GV-2026-11-30-0042")
///     .recording(Digest::sha256_of(b"video"), 480 << 20, 41 * 60_000)
///     .transcript(Digest::sha256_of(b"transcript"))
///     .confirmed_on_record(end)
///     .build()?;
/// assert_eq!(interview.interviewer_ids.len(), 2);
/// # Ok::<(), fieldlink_client::protocol::FieldError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InterviewBuilder {
    record: pb::InterviewRecord,
}

impl InterviewBuilder {
    /// An interview in `case_id` by two officers (the law wants two), with
    /// a fresh id.
    pub fn new(case_id: &str, interviewer: &str, second_interviewer: &str) -> Self {
        Self {
            record: pb::InterviewRecord {
                id: new_id(),
                case_id: case_id.to_owned(),
                interviewer_ids: vec![interviewer.to_owned(), second_interviewer.to_owned()],
                ..Default::default()
            },
        }
    }

    /// Uses this id (a UUIDv7) instead of a fresh one.
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.record.id);
        self
    }

    /// Who was interviewed, in what role, how their identity was checked,
    /// and their (masked) identity number.
    pub fn interviewee(
        mut self,
        name: &str,
        role: IntervieweeRole,
        verification: IdentityVerification,
        identifier: &str,
    ) -> Self {
        self.record.interviewee = Some(pb::Interviewee {
            name: name.to_owned(),
            role: role as i32,
            verification: verification as i32,
            verified: true,
            identifier: identifier.to_owned(),
        });
        self
    }

    /// When the interviewee was told their rights (before it started).
    pub fn rights_notice_at(mut self, at_ms: i64) -> Self {
        self.record.rights_notice_given = true;
        self.record.rights_notice_at_ms = at_ms;
        self
    }

    /// When it started and ended, ms since the Unix epoch.
    pub fn during(mut self, started_at_ms: i64, ended_at_ms: i64) -> Self {
        self.record.started_at_ms = started_at_ms;
        self.record.ended_at_ms = ended_at_ms;
        self
    }

    /// The video platform and its session reference.
    pub fn platform(mut self, platform: &str, session_ref: &str) -> Self {
        platform.clone_into(&mut self.record.platform);
        session_ref.clone_into(&mut self.record.platform_session_ref);
        self
    }

    /// A recording: its SHA-256, size and length.
    pub fn recording(mut self, sha256: Digest, size_bytes: u64, duration_ms: i64) -> Self {
        self.record.recordings.push(pb::MediaDigest {
            sha256: sha256.as_bytes().to_vec(),
            size_bytes,
            duration_ms,
        });
        self
    }

    /// A recording segment's SHA-256 (when the platform cuts it up).
    pub fn segment(mut self, sha256: Digest) -> Self {
        self.record.segment_sha256.push(sha256.as_bytes().to_vec());
        self
    }

    /// The transcript's SHA-256.
    pub fn transcript(mut self, sha256: Digest) -> Self {
        self.record.transcript_sha256 = sha256.as_bytes().to_vec();
        self
    }

    /// The interviewee confirmed the transcript on the recording, at `at_ms`.
    pub fn confirmed_on_record(mut self, at_ms: i64) -> Self {
        self.record.confirmation = Some(pb::IntervieweeConfirmation {
            method: Some(interviewee_confirmation::Method::RecordedAtMs(at_ms)),
        });
        self
    }

    /// The interviewee signed the transcript: the uploaded signature.
    pub fn confirmed_by_signature(mut self, evidence_id: &str) -> Self {
        self.record.confirmation = Some(pb::IntervieweeConfirmation {
            method: Some(interviewee_confirmation::Method::SignatureEvidenceId(
                evidence_id.to_owned(),
            )),
        });
        self
    }

    /// The metadata, checked as the server will check it.
    pub fn build(self) -> Result<pb::InterviewRecord, FieldError> {
        check_interview(&self.record)?;
        Ok(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interview_builder_checks_like_the_server_and_names_the_field() {
        let start = crate::now_ms() - 3_600_000;
        let good = || {
            InterviewBuilder::new("CASE-1", "officer-01", "officer-02")
                .interviewee(
                    "陈小明",
                    IntervieweeRole::Witness,
                    IdentityVerification::IdCard,
                    "3302**1234",
                )
                .rights_notice_at(start - 60_000)
                .during(start, start + 600_000)
                .platform("gov-video", "GV-1")
                .recording(Digest::sha256_of(b"v"), 1 << 20, 600_000)
                .transcript(Digest::sha256_of(b"t"))
        };
        good().confirmed_on_record(start + 600_000).build().unwrap();
        good().confirmed_by_signature(&new_id()).build().unwrap();
        let cases = [
            (
                InterviewBuilder::new("CASE-1", "officer-01", "officer-01"),
                "interviewer_ids",
            ),
            (good().confirmed_by_signature("not-an-id"), "confirmation"),
            (
                good()
                    .rights_notice_at(start + 60_000)
                    .confirmed_on_record(start + 600_000),
                "rights_notice_at_ms",
            ),
        ];
        for (builder, field) in cases {
            let error = builder.build().unwrap_err();
            assert!(error.field.starts_with(field), "{field}: {error}");
        }
    }
}
