//! Device-signed capture: the statement a terminal signs with its own
//! device key (the private key of its mTLS certificate) when it sends an
//! item, and how anyone checks it against the device's certificate.
//!
//! The statement binds the item's id, kind and digests (SHA-256 and SM3 of
//! the bytes the server stores: a record's encoding, a photo's bytes) to the
//! capture time, place, officer and device. The server checks it before the
//! receipt, stores it beside the item and puts it in the item's leaf
//! (docs/protocol.md §10b), so an item altered after capture, or one made up
//! by whoever runs the server, no longer carries a valid device signature.

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};

use crate::log::LeafKind;

/// The statement encoding's version byte.
pub const STATEMENT_VERSION: u8 = 1;

/// Prefixed to the statement before signing, so that a capture signature
/// can never be taken for a signature of anything else the key signs (the
/// TLS handshake signs its own, different context string).
pub const SIGNING_CONTEXT: &[u8] = b"fieldlink capture statement v1\0";

/// Largest encoded statement accepted (ids are far shorter).
pub const STATEMENT_BYTES_MAX: usize = 1024;

/// Largest signature accepted (an ECDSA P-256 DER signature is at most 72).
pub const SIGNATURE_BYTES_MAX: usize = 512;

/// TLS SignatureScheme code of ECDSA P-256 with SHA-256 (ASN.1 DER signature).
pub const SCHEME_ECDSA_P256_SHA256: u16 = 0x0403;
/// TLS SignatureScheme code of Ed25519.
pub const SCHEME_ED25519: u16 = 0x0807;

/// What a device attests when it sends an item.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureStatement {
    /// The item's kind.
    pub kind: LeafKind,
    /// The item's id.
    pub item_id: uuid::Uuid,
    /// SHA-256 of the item's bytes.
    pub sha256: [u8; 32],
    /// SM3 of the same bytes.
    pub sm3: [u8; 32],
    /// When it was captured (a record: its start; a photo: when taken), ms
    /// since the Unix epoch.
    pub captured_at_ms: i64,
    /// Where, WGS-84 degrees (0, 0 when unknown).
    pub latitude: f64,
    /// Where, WGS-84 degrees.
    pub longitude: f64,
    /// The signed-in officer.
    pub officer_id: String,
    /// The device (its certificate's device id).
    pub device_id: String,
}

/// Why a capture statement or its signature did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The statement bytes are not a statement of this version.
    #[error("malformed capture statement: {0}")]
    Malformed(&'static str),
    /// The signature scheme is not one this version knows.
    #[error("unsupported signature scheme 0x{0:04x}")]
    UnsupportedScheme(u16),
    /// The certificate cannot be parsed.
    #[error("the device certificate cannot be parsed")]
    BadCertificate,
    /// The signature does not verify with the certificate's key.
    #[error("the capture signature does not verify with the device's key")]
    BadSignature,
    /// The certificate does not chain to the CA, or was not valid then.
    #[error("the device certificate is not issued by the CA: {0}")]
    Untrusted(String),
}

