//! One type for the 32-byte digests the protocol carries — SHA-256 and SM3
//! (GB/T 32905-2016) — shown as lower-case hex, compared with the raw bytes
//! a receipt carries, serialized as hex.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use crate::pb;

/// A SHA-256 or SM3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// A receipt's or a file's two digests of the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Digests {
    /// SHA-256.
    pub sha256: Digest,
    /// SM3.
    pub sm3: Digest,
}

/// Why text or bytes are not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not 32 bytes (64 hex digits).
    #[error("a digest is 32 bytes (64 hex digits), not {0}")]
    Length(usize),
    /// Not hex.
    #[error("a digest is written in hex digits")]
    NotHex,
}

impl Digest {
    /// The digest with these bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest in `bytes`, which must be 32 long (as in a receipt).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DigestError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| DigestError::Length(bytes.len()))
    }

    /// SHA-256 of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 64 {
            return Err(DigestError::Length(text.len() / 2));
        }
        let bytes = hex::decode(text).map_err(|_| DigestError::NotHex)?;
        Self::from_slice(&bytes)
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl PartialEq<[u8]> for Digest {
    fn eq(&self, other: &[u8]) -> bool {
        self.0.as_slice() == other
    }
}

impl PartialEq<Vec<u8>> for Digest {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.0.as_slice() == other.as_slice()
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl pb::Receipt {
    /// `sha256` as a [`Digest`] (`None` when the field is not 32 bytes).
    pub fn sha256_digest(&self) -> Option<Digest> {
        Digest::from_slice(&self.sha256).ok()
    }

    /// `sm3` as a [`Digest`] (`None` when empty: assignment receipts).
    pub fn sm3_digest(&self) -> Option<Digest> {
        Digest::from_slice(&self.sm3).ok()
    }

    /// Both digests, when both are present.
    pub fn digests(&self) -> Option<Digests> {
        Some(Digests {
            sha256: self.sha256_digest()?,
            sm3: self.sm3_digest()?,
        })
    }

    /// The review flags, as the enum (values this version does not know
    /// are left out).
    pub fn evidence_flags(&self) -> Vec<pb::EvidenceFlag> {
        self.flags
            .iter()
            .filter_map(|flag| pb::EvidenceFlag::try_from(*flag).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reads_and_writes_hex_and_compares_with_receipt_bytes() {
        let digest = Digest::sha256_of(b"abc");
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_string(), hex);
        assert_eq!(format!("{digest:?}"), format!("Digest({hex})"));
        assert_eq!(hex.parse::<Digest>().unwrap(), digest);
        assert_eq!(hex.to_uppercase().parse::<Digest>().unwrap(), digest);
        assert_eq!("abcd".parse::<Digest>(), Err(DigestError::Length(2)));
        assert_eq!("zz".repeat(32).parse::<Digest>(), Err(DigestError::NotHex));
        assert_eq!(Digest::from_slice(&[0; 31]), Err(DigestError::Length(31)));
        let receipt = pb::Receipt {
            sha256: digest.as_bytes().to_vec(),
            flags: vec![pb::EvidenceFlag::ExifTimeMissing as i32, 999],
            ..Default::default()
        };
        assert!(digest == receipt.sha256);
        assert_eq!(receipt.sha256_digest(), Some(digest));
        assert_eq!(receipt.sm3_digest(), None);
        assert_eq!(receipt.digests(), None);
        assert_eq!(receipt.evidence_flags(), vec![pb::EvidenceFlag::ExifTimeMissing]);
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{hex}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
    }
}
