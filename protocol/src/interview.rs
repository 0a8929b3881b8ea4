//! Remote interviews (远程询问): the checked metadata type.

use uuid::Uuid;

use crate::limits;
use crate::pb::{self, interviewee_confirmation, IdentityVerification, IntervieweeRole};
use crate::validate::{self, FieldError, ValidationContext};

/// Longest interview: 8 hours.
pub const INTERVIEW_DURATION_MS_MAX: i64 = 8 * 60 * 60 * 1000;
/// Recordings may run this much past the questioning (setup, closing): 10 minutes.
pub const RECORDING_SLACK_MS: i64 = 10 * 60 * 1000;
/// Most recordings per interview.
pub const RECORDINGS_MAX: usize = 16;
/// Most segment digests per interview.
pub const SEGMENTS_MAX: usize = 1_000;
/// Interviewers an interview needs.
pub const INTERVIEWERS_MIN: usize = 2;

/// A checked interview record.
#[derive(Debug, Clone, PartialEq)]
pub struct Interview {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Case.
    pub case_id: String,
    /// Interviewers.
    pub interviewer_ids: Vec<String>,
    /// Start.
    pub started_at_ms: i64,
    /// End.
    pub ended_at_ms: i64,
}

impl Interview {
    /// Checks every rule of an interview record.
    pub fn parse(record: pb::InterviewRecord, context: &ValidationContext) -> Result<Self, FieldError> {
        let id = validate::item_id("id", &record.id)?;
        let case_id = validate::case_id("case_id", &record.case_id)?;
        let interviewer_ids =
            validate::officer_ids("interviewer_ids", &record.interviewer_ids, INTERVIEWERS_MIN)?;
        let interviewee = record
            .interviewee
            .ok_or_else(|| FieldError::new("interviewee", "is required"))?;
        validate::required_text(
            "interviewee.name",
            &interviewee.name,
            limits::SUBJECT_NAME_BYTES_MAX,
        )?;
        validate::known_enum::<IntervieweeRole>("interviewee.role", interviewee.role)?;
        validate::known_enum::<IdentityVerification>("interviewee.verification", interviewee.verification)?;
        if !interviewee.verified {
            return Err(FieldError::new(
                "interviewee.verified",
                "the interviewee's identity must be verified before questioning",
            ));
        }
        validate::optional_text(
            "interviewee.identifier",
            &interviewee.identifier,
            limits::SUBJECT_IDENTIFIER_BYTES_MAX,
        )?;
        let started_at_ms = validate::timestamp_ms("started_at_ms", record.started_at_ms, context)?;
        let ended_at_ms = validate::timestamp_ms("ended_at_ms", record.ended_at_ms, context)?;
        if ended_at_ms <= started_at_ms {
            return Err(FieldError::new("ended_at_ms", "must be after started_at_ms"));
        }
        let duration_ms = ended_at_ms - started_at_ms;
        if duration_ms > INTERVIEW_DURATION_MS_MAX {
            return Err(FieldError::new(
                "ended_at_ms",
                "an interview lasts at most 8 hours",
            ));
        }
        if !record.rights_notice_given {
            return Err(FieldError::new(
                "rights_notice_given",
                "the notice of rights must be given before questioning",
            ));
        }
        let notice_at_ms =
            validate::timestamp_ms("rights_notice_at_ms", record.rights_notice_at_ms, context)?;
        if notice_at_ms > started_at_ms {
            return Err(FieldError::new(
                "rights_notice_at_ms",
                "the notice of rights must be given before questioning starts",
            ));
        }
        validate::required_text("platform", &record.platform, 64)?;
        validate::optional_text("platform_session_ref", &record.platform_session_ref, 128)?;
        if record.recordings.is_empty() || record.recordings.len() > RECORDINGS_MAX {
            return Err(FieldError::new(
                "recordings",
                format!("1 to {RECORDINGS_MAX} recordings are required"),
            ));
        }
        for (index, recording) in record.recordings.iter().enumerate() {
            validate::digest(&format!("recordings[{index}].sha256"), &recording.sha256)?;
            if recording.size_bytes == 0 {
                return Err(FieldError::new(
                    format!("recordings[{index}].size_bytes"),
                    "must be positive",
                ));
            }
            if recording.duration_ms <= 0 || recording.duration_ms > duration_ms + RECORDING_SLACK_MS {
                return Err(FieldError::new(
                    format!("recordings[{index}].duration_ms"),
                    "must be positive and at most the interview's length plus 10 minutes",
                ));
            }
        }
        validate::digest("transcript_sha256", &record.transcript_sha256)?;
        match record.confirmation.and_then(|c| c.method) {
            None => {
                return Err(FieldError::new(
                    "confirmation",
                    "the interviewee's confirmation is required",
                ))
            }
            Some(interviewee_confirmation::Method::SignatureEvidenceId(id)) => {
                validate::item_id("confirmation.signature_evidence_id", &id)?;
            }
            Some(interviewee_confirmation::Method::RecordedAtMs(at_ms)) => {
                validate::timestamp_ms("confirmation.recorded_at_ms", at_ms, context)?;
                if at_ms < started_at_ms {
                    return Err(FieldError::new(
                        "confirmation.recorded_at_ms",
                        "is before the interview started",
                    ));
                }
            }
        }
        if record.segment_sha256.len() > SEGMENTS_MAX {
            return Err(FieldError::new(
                "segment_sha256",
                format!("at most {SEGMENTS_MAX} segments"),
            ));
        }
        for (index, segment) in record.segment_sha256.iter().enumerate() {
            validate::digest(&format!("segment_sha256[{index}]"), segment)?;
        }
        Ok(Self {
            id,
            case_id,
            interviewer_ids,
            started_at_ms,
            ended_at_ms,
        })
    }
}

