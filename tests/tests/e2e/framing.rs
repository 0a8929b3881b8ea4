//! Frames the server must refuse without harm: oversize, truncated, malformed.

use fieldlink_protocol::pb::{self, Code};
use fieldlink_tests::{connect, expect_error, raw_request, raw_session, record, TestServer};

#[tokio::test]
async fn an_oversize_frame_is_refused_from_its_length_prefix_alone() {
    let server = TestServer::start().await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    // Announce 2 GiB and send nothing more, leaving the stream open: the
    // answer can only come from the prefix, so nothing was buffered.
    let mut prefix = Vec::new();
    prost::encoding::encode_varint(2 * 1024 * 1024 * 1024, &mut prefix);
    let status = expect_error(raw_request(&connection, &prefix, false).await);
    assert_eq!(status.code_or_unknown(), Code::ResourceExhausted);
    assert_eq!(status.reason, "FRAME_TOO_LARGE");
    // Just over the configured limit is refused too.
    let mut prefix = Vec::new();
    prost::encoding::encode_varint(
        u64::from(fieldlink_protocol::limits::FRAME_BYTES_MAX_DEFAULT) + 1,
        &mut prefix,
    );
    assert_eq!(
        expect_error(raw_request(&connection, &prefix, false).await).reason,
        "FRAME_TOO_LARGE"
    );

    // The same connection and other clients are still served.
    let frame = fieldlink_protocol::frame::encode(&pb::Request {
        body: Some(pb::request::Body::SubmitInspection(record("officer-01"))),
        capture: None,
    });
    assert!(matches!(
        raw_request(&connection, &frame, true).await.result,
        Some(pb::response::Result::Receipt(_))
    ));
    let other = connect(server.addr(), "device-002", "officer-02").await.unwrap();
    assert!(other.submit_inspection(&record("officer-02")).await.is_ok());
}

#[tokio::test]
async fn a_truncated_frame_gets_its_own_error() {
    let server = TestServer::start().await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    let frame = fieldlink_protocol::frame::encode(&pb::Request {
        body: Some(pb::request::Body::SubmitInspection(record("officer-01"))),
        capture: None,
    });
    let status = expect_error(raw_request(&connection, &frame[..frame.len() / 2], true).await);
    assert_eq!(status.code_or_unknown(), Code::InvalidArgument);
    assert_eq!(status.reason, "FRAME_TRUNCATED");
    // A length prefix cut in the middle is truncated too.
    let status = expect_error(raw_request(&connection, &[0x80], true).await);
    assert_eq!(status.reason, "FRAME_TRUNCATED");
    assert_eq!(server.item_count().await, 0);
    // An eleven-byte varint is malformed, not truncated.
    let status = expect_error(raw_request(&connection, &[0xff; 11], true).await);
    assert_eq!(status.reason, "FRAME_MALFORMED");
    // And the connection still works.
    assert!(matches!(
        raw_request(&connection, &frame, true).await.result,
        Some(pb::response::Result::Receipt(_))
    ));
}

#[tokio::test]
async fn malformed_messages_and_unknown_request_kinds_are_typed_errors() {
    let server = TestServer::start().await;
    let (_endpoint, connection) = raw_session(server.addr(), "device-001", "officer-01").await;
    // Not protobuf.
    let garbage = fieldlink_protocol::frame::encode_raw(&[0x0a, 0x05, 0x01]);
    let status = expect_error(raw_request(&connection, &garbage, true).await);
    assert_eq!(status.reason, "MESSAGE_MALFORMED");
    // An empty request: no body.
    let empty = fieldlink_protocol::frame::encode_raw(&[]);
    let status = expect_error(raw_request(&connection, &empty, true).await);
    assert_eq!(status.code_or_unknown(), Code::Unimplemented);
    // A request kind from the future (unknown field 40).
    let future = fieldlink_protocol::frame::encode_raw(&[0xc2, 0x02, 0x00]);
    assert_eq!(
        expect_error(raw_request(&connection, &future, true).await).reason,
        "UNKNOWN_REQUEST"
    );
    // Invalid UTF-8 in a string.
    let bad_utf8 = fieldlink_protocol::frame::encode_raw(&[0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]);
    assert_eq!(
        expect_error(raw_request(&connection, &bad_utf8, true).await).reason,
        "MESSAGE_MALFORMED"
    );
    assert_eq!(server.item_count().await, 0);
}
