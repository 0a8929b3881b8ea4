//! The `device_captures` rows of a batch and the certificates they name,
//! for both backends to insert in as few statements as each allows.

use sha2::Digest;

use super::NewItem;

/// One `device_captures` row.
#[derive(Debug)]
pub(crate) struct CaptureRow<'a> {
    pub item_id: String,
    pub scheme: i32,
    pub statement: &'a [u8],
    pub signature: &'a [u8],
    pub certificate_sha256: &'a [u8],
}

/// The capture rows of `items` (those signed by their device) and the
/// distinct certificates as (SHA-256, DER), sorted by digest.
pub(crate) struct CaptureRows<'a> {
    digests: Vec<[u8; 32]>,
    items: Vec<&'a NewItem>,
}

impl<'a> CaptureRows<'a> {
    /// The signed items among `items`.
    pub fn of(items: &[&'a NewItem]) -> Self {
        let items: Vec<&NewItem> = items
            .iter()
            .copied()
            .filter(|item| item.capture.is_some())
            .collect();
        let digests = items
            .iter()
            .filter_map(|item| item.capture.as_ref())
            .map(|capture| sha2::Sha256::digest(&capture.certificate).into())
            .collect();
        Self { digests, items }
    }

    /// Whether no item is signed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// One row per signed item.
    pub fn rows(&self) -> Vec<CaptureRow<'_>> {
        self.items
            .iter()
            .zip(&self.digests)
            .filter_map(|(item, digest)| {
                let capture = item.capture.as_ref()?;
                Some(CaptureRow {
                    item_id: item.item_id.to_string(),
                    scheme: i32::from(capture.scheme),
                    statement: &capture.statement,
                    signature: &capture.signature,
                    certificate_sha256: digest,
                })
            })
            .collect()
    }

    /// Each certificate once, as (SHA-256, DER).
    pub fn certificates(&self) -> Vec<(&[u8], &[u8])> {
        let mut certificates: Vec<(&[u8], &[u8])> = self
            .items
            .iter()
            .zip(&self.digests)
            .filter_map(|(item, digest)| {
                Some((digest.as_slice(), item.capture.as_ref()?.certificate.as_slice()))
            })
            .collect();
        certificates.sort();
        certificates.dedup_by(|a, b| a.0 == b.0);
        certificates
    }
}
