//! Recognising a request frame completely before anything acts on it.
//!
//! A [`pb::Request`] carries exactly one body. Besides decoding it, we keep the
//! body's bytes exactly as received: receipts carry their SHA-256, and the
//! store keeps them byte-exact (protobuf encoding is not canonical, so a
//! re-encoding could differ from what the terminal signed off).

use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;
use thiserror::Error;

use crate::pb::{self, request::Body};

/// Why a request frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The bytes are not a valid `Request` message.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// No body field is set: the request is empty, or of a kind this server does
    /// not know (a newer protocol).
    #[error("request has no body this server knows")]
    UnknownKind,
    /// A body field, or the capture signature, occurs more than once
    /// (protobuf would silently merge or take the last; evidence must be
    /// unambiguous).
    #[error("request carries more than one body or capture signature")]
    DuplicateBody,
}

/// A decoded request together with the raw bytes of its body.
#[derive(Debug)]
pub struct ParsedRequest<'a> {
    /// The decoded body.
    pub body: Body,
    /// The encoded body message exactly as it appeared on the wire.
    pub body_bytes: &'a [u8],
    /// The device's capture signature, when the request carries one.
    pub capture: Option<pb::CaptureSignature>,
}

/// Decodes one request frame body.
pub fn parse_request(frame_body: &[u8]) -> Result<ParsedRequest<'_>, EnvelopeError> {
    let request =
        pb::Request::decode(frame_body).map_err(|error| EnvelopeError::Malformed(error.to_string()))?;
    let body = request.body.ok_or(EnvelopeError::UnknownKind)?;
    let body_bytes = locate_body(frame_body)?;
    Ok(ParsedRequest {
        body,
        body_bytes,
        capture: request.capture,
    })
}

/// The field number of `Request.capture` (outside the oneof).
const CAPTURE_FIELD_NUMBER: u32 = 20;

/// Field numbers of `Request.body`, the oneof. Keep in step with request.proto.
const BODY_FIELD_NUMBERS: &[u32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26, 27, 28,
];

/// Walks the top-level fields of a `Request` and returns the bytes of its one body field.
fn locate_body(mut buf: &[u8]) -> Result<&[u8], EnvelopeError> {
    let malformed = |e: prost::DecodeError| EnvelopeError::Malformed(e.to_string());
    let mut found: Option<&[u8]> = None;
    let mut captures = 0;
    while !buf.is_empty() {
        let (number, wire_type) = decode_key(&mut buf).map_err(malformed)?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(malformed)?;
            }
            WireType::SixtyFourBit => buf = skip(buf, 8)?,
            WireType::ThirtyTwoBit => buf = skip(buf, 4)?,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(malformed)?;
                let len =
                    usize::try_from(len).map_err(|_| EnvelopeError::Malformed("length overflows".into()))?;
                if buf.len() < len {
                    return Err(EnvelopeError::Malformed("field runs past the end".into()));
                }
                let (value, rest) = buf.split_at(len);
                if number == CAPTURE_FIELD_NUMBER {
                    captures += 1;
                    if captures > 1 {
                        // Merged silently by protobuf: ambiguous evidence.
                        return Err(EnvelopeError::DuplicateBody);
                    }
                }
                if BODY_FIELD_NUMBERS.contains(&number) {
                    if found.is_some() {
                        return Err(EnvelopeError::DuplicateBody);
                    }
                    found = Some(value);
                }
                buf = rest;
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err(EnvelopeError::Malformed("groups are not allowed".into()))
            }
        }
    }
    found.ok_or(EnvelopeError::UnknownKind)
}

