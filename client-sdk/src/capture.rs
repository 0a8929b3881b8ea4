//! Device-signed capture: every item the SDK sends carries a statement of
//! what was captured (the item's id, kind, SHA-256 and SM3 of its bytes,
//! capture time and place, officer and device) signed with the device's own
//! private key — the key of its mTLS certificate, which never leaves the
//! terminal (docs/protocol.md §10b). The server checks it against the
//! certificate it authenticated and logs it in the item's leaf, so an item
//! altered after it left the terminal, or one made up on the server side,
//! no longer carries a valid device signature.

use std::sync::Arc;

use fieldlink_protocol::capture::{signed_message, CaptureStatement};
use fieldlink_protocol::log::LeafKind;
use fieldlink_protocol::pb::{self, request::Body};
use prost::Message;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use sha2::Digest;

use crate::error::Error;

/// The schemes a device key may sign captures with, best first.
const SCHEMES: &[SignatureScheme] = &[SignatureScheme::ECDSA_NISTP256_SHA256, SignatureScheme::ED25519];

/// Signs capture statements with the device key.
#[derive(Clone)]
pub struct DeviceSigner {
    key: Arc<dyn SigningKey>,
}

impl std::fmt::Debug for DeviceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSigner").finish_non_exhaustive()
    }
}

/// Who signs captures when items are queued offline (the outbox): the
/// device key, the officer signed in on the terminal and the device's id
/// (its certificate's), known before any connection.
#[derive(Debug, Clone)]
pub struct CaptureIdentity {
    /// The device key's signer.
    pub signer: DeviceSigner,
    /// The officer capturing.
    pub officer_id: String,
    /// The device's id.
    pub device_id: String,
}

impl CaptureIdentity {
    /// Signs `captured` as this officer on this device.
    pub fn sign(&self, captured: &Captured<'_>) -> Result<pb::CaptureSignature, Error> {
        self.signer.sign(captured, &self.officer_id, &self.device_id)
    }
}

/// What is captured, as the statement names it.
pub struct Captured<'a> {
    /// The item's kind.
    pub kind: LeafKind,
    /// The item's id (a UUID).
    pub item_id: &'a str,
    /// The bytes the server stores (a record's encoding, a photo's bytes).
    pub bytes: &'a [u8],
    /// Their SHA-256 and SM3, when already known (a large file hashed once
    /// as it was read; `bytes` is then not read).
    pub digests: Option<fieldlink_protocol::Digests>,
    /// When captured, ms since the Unix epoch.
    pub captured_at_ms: i64,
    /// Where (latitude, longitude), if known.
    pub place: Option<(f64, f64)>,
}

impl DeviceSigner {
    /// The signer of the device key `key_pem` (PKCS#8 or SEC1 PEM, ECDSA
    /// P-256 or Ed25519).
    pub fn from_pem(key_pem: &[u8]) -> Result<Self, Error> {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| Error::Config(format!("device key: {e}")))?;
        let key = rustls::crypto::ring::sign::any_supported_type(&der)
            .map_err(|e| Error::Config(format!("device key: {e}")))?;
        if key.choose_scheme(SCHEMES).is_none() {
            return Err(Error::Config(
                "the device key cannot sign captures (ECDSA P-256 or Ed25519 needed)".into(),
            ));
        }
        Ok(Self { key })
    }

    /// The signed statement of `captured` by `officer_id` on `device_id`.
    pub fn sign(
        &self,
        captured: &Captured<'_>,
        officer_id: &str,
        device_id: &str,
    ) -> Result<pb::CaptureSignature, Error> {
        let item_id = uuid::Uuid::parse_str(captured.item_id)
            .map_err(|_| Error::Config(format!("item id {:?} is not a UUID", captured.item_id)))?;
        let (latitude, longitude) = captured.place.unwrap_or((0.0, 0.0));
        let statement = CaptureStatement {
            kind: captured.kind,
            item_id,
            sha256: captured.digests.map_or_else(
                || sha2::Sha256::digest(captured.bytes).into(),
                |digests| *digests.sha256.as_bytes(),
            ),
            sm3: captured.digests.map_or_else(
                || sm3::Sm3::digest(captured.bytes).into(),
                |digests| *digests.sm3.as_bytes(),
            ),
            captured_at_ms: captured.captured_at_ms,
            latitude,
            longitude,
            officer_id: officer_id.to_owned(),
            device_id: device_id.to_owned(),
        }
        .encode();
        let signer = self
            .key
            .choose_scheme(SCHEMES)
            .ok_or_else(|| Error::Config("the device key cannot sign captures".into()))?;
        let signature = signer
            .sign(&signed_message(&statement))
            .map_err(|e| Error::Config(format!("signing the capture: {e}")))?;
        Ok(pb::CaptureSignature {
            statement,
            scheme: u32::from(u16::from(signer.scheme())),
            signature,
        })
    }
}

/// What a request body captured: the owned form of [`Captured`].
pub struct CapturedBody {
    kind: LeafKind,
    item_id: String,
    bytes: Vec<u8>,
    captured_at_ms: i64,
    place: Option<(f64, f64)>,
}

impl CapturedBody {
    /// What is captured, for [`DeviceSigner::sign`].
    pub fn captured(&self) -> Captured<'_> {
        Captured {
            kind: self.kind,
            item_id: &self.item_id,
            bytes: &self.bytes,
            digests: None,
            captured_at_ms: self.captured_at_ms,
            place: self.place,
        }
    }
}

/// What a request body captures, for the kinds that carry a capture
/// signature (records, services and their events, interviews).
pub fn captured_of(body: &Body) -> Option<CapturedBody> {
    let place = |place: &Option<pb::Place>| place.as_ref().map(|p| (p.latitude, p.longitude));
    let (kind, item_id, bytes, captured_at_ms, place) = match body {
        Body::SubmitInspection(r) => (
            LeafKind::Inspection,
            &r.id,
            r.encode_to_vec(),
            r.started_at_ms,
            place(&r.place),
        ),
        Body::SubmitService(s) => (LeafKind::Service, &s.id, s.encode_to_vec(), s.sent_at_ms, None),
        Body::SubmitGridReport(g) => (
            LeafKind::GridReport,
            &g.id,
            g.encode_to_vec(),
            g.observed_at_ms,
            place(&g.place),
        ),
        Body::SubmitServiceEvent(e) => (LeafKind::ServiceEvent, &e.id, e.encode_to_vec(), e.at_ms, None),
        Body::SubmitInterview(i) => (
            LeafKind::Interview,
            &i.id,
            i.encode_to_vec(),
            i.started_at_ms,
            None,
        ),
        _ => return None,
    };
    Some(CapturedBody {
        kind,
        item_id: item_id.clone(),
        bytes,
        captured_at_ms,
        place,
    })
}
