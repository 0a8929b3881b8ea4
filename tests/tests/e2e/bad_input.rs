//! The bad-input catalogue: one table of hostile or broken requests, each
//! with the typed answer it must get. For every case: no panic, nothing
//! stored (unless the case is a resend or an accepted oddity), and the same
//! connection keeps serving.

use fieldlink_protocol::frame;
use fieldlink_protocol::pb::{self, request::Body, Code, EvidenceFlag};
use fieldlink_tests::photos::{self, Exif};
use fieldlink_tests::{connect, raw_request, raw_session, record, TestServer};
use prost::Message;

/// What a case must get back.
enum Expect {
    /// A refusal with this code, and this reason and field when given.
    Error(Code, Option<&'static str>, Option<&'static str>),
    /// A receipt (an accepted oddity or a resend); stores at most one new item.
    Receipt(Vec<EvidenceFlag>),
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    finish: bool,
    expect: Expect,
}

fn request(body: Body) -> Vec<u8> {
    frame::encode(&pb::Request {
        body: Some(body),
        capture: None,
    })
}

fn inspection(change: impl FnOnce(&mut pb::InspectionRecord)) -> Vec<u8> {
    let mut r = record("officer-01");
    change(&mut r);
    request(Body::SubmitInspection(r))
}

/// A request frame whose inspection body is `body` (raw bytes).
fn raw_inspection(body: &[u8]) -> Vec<u8> {
    let mut request = vec![0x0a];
    prost::encoding::encode_varint(body.len() as u64, &mut request);
    request.extend_from_slice(body);
    frame::encode_raw(&request)
}

fn upload(header: pb::PhotoHeader, bytes: &[u8]) -> Vec<u8> {
    let mut out = request(Body::UploadPhoto(header));
    out.extend_from_slice(bytes);
    out
}