fn skip(buf: &[u8], bytes: usize) -> Result<&[u8], EnvelopeError> {
    if buf.len() < bytes {
        return Err(EnvelopeError::Malformed("field runs past the end".into()));
    }
    Ok(&buf[bytes..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of body is found by the envelope: the number list keeps
    /// in step with request.proto (a new variant fails to compile here
    /// until it is listed).
    #[test]
    fn every_body_kind_is_located() {
        use pb::request::Body;
        let every = [
            Body::SubmitInspection(Default::default()),
            Body::UploadPhoto(Default::default()),
            Body::UploadStatus(Default::default()),
            Body::RecordPhotos(Default::default()),
            Body::SubmitService(Default::default()),
            Body::SubmitServiceEvent(Default::default()),
            Body::SubmitInterview(Default::default()),
            Body::CaseItems(Default::default()),
            Body::CreateAssignment(Default::default()),
            Body::UpdateAssignment(Default::default()),
            Body::CancelAssignment(Default::default()),
            Body::ReassignAssignment(Default::default()),
            Body::ListAssignments(Default::default()),
            Body::SubscribeAssignments(Default::default()),
            Body::LogProof(Default::default()),
            Body::LogConsistency(Default::default()),
            Body::ReviewAssignment(Default::default()),
            Body::ListIncidents(Default::default()),
            Body::Incident(Default::default()),
            Body::DispatchIncident(Default::default()),
            Body::DismissIncident(Default::default()),
            Body::SubmitGridReport(Default::default()),
            Body::MergeIncidents(Default::default()),
            Body::SplitIncident(Default::default()),
            Body::ListMyReports(Default::default()),
            Body::Catalogue(Default::default()),
            Body::Roster(Default::default()),
        ];
        for body in every {
            let listed = match &body {
                Body::SubmitInspection(_)
                | Body::UploadPhoto(_)
                | Body::UploadStatus(_)
                | Body::RecordPhotos(_)
                | Body::SubmitService(_)
                | Body::SubmitServiceEvent(_)
                | Body::SubmitInterview(_)
                | Body::CaseItems(_)
                | Body::CreateAssignment(_)
                | Body::UpdateAssignment(_)
                | Body::CancelAssignment(_)
                | Body::ReassignAssignment(_)
                | Body::ListAssignments(_)
                | Body::SubscribeAssignments(_)
                | Body::LogProof(_)
                | Body::LogConsistency(_)
                | Body::ReviewAssignment(_)
                | Body::ListIncidents(_)
                | Body::Incident(_)
                | Body::DispatchIncident(_)
                | Body::DismissIncident(_)
                | Body::SubmitGridReport(_)
                | Body::MergeIncidents(_)
                | Body::SplitIncident(_)
                | Body::ListMyReports(_)
                | Body::Catalogue(_)
                | Body::Roster(_) => true,
            };
            assert!(listed);
            let bytes = pb::Request {
                body: Some(body.clone()),
                capture: None,
            }
            .encode_to_vec();
            assert!(parse_request(&bytes).is_ok(), "{body:?}");
        }
    }

    /// Regression: log_proof and log_consistency were added to the proto but
    /// not here, and every such request was refused as unknown.
    #[test]
    fn the_body_field_numbers_are_those_of_request_proto() {
        let proto = include_str!("../proto/fieldlink/v1/request.proto");
        let oneof = &proto[proto.find("oneof body {").unwrap()..];
        let oneof = &oneof[..oneof.find('}').unwrap()];
        let numbers: Vec<u32> = oneof
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .filter_map(|line| line.split_once(" = "))
            .map(|(_, number)| number.trim_end_matches(';').trim().parse().unwrap())
            .collect();
        assert_eq!(numbers, BODY_FIELD_NUMBERS);
    }

    fn record() -> pb::InspectionRecord {
        pb::InspectionRecord {
            id: "x".into(),
            findings: "nothing".into(),
            ..Default::default()
        }
    }

    #[test]
    fn body_bytes_are_the_record_as_sent() {
        let request = pb::Request {
            body: Some(Body::SubmitInspection(record())),
            capture: None,
        };
        let bytes = request.encode_to_vec();
        let parsed = parse_request(&bytes).unwrap();
        assert_eq!(parsed.body_bytes, record().encode_to_vec().as_slice());
    }

    #[test]
    fn unknown_fields_in_the_body_are_kept_byte_exact() {
        let mut body = record().encode_to_vec();
        // Field 99, varint 7: unknown to this version.
        body.extend_from_slice(&[0x98, 0x06, 0x07]);
        let mut frame = vec![0x0a];
        prost::encoding::encode_varint(body.len() as u64, &mut frame);
        frame.extend_from_slice(&body);
        let parsed = parse_request(&frame).unwrap();
        assert_eq!(parsed.body_bytes, body.as_slice());
    }

    #[test]
    fn an_empty_request_is_an_unknown_kind() {
        assert_eq!(parse_request(&[]).unwrap_err(), EnvelopeError::UnknownKind);
        // Only an unknown field 50.
        assert_eq!(
            parse_request(&[0x90, 0x03, 0x01]).unwrap_err(),
            EnvelopeError::UnknownKind
        );
    }

    #[test]
    fn a_repeated_body_is_refused() {
        let one = pb::Request {
            body: Some(Body::SubmitInspection(record())),
            capture: None,
        }
        .encode_to_vec();
        let mut twice = one.clone();
        twice.extend_from_slice(&one);
        assert_eq!(parse_request(&twice).unwrap_err(), EnvelopeError::DuplicateBody);
    }

    #[test]
    fn a_capture_signature_is_kept_and_a_second_one_refused() {
        let capture = pb::CaptureSignature {
            statement: vec![1, 2, 3],
            scheme: 0x0403,
            signature: vec![4, 5],
        };
        let one = pb::Request {
            body: Some(Body::SubmitInspection(record())),
            capture: Some(capture.clone()),
        }
        .encode_to_vec();
        let parsed = parse_request(&one).unwrap();
        assert_eq!(parsed.capture, Some(capture.clone()));
        assert_eq!(parsed.body_bytes, record().encode_to_vec().as_slice());
        let mut twice = one.clone();
        twice.extend_from_slice(
            &pb::Request {
                body: None,
                capture: Some(capture),
            }
            .encode_to_vec(),
        );
        assert_eq!(parse_request(&twice).unwrap_err(), EnvelopeError::DuplicateBody);
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            parse_request(&[0x0a, 0x05, 0x01]).unwrap_err(),
            EnvelopeError::Malformed(_)
        ));
        // Tag 0 is invalid.
        assert!(matches!(
            parse_request(&[0x00, 0x01]).unwrap_err(),
            EnvelopeError::Malformed(_)
        ));
        // Invalid UTF-8 in a string field of the body.
        let mut frame = vec![0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        assert!(matches!(
            parse_request(&frame).unwrap_err(),
            EnvelopeError::Malformed(_)
        ));
        frame.clear();
    }
}
