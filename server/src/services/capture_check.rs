//! Checking a device capture signature before the receipt
//! (docs/protocol.md §10b): the statement must describe the item about to be
//! stored — its kind, id, digests, officer and device (and for a photo its
//! declared time and place) — and its signature must verify with the device
//! certificate the connection authenticated with. What passes is stored
//! beside the item and goes into its leaf.

use fieldlink_protocol::capture::{self, CaptureStatement};
use fieldlink_protocol::log::LeafKind;
use fieldlink_protocol::{pb, FieldError};

use crate::error::ServiceError;
use crate::session::Session;
use crate::storage::DeviceCapture;

/// What the statement must say, from the item as received.
pub struct Expected<'a> {
    /// The item's kind.
    pub kind: LeafKind,
    /// The item's id.
    pub item_id: uuid::Uuid,
    /// SHA-256 of its bytes.
    pub sha256: &'a [u8; 32],
    /// SM3 of its bytes, when known already (a photo's is known only once
    /// its bytes arrived: see [`check_sm3`]).
    pub sm3: Option<[u8; 32]>,
    /// A photo's declared capture time and place (a record's are in its
    /// bytes, which the digests cover).
    pub photo: Option<(i64, Option<(f64, f64)>)>,
}

/// A capture signature that checked out, with its decoded statement.
pub struct Checked {
    /// As stored and logged.
    pub capture: DeviceCapture,
    /// The statement it signs.
    pub statement: CaptureStatement,
}

fn refused(field: &str, reason: impl Into<String>) -> ServiceError {
    FieldError::new(field, reason).into()
}

/// Checks `capture` (if the request carried one) against `expected` and the
/// session's device certificate.
pub fn check(
    session: &Session,
    capture: Option<&pb::CaptureSignature>,
    expected: &Expected<'_>,
) -> Result<Option<Checked>, ServiceError> {
    let Some(capture) = capture else {
        return Ok(None);
    };
    let Some(certificate) = &session.certificate else {
        return Err(refused(
            "capture",
            "only a terminal's device key can sign a capture",
        ));
    };
    let scheme = u16::try_from(capture.scheme)
        .map_err(|_| refused("capture.scheme", format!("unknown scheme {}", capture.scheme)))?;
    let statement = CaptureStatement::decode(&capture.statement)
        .map_err(|e| refused("capture.statement", e.to_string()))?;
    let mut differs = Vec::new();
    if statement.kind != expected.kind {
        differs.push("kind");
    }
    if statement.item_id != expected.item_id {
        differs.push("item id");
    }
    if statement.sha256 != *expected.sha256 {
        differs.push("SHA-256");
    }
    if expected.sm3.is_some_and(|sm3| sm3 != statement.sm3) {
        differs.push("SM3");
    }
    if statement.officer_id != session.officer.id {
        differs.push("officer");
    }
    if statement.device_id != session.device_id {
        differs.push("device");
    }
    if let Some((captured_at_ms, position)) = expected.photo {
        if statement.captured_at_ms != captured_at_ms {
            differs.push("capture time");
        }
        if position.unwrap_or((0.0, 0.0)) != (statement.latitude, statement.longitude) {
            differs.push("capture place");
        }
    }
    if !differs.is_empty() {
        return Err(refused(
            "capture.statement",
            format!("does not describe this item: {} differ", differs.join(", ")),
        ));
    }
    capture::verify_signature(certificate, scheme, &capture.statement, &capture.signature)
        .map_err(|e| refused("capture.signature", e.to_string()))?;
    Ok(Some(Checked {
        capture: DeviceCapture {
            scheme,
            statement: capture.statement.clone(),
            signature: capture.signature.clone(),
            certificate: certificate.to_vec(),
        },
        statement,
    }))
}

/// Checks a photo's SM3, known once its bytes arrived, against the statement.
pub fn check_sm3(checked: Option<&Checked>, sm3: &[u8; 32]) -> Result<(), ServiceError> {
    match checked {
        Some(checked) if checked.statement.sm3 != *sm3 => Err(refused(
            "capture.statement",
            "does not describe this item: SM3 differs",
        )),
        _ => Ok(()),
    }
}

/// The SM3 of an item's bytes.
pub fn sm3_of(bytes: &[u8]) -> [u8; 32] {
    use sm3::Digest;
    sm3::Sm3::digest(bytes).into()
}

/// For the record kinds: attaches the checked capture signature of
/// `capture` to `item` (whose bytes are its body).
pub fn attach(
    session: &Session,
    capture: Option<&pb::CaptureSignature>,
    kind: LeafKind,
    mut item: crate::storage::NewItem,
) -> Result<crate::storage::NewItem, ServiceError> {
    let expected = Expected {
        kind,
        item_id: item.item_id,
        sha256: &item.sha256,
        sm3: Some(sm3_of(&item.body)),
        photo: None,
    };
    item.capture = check(session, capture, &expected)?.map(|checked| checked.capture);
    Ok(item)
}