impl CaptureStatement {
    /// The canonical encoding: version (1 byte), kind (1), item id (16),
    /// SHA-256 (32), SM3 (32), captured_at_ms (8, big-endian two's
    /// complement), latitude and longitude (8 each, IEEE 754 binary64
    /// big-endian), then officer id and device id, each a 2-byte big-endian
    /// length and that many bytes of UTF-8.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(110 + self.officer_id.len() + self.device_id.len());
        out.push(STATEMENT_VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(self.item_id.as_bytes());
        out.extend_from_slice(&self.sha256);
        out.extend_from_slice(&self.sm3);
        out.extend_from_slice(&self.captured_at_ms.to_be_bytes());
        out.extend_from_slice(&self.latitude.to_be_bytes());
        out.extend_from_slice(&self.longitude.to_be_bytes());
        for text in [&self.officer_id, &self.device_id] {
            let bytes = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Parses [`CaptureStatement::encode`]'s output; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, CaptureError> {
        if bytes.len() > STATEMENT_BYTES_MAX {
            return Err(CaptureError::Malformed("too long"));
        }
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], CaptureError> {
            if rest.len() < n {
                return Err(CaptureError::Malformed("truncated"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        if take(1)?[0] != STATEMENT_VERSION {
            return Err(CaptureError::Malformed("unknown version"));
        }
        let kind = LeafKind::from_byte(take(1)?[0]).ok_or(CaptureError::Malformed("unknown kind"))?;
        let item_id = uuid::Uuid::from_slice(take(16)?).map_err(|_| CaptureError::Malformed("item id"))?;
        let digest = |slice: &[u8]| -> [u8; 32] {
            let mut out = [0; 32];
            out.copy_from_slice(slice);
            out
        };
        let eight = |slice: &[u8]| -> [u8; 8] {
            let mut out = [0; 8];
            out.copy_from_slice(slice);
            out
        };
        let sha256 = digest(take(32)?);
        let sm3 = digest(take(32)?);
        let captured_at_ms = i64::from_be_bytes(eight(take(8)?));
        let latitude = f64::from_be_bytes(eight(take(8)?));
        let longitude = f64::from_be_bytes(eight(take(8)?));
        let mut text = || -> Result<String, CaptureError> {
            let length = take(2)?;
            let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
            String::from_utf8(take(length)?.to_vec()).map_err(|_| CaptureError::Malformed("not UTF-8"))
        };
        let officer_id = text()?;
        let device_id = text()?;
        if !rest.is_empty() {
            return Err(CaptureError::Malformed("trailing bytes"));
        }
        Ok(Self {
            kind,
            item_id,
            sha256,
            sm3,
            captured_at_ms,
            latitude,
            longitude,
            officer_id,
            device_id,
        })
    }
}

/// The bytes a device signs: [`SIGNING_CONTEXT`] then the statement.
pub fn signed_message(statement: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + statement.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(statement);
    message
}

fn algorithm(scheme: u16) -> Result<&'static dyn SignatureVerificationAlgorithm, CaptureError> {
    match scheme {
        SCHEME_ECDSA_P256_SHA256 => Ok(webpki::ring::ECDSA_P256_SHA256),
        SCHEME_ED25519 => Ok(webpki::ring::ED25519),
        other => Err(CaptureError::UnsupportedScheme(other)),
    }
}

/// Checks `signature` (of `scheme`) over `statement` with the public key of
/// the device certificate `certificate_der`.
pub fn verify_signature(
    certificate_der: &[u8],
    scheme: u16,
    statement: &[u8],
    signature: &[u8],
) -> Result<(), CaptureError> {
    let algorithm = algorithm(scheme)?;
    if signature.len() > SIGNATURE_BYTES_MAX || statement.len() > STATEMENT_BYTES_MAX {
        return Err(CaptureError::BadSignature);
    }
    let der = CertificateDer::from(certificate_der);
    let certificate = webpki::EndEntityCert::try_from(&der).map_err(|_| CaptureError::BadCertificate)?;
    certificate
        .verify_signature(algorithm, &signed_message(statement), signature)
        .map_err(|_| CaptureError::BadSignature)
}

/// Checks that the device certificate was issued by the CA `ca_der` for
/// client authentication and was valid at `at_ms`.
pub fn verify_certificate(certificate_der: &[u8], ca_der: &[u8], at_ms: i64) -> Result<(), CaptureError> {
    let der = CertificateDer::from(certificate_der);
    let certificate = webpki::EndEntityCert::try_from(&der).map_err(|_| CaptureError::BadCertificate)?;
    let ca = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca).map_err(|e| CaptureError::Untrusted(e.to_string()))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_millis(
        u64::try_from(at_ms).unwrap_or(0),
    ));
    certificate
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            at,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| CaptureError::Untrusted(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> CaptureStatement {
        CaptureStatement {
            kind: LeafKind::Photo,
            item_id: uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
            sha256: [1; 32],
            sm3: [2; 32],
            captured_at_ms: 1_796_175_005_000,
            latitude: 29.8683,
            longitude: 121.544,
            officer_id: "officer-01".into(),
            device_id: "device-001".into(),
        }
    }

    #[test]
    fn statements_round_trip_and_anything_else_is_refused() {
        let bytes = statement().encode();
        assert_eq!(bytes.len(), 106 + 2 + 10 + 2 + 10);
        assert_eq!(CaptureStatement::decode(&bytes).unwrap(), statement());
        for cut in 0..bytes.len() {
            assert!(CaptureStatement::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            CaptureStatement::decode(&longer),
            Err(CaptureError::Malformed("trailing bytes"))
        );
        let mut version = bytes.clone();
        version[0] = 2;
        assert!(CaptureStatement::decode(&version).is_err());
    }

    #[test]
    fn an_unknown_scheme_and_a_bad_certificate_are_typed_errors() {
        assert_eq!(
            verify_signature(b"not a certificate", 0x0401, b"s", b"sig"),
            Err(CaptureError::UnsupportedScheme(0x0401))
        );
        assert_eq!(
            verify_signature(b"not a certificate", SCHEME_ED25519, b"s", b"sig"),
            Err(CaptureError::BadCertificate)
        );
    }
}