fn photo(record_id: &str, bytes: Vec<u8>) -> fieldlink_client::PhotoUpload {
    fieldlink_client::PhotoUpload::new(
        record_id,
        "image/jpeg",
        fieldlink_client::now_ms() - 60_000,
        bytes,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_typed_error_and_the_server_keeps_serving() {
    let server = TestServer::start_with(|config| {
        config.request_timeout_ms = 1_000;
        config.upload_checkpoint_bytes = 16 * 1024;
    })
    .await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let now = fieldlink_client::now_ms();
    let record_id = uuid::Uuid::now_v7().to_string();
    let jpeg = photos::jpeg_with_exif(
        120,
        90,
        1,
        Exif {
            captured_at_ms: now - 60_000,
            position: None,
        },
    );

    // Setup: a stored record to resend and conflict with; another device's
    // stored record; partial uploads of this device and of another one.
    let stored = record("officer-01");
    let stored_bytes = request(Body::SubmitInspection(stored.clone()));
    assert!(matches!(
        raw_request(&connection, &stored_bytes, true).await.result,
        Some(pb::response::Result::Receipt(_))
    ));
    let other_client = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    let foreign = record("officer-02");
    other_client.submit_inspection(&foreign).await.unwrap();
    let mine_partial = photo(&record_id, photos::pad_jpeg(jpeg.clone(), 300_000));
    let (mut held, _held_recv) = connection.open_bi().await.unwrap();
    held.write_all(&upload(
        mine_partial.header(0),
        &mine_partial.bytes().unwrap()[..100_000],
    ))
    .await
    .unwrap();
    let (foreign_endpoint, foreign_connection) = raw_session(server.addr(), "device-002", "officer-02").await;
    let theirs = photo(&record_id, photos::pad_jpeg(jpeg.clone(), 300_000));
    let (mut theirs_send, _theirs_recv) = foreign_connection.open_bi().await.unwrap();
    theirs_send
        .write_all(&upload(theirs.header(0), &theirs.bytes().unwrap()[..100_000]))
        .await
        .unwrap();
    let _ = theirs_send.reset(0u32.into());
    // Wait until the server holds part of this device's upload, cut the
    // stream, and wait until the offset the server holds stops moving.
    let status_request = request(Body::UploadStatus(pb::UploadStatusQuery {
        evidence_id: mine_partial.evidence_id().to_owned(),
    }));
    let offset_now = || async {
        match raw_request(&connection, &status_request, true).await.result {
            Some(pb::response::Result::UploadStatus(status)) => status.durable_offset,
            other => panic!("{other:?}"),
        }
    };
    let mut held_offset = 0;
    for _ in 0..600 {
        held_offset = offset_now().await;
        if held_offset > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(held_offset > 0);
    let _ = held.reset(0u32.into());
    for _ in 0..600 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now_held = offset_now().await;
        if now_held == held_offset {
            break;
        }
        held_offset = now_held;
    }

    let mut bomb = photos::jpeg(16, 16, 9);
    let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    let mut polyglot = jpeg.clone();
    polyglot.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00hidden.txt");
    let looping_exif = {
        // An APP1 whose IFD0 says its next IFD is itself.
        let tiff: Vec<u8> = [
            b"II\x2a\x00".as_slice(),
            &8u32.to_le_bytes(),
            &0u16.to_le_bytes(),
            &8u32.to_le_bytes(),
        ]
        .concat();
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&tiff);
        let plain = photos::jpeg(32, 32, 3);
        [&plain[..2], segment.as_slice(), &plain[2..]].concat()
    };
    let with_unknown_fields = {
        let mut body = record("officer-01").encode_to_vec();
        body.extend_from_slice(&[0xf8, 0x06, 0x2a]); // field 111, varint 42
        body
    };
    let nested_groups = {
        let mut body = record("officer-01").encode_to_vec();
        body.extend(std::iter::repeat_n(0x1b_u8, 120)); // field 3 start-group, 120 deep
        body.extend(std::iter::repeat_n(0x1c_u8, 120));
        body
    };
    let hello = frame::encode(&pb::Hello {
        protocol_version: 1,
        ..Default::default()
    });
    let mut duplicate_body = request(Body::SubmitInspection(record("officer-01")));
    let second = pb::Request {
        body: Some(Body::SubmitInspection(record("officer-01"))),
        capture: None,
    }
    .encode_to_vec();
    let first_body = frame::decode_whole(&duplicate_body, 1 << 20).unwrap().to_vec();
    duplicate_body = frame::encode_raw(&[first_body, second].concat());
    let interview_backwards = {
        let mut i =
            fieldlink_protocol::interview::example_interview(["officer-01", "officer-02"], "CASE-X", now);
        i.ended_at_ms = i.started_at_ms - 1;
        request(Body::SubmitInterview(i))
    };
    let service_consent_late = {
        let mut s = fieldlink_protocol::service::example_service("officer-01", "CASE-X", now);
        s.consent.as_mut().unwrap().signed_at_ms = s.sent_at_ms + 1;
        request(Body::SubmitService(s))
    };
    let mut changed = stored.clone();
    changed.findings = "edited afterwards".into();
    // Stored items resent with bytes that today's rules refuse: a conflict,
    // never the original receipt.
    let mut refused_resend = stored.clone();
    refused_resend.matter_code = "ZZ-404".into();
    let mut stored_service = fieldlink_protocol::service::example_service("officer-01", "CASE-X", now);
    stored_service.delivered_at_ms = 0;
    stored_service.confirmed_at_ms = 0;
    assert!(matches!(
        raw_request(
            &connection,
            &request(Body::SubmitService(stored_service.clone())),
            true
        )
        .await
        .result,
        Some(pb::response::Result::Receipt(_))
    ));
    let service_resend_refused = {
        let mut s = stored_service.clone();
        s.consent.as_mut().unwrap().signed_at_ms = s.sent_at_ms + 1;
        request(Body::SubmitService(s))
    };
    let stored_event = pb::ServiceEvent {
        id: uuid::Uuid::now_v7().to_string(),
        service_id: stored_service.id.clone(),
        kind: pb::ServiceEventKind::Delivered as i32,
        at_ms: now - 1_000,
        ..Default::default()
    };
    assert!(matches!(
        raw_request(
            &connection,
            &request(Body::SubmitServiceEvent(stored_event.clone())),
            true
        )
        .await
        .result,
        Some(pb::response::Result::Receipt(_))
    ));
    let event_resend_refused = request(Body::SubmitServiceEvent(pb::ServiceEvent {
        at_ms: 1_000,
        ..stored_event.clone()
    }));
    let stored_interview =
        fieldlink_protocol::interview::example_interview(["officer-01", "officer-02"], "CASE-X", now);
    assert!(matches!(
        raw_request(
            &connection,
            &request(Body::SubmitInterview(stored_interview.clone())),
            true
        )
        .await
        .result,
        Some(pb::response::Result::Receipt(_))
    ));
    let interview_resend_refused = {
        let mut i = stored_interview.clone();
        i.ended_at_ms = i.started_at_ms - 1;
        request(Body::SubmitInterview(i))
    };

    use Expect::*;
    let invalid = Code::InvalidArgument;
    let cases = vec![
        Case {
            name: "oversize frame",
            bytes: vec![0x80, 0x80, 0x80, 0x80, 0x08],
            finish: false,
            expect: Error(Code::ResourceExhausted, Some("FRAME_TOO_LARGE"), None),
        },
        Case {
            name: "truncated frame",
            bytes: inspection(|_| {})[..40].to_vec(),
            finish: true,
            expect: Error(invalid, Some("FRAME_TRUNCATED"), None),
        },
        Case {
            name: "truncated length prefix",
            bytes: vec![0x80],
            finish: true,
            expect: Error(invalid, Some("FRAME_TRUNCATED"), None),
        },
        Case {
            name: "empty stream",
            bytes: vec![],
            finish: true,
            expect: Error(invalid, Some("FRAME_TRUNCATED"), None),
        },
        Case {
            name: "11-byte varint",
            bytes: vec![0xff; 11],
            finish: true,
            expect: Error(invalid, Some("FRAME_MALFORMED"), None),
        },
        Case {
            name: "invalid wire type",
            bytes: frame::encode_raw(&[0x0f, 0x00]),
            finish: true,
            expect: Error(invalid, Some("MESSAGE_MALFORMED"), None),
        },
        Case {
            name: "tag 0",
            bytes: frame::encode_raw(&[0x00, 0x01]),
            finish: true,
            expect: Error(invalid, Some("MESSAGE_MALFORMED"), None),
        },
        Case {
            name: "nesting past the recursion limit",
            bytes: raw_inspection(&nested_groups),
            finish: true,
            expect: Error(invalid, Some("MESSAGE_MALFORMED"), None),
        },
        Case {
            name: "invalid UTF-8",
            bytes: raw_inspection(&[0x0a, 0x02, 0xff, 0xfe]),
            finish: true,
            expect: Error(invalid, Some("MESSAGE_MALFORMED"), None),
        },
        Case {
            name: "a hello on a request stream",
            bytes: hello,
            finish: true,
            expect: Error(invalid, Some("MESSAGE_MALFORMED"), None),
        },
        Case {
            name: "two bodies in one request",
            bytes: duplicate_body,
            finish: true,
            expect: Error(invalid, Some("MESSAGE_MALFORMED"), None),
        },
        Case {
            name: "empty request",
            bytes: frame::encode_raw(&[]),
            finish: true,
            expect: Error(Code::Unimplemented, Some("UNKNOWN_REQUEST"), None),
        },
        Case {
            name: "request kind from the future",
            bytes: frame::encode_raw(&[0xfa, 0x06, 0x00]),
            finish: true,
            expect: Error(Code::Unimplemented, Some("UNKNOWN_REQUEST"), None),
        },
        Case {
            name: "unknown enum value",
            bytes: inspection(|r| r.outcome = 99),
            finish: true,
            expect: Error(invalid, None, Some("outcome")),
        },
        Case {
            name: "unknown subject kind",
            bytes: inspection(|r| r.subject.as_mut().unwrap().kind = 7),
            finish: true,
            expect: Error(invalid, None, Some("subject.kind")),
        },
        Case {
            name: "missing id",
            bytes: inspection(|r| r.id.clear()),
            finish: true,
            expect: Error(invalid, None, Some("id")),
        },
        Case {
            name: "malformed id",
            bytes: inspection(|r| r.id = "0000".into()),
            finish: true,
            expect: Error(invalid, None, Some("id")),
        },
        Case {
            name: "UUIDv4 id",
            bytes: inspection(|r| r.id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427".into()),
            finish: true,
            expect: Error(invalid, None, Some("id")),
        },
        Case {
            name: "too many officers",
            bytes: inspection(|r| r.officer_ids = (0..11).map(|i| format!("o{i}")).collect()),
            finish: true,
            expect: Error(invalid, None, Some("officer_ids")),
        },
        Case {
            name: "huge repeated photo list",
            bytes: inspection(|r| {
                r.photo_ids = (0..5000).map(|_| uuid::Uuid::now_v7().to_string()).collect()
            }),
            finish: true,
            expect: Error(invalid, None, Some("photo_ids")),
        },
        Case {
            name: "latitude out of range",
            bytes: inspection(|r| r.place.as_mut().unwrap().latitude = 91.0),
            finish: true,
            expect: Error(invalid, None, Some("place.latitude")),
        },
        Case {
            name: "longitude NaN",
            bytes: inspection(|r| r.place.as_mut().unwrap().longitude = f64::NAN),
            finish: true,
            expect: Error(invalid, None, Some("place.longitude")),
        },
        Case {
            name: "timestamp far in the future",
            bytes: inspection(|r| {
                r.started_at_ms = now + 86_400_000;
                r.ended_at_ms = 0;
            }),
            finish: true,
            expect: Error(invalid, None, Some("started_at_ms")),
        },
        Case {
            name: "timestamp before 2000",
            bytes: inspection(|r| {
                r.started_at_ms = 1_000;
                r.ended_at_ms = 0;
            }),
            finish: true,
            expect: Error(invalid, None, Some("started_at_ms")),
        },
        Case {
            name: "a case id with a leading space (one spelling per case)",
            bytes: inspection(|r| r.case_id = " CASE-1".into()),
            finish: true,
            expect: Error(invalid, None, Some("case_id")),
        },
        Case {
            name: "a case id with a space inside",
            bytes: inspection(|r| r.case_id = "CASE 1".into()),
            finish: true,
            expect: Error(invalid, None, Some("case_id")),
        },
        Case {
            name: "matter not in the catalogue",
            bytes: inspection(|r| r.matter_code = "ZZ-404".into()),
            finish: true,
            expect: Error(invalid, None, Some("matter_code")),
        },
        Case {
            name: "someone else named as the only officer",
            bytes: inspection(|r| r.officer_ids = vec!["officer-03".into()]),
            finish: true,
            expect: Error(Code::PermissionDenied, None, Some("officer_ids")),
        },
        Case {
            name: "conflict: same id, other bytes",
            bytes: request(Body::SubmitInspection(changed)),
            finish: true,
            expect: Error(Code::AlreadyExists, Some("ID_CONFLICT"), None),
        },
        Case {
            name: "conflict: stored record resent with a matter the catalogue refuses",
            bytes: request(Body::SubmitInspection(refused_resend)),
            finish: true,
            expect: Error(Code::AlreadyExists, Some("ID_CONFLICT"), None),
        },
        Case {
            name: "conflict: stored service resent with consent after sending",
            bytes: service_resend_refused,
            finish: true,
            expect: Error(Code::AlreadyExists, Some("ID_CONFLICT"), None),
        },
        Case {
            name: "conflict: stored service event resent with a time before 2000",
            bytes: event_resend_refused,
            finish: true,
            expect: Error(Code::AlreadyExists, Some("ID_CONFLICT"), None),
        },
        Case {
            name: "conflict: stored interview resent ending before it starts",
            bytes: interview_resend_refused,
            finish: true,
            expect: Error(Code::AlreadyExists, Some("ID_CONFLICT"), None),
        },
        Case {
            name: "interview ends before it starts",
            bytes: interview_backwards,
            finish: true,
            expect: Error(invalid, None, Some("ended_at_ms")),
        },
        Case {
            name: "service consent after sending",
            bytes: service_consent_late,
            finish: true,
            expect: Error(invalid, None, Some("consent.signed_at_ms")),
        },
        Case {
            name: "upload for an unknown evidence id",
            bytes: upload(photo(&record_id, jpeg.clone()).header(500), &jpeg[500..]),
            finish: true,
            expect: Error(Code::FailedPrecondition, Some("OFFSET_MISMATCH"), Some("offset")),
        },
        Case {
            name: "upload for another device's evidence id",
            bytes: upload(theirs.header(100_000), &theirs.bytes().unwrap()[100_000..]),
            finish: true,
            expect: Error(Code::FailedPrecondition, Some("OFFSET_MISMATCH"), Some("offset")),
        },
        Case {
            name: "offset mismatch",
            bytes: upload(
                mine_partial.header(held_offset + 1),
                &mine_partial.bytes().unwrap()[held_offset as usize + 1..],
            ),
            finish: true,
            expect: Error(Code::FailedPrecondition, Some("OFFSET_MISMATCH"), Some("offset")),
        },
        Case {
            name: "fewer bytes than declared",
            bytes: upload(photo(&record_id, jpeg.clone()).header(0), &jpeg[..jpeg.len() - 1]),
            finish: true,
            expect: Error(invalid, Some("SIZE_MISMATCH"), None),
        },
        Case {
            name: "digest mismatch",
            bytes: {
                let mut h = photo(&record_id, jpeg.clone()).header(0);
                h.sha256 = vec![1; 32];
                upload(h, &jpeg)
            },
            finish: true,
            expect: Error(invalid, Some("DIGEST_MISMATCH"), None),
        },
        Case {
            name: "declared size over the limit",
            bytes: {
                let mut h = photo(&record_id, jpeg.clone()).header(0);
                h.size_bytes = 1 << 40;
                upload(h, &[])
            },
            finish: false,
            expect: Error(invalid, None, Some("size_bytes")),
        },
        Case {
            name: "non-image bytes",
            bytes: {
                let text = b"plain text pretending".to_vec();
                upload(photo(&record_id, text.clone()).header(0), &text)
            },
            finish: true,
            expect: Error(invalid, Some("CONTENT_TYPE_MISMATCH"), None),
        },
        Case {
            name: "truncated JPEG",
            bytes: {
                let cut = jpeg[..jpeg.len() / 2].to_vec();
                upload(photo(&record_id, cut.clone()).header(0), &cut)
            },
            finish: true,
            expect: Error(invalid, Some("IMAGE_CORRUPT"), None),
        },
        Case {
            name: "pixel bomb",
            bytes: upload(photo(&record_id, bomb.clone()).header(0), &bomb),
            finish: true,
            expect: Error(invalid, Some("IMAGE_TOO_LARGE"), None),
        },
        Case {
            name: "photo for another device's record",
            bytes: upload(photo(&foreign.id, jpeg.clone()).header(0), &jpeg),
            finish: true,
            expect: Error(Code::PermissionDenied, None, Some("record_id")),
        },
        Case {
            name: "a stream that goes silent mid-frame",
            bytes: vec![0x80],
            finish: false,
            expect: Error(Code::DeadlineExceeded, Some("REQUEST_TIMEOUT"), None),
        },
        // Accepted oddities and resends.
        Case {
            name: "resend: the original receipt",
            bytes: stored_bytes.clone(),
            finish: true,
            expect: Receipt(vec![]),
        },
        Case {
            name: "unknown fields: accepted, stored byte-exact",
            bytes: raw_inspection(&with_unknown_fields),
            finish: true,
            expect: Receipt(vec![]),
        },
        Case {
            name: "JPEG+ZIP polyglot: kept and flagged",
            bytes: upload(photo(&record_id, polyglot.clone()).header(0), &polyglot),
            finish: true,
            expect: Receipt(vec![EvidenceFlag::TrailingBytes]),
        },
        Case {
            name: "looping EXIF offsets: kept and flagged",
            bytes: upload(photo(&record_id, looping_exif.clone()).header(0), &looping_exif),
            finish: true,
            expect: Receipt(vec![EvidenceFlag::ExifUnreadable]),
        },
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());

    for case in cases {
        eprintln!("bad input: {}", case.name);
        let before = server.item_count().await;
        let response = raw_request(&connection, &case.bytes, case.finish).await;
        let after = server.item_count().await;
        match (case.expect, response.result) {
            (Error(code, reason, field), Some(pb::response::Result::Error(status))) => {
                assert_eq!(status.code_or_unknown(), code, "{}: {status}", case.name);
                if let Some(reason) = reason {
                    assert_eq!(status.reason, reason, "{}", case.name);
                }
                if let Some(field) = field {
                    assert_eq!(status.field, field, "{}", case.name);
                }
                assert_eq!(after, before, "{}: something was stored", case.name);
            }
            (Receipt(flags), Some(pb::response::Result::Receipt(receipt))) => {
                let got: Vec<EvidenceFlag> = receipt
                    .flags
                    .iter()
                    .map(|f| EvidenceFlag::try_from(*f).unwrap())
                    .collect();
                assert_eq!(got, flags, "{}", case.name);
                assert!(after <= before + 1, "{}", case.name);
            }
            (_, other) => panic!("{}: unexpected answer {other:?}", case.name),
        }
    }
    // The unknown-field record is stored byte-exact.
    let unknown = pb::InspectionRecord::decode(with_unknown_fields.as_slice()).unwrap();
    let kept = server
        .server
        .state()
        .storage
        .item(uuid::Uuid::parse_str(&unknown.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.body, with_unknown_fields);
    // Another device's partial upload and an unknown id got the same answer.
    // The connection still serves.
    assert!(matches!(
        raw_request(&connection, &inspection(|_| {}), true).await.result,
        Some(pb::response::Result::Receipt(_))
    ));
    drop(foreign_endpoint);
}