/// A valid example: a 40-minute interview of a party by two officers.
pub fn example_interview(interviewer_ids: [&str; 2], case_id: &str, now_ms: i64) -> pb::InterviewRecord {
    let started_at_ms = now_ms - 60 * 60 * 1000;
    let ended_at_ms = started_at_ms + 40 * 60 * 1000;
    pb::InterviewRecord {
        id: Uuid::now_v7().to_string(),
        case_id: case_id.to_owned(),
        interviewer_ids: interviewer_ids.iter().map(|id| (*id).to_owned()).collect(),
        interviewee: Some(pb::Interviewee {
            name: "陈小明".into(),
            role: IntervieweeRole::Party as i32,
            verification: IdentityVerification::FaceMatch as i32,
            verified: true,
            identifier: "3302**********1234".into(),
        }),
        rights_notice_given: true,
        rights_notice_at_ms: started_at_ms - 60 * 1000,
        started_at_ms,
        ended_at_ms,
        platform: "gov-video".into(),
        platform_session_ref: "GV-2026-11-30-0042".into(),
        recordings: vec![pb::MediaDigest {
            sha256: vec![0x11; 32],
            size_bytes: 480 * 1024 * 1024,
            duration_ms: 41 * 60 * 1000,
        }],
        transcript_sha256: vec![0x22; 32],
        confirmation: Some(pb::IntervieweeConfirmation {
            method: Some(interviewee_confirmation::Method::RecordedAtMs(ended_at_ms)),
        }),
        segment_sha256: vec![vec![0x33; 32], vec![0x44; 32]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;
    const CONTEXT: ValidationContext = ValidationContext {
        now_ms: NOW_MS,
        clock_skew_ms_max: 300_000,
    };

    fn valid() -> pb::InterviewRecord {
        example_interview(["officer-01", "officer-02"], "CASE-1", NOW_MS)
    }

    fn refused(record: pb::InterviewRecord) -> String {
        Interview::parse(record, &CONTEXT).unwrap_err().field
    }

    #[test]
    fn the_example_is_valid() {
        assert!(Interview::parse(valid(), &CONTEXT).is_ok());
    }

    #[test]
    fn it_must_end_after_it_starts_and_within_eight_hours() {
        let mut r = valid();
        r.ended_at_ms = r.started_at_ms;
        assert_eq!(refused(r), "ended_at_ms");
        let mut r = valid();
        r.started_at_ms = NOW_MS - 9 * 60 * 60 * 1000;
        r.rights_notice_at_ms = r.started_at_ms;
        r.ended_at_ms = NOW_MS;
        assert_eq!(refused(r), "ended_at_ms");
    }

    #[test]
    fn rights_notice_comes_first() {
        let mut r = valid();
        r.rights_notice_given = false;
        assert_eq!(refused(r), "rights_notice_given");
        let mut r = valid();
        r.rights_notice_at_ms = r.started_at_ms + 1;
        assert_eq!(refused(r), "rights_notice_at_ms");
    }

    #[test]
    fn two_distinct_interviewers_are_needed() {
        let mut r = valid();
        r.interviewer_ids = vec!["officer-01".into()];
        assert_eq!(refused(r), "interviewer_ids");
        let mut r = valid();
        r.interviewer_ids = vec!["officer-01".into(), "officer-01".into()];
        assert_eq!(refused(r), "interviewer_ids[1]");
    }

    #[test]
    fn digests_and_recordings_are_well_formed() {
        let mut r = valid();
        r.transcript_sha256 = vec![0; 31];
        assert_eq!(refused(r), "transcript_sha256");
        let mut r = valid();
        r.recordings[0].sha256.clear();
        assert_eq!(refused(r), "recordings[0].sha256");
        let mut r = valid();
        r.recordings.clear();
        assert_eq!(refused(r), "recordings");
        let mut r = valid();
        r.recordings[0].duration_ms = 10 * 60 * 60 * 1000;
        assert_eq!(refused(r), "recordings[0].duration_ms");
        let mut r = valid();
        r.segment_sha256.push(vec![1; 3]);
        assert_eq!(refused(r), "segment_sha256[2]");
    }

    #[test]
    fn identity_and_confirmation_are_required() {
        let mut r = valid();
        r.interviewee.as_mut().unwrap().verified = false;
        assert_eq!(refused(r), "interviewee.verified");
        let mut r = valid();
        r.interviewee.as_mut().unwrap().verification = 0;
        assert_eq!(refused(r), "interviewee.verification");
        let mut r = valid();
        r.confirmation = None;
        assert_eq!(refused(r), "confirmation");
        let mut r = valid();
        r.confirmation = Some(pb::IntervieweeConfirmation {
            method: Some(interviewee_confirmation::Method::SignatureEvidenceId(
                "nope".into(),
            )),
        });
        assert_eq!(refused(r), "confirmation.signature_evidence_id");
    }
}
