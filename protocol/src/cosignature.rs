//! Witness cosignatures (C2SP tlog-cosignature, `cosignature/v1`): a
//! witness — an independent party with its own Ed25519 key — signs a
//! checkpoint only after checking that it extends every checkpoint of the
//! same log it signed before. A checkpoint carrying the cosignature of a
//! witness one trusts was therefore not forked behind that witness's back.
//!
//! Format (<https://c2sp.org/tlog-cosignature>): the verifier key is
//! `name+keyid+base64(0x04 ‖ public key)`, the key id the first four bytes
//! of SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key); the signature line's bytes
//! are key id ‖ timestamp (8 bytes, big-endian seconds) ‖ Ed25519 signature
//! of `"cosignature/v1\ntime " ‖ timestamp in decimal ‖ "\n" ‖ the
//! checkpoint's text`.

use base64::prelude::{Engine, BASE64_STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use signed_note::{Note, VerifierList};

use crate::log::LogError;

/// The cosignature/v1 algorithm byte of a verifier key.
pub const ALGORITHM: u8 = 0x04;

/// The message a witness signs for `checkpoint_text` at `timestamp`.
pub fn signed_message(timestamp: u64, checkpoint_text: &[u8]) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    message.extend_from_slice(checkpoint_text);
    message
}

/// The key id of witness `name` with `public_key`.
pub fn key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut encoded = vec![ALGORITHM];
    encoded.extend_from_slice(public_key.as_bytes());
    signed_note::key_id(name, &encoded)
}

/// The verifier key text of witness `name`.
pub fn verifier_key(name: &str, public_key: &VerifyingKey) -> String {
    let mut encoded = vec![ALGORITHM];
    encoded.extend_from_slice(public_key.as_bytes());
    format!(
        "{name}+{:08x}+{}",
        key_id(name, public_key),
        BASE64_STANDARD.encode(encoded)
    )
}

/// A witness's public key, to check its cosignatures.
#[derive(Debug, Clone)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a cosignature/v1 verifier key (`name+keyid+base64`).
    pub fn new(verifier_key: &str) -> Result<Self, LogError> {
        let bad = |why: &str| LogError::MalformedKey(format!("witness key: {why}"));
        let mut parts = verifier_key.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not name+keyid+key"));
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(bad("invalid name"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("key id is not hex"))?;
        let encoded = BASE64_STANDARD.decode(encoded).map_err(|_| bad("not base64"))?;
        let (Some(&ALGORITHM), Ok(bytes)) = (
            encoded.first(),
            <[u8; 32]>::try_from(encoded.get(1..).unwrap_or_default()),
        ) else {
            return Err(bad("not a cosignature/v1 Ed25519 key"));
        };
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not an Ed25519 point"))?;
        if key_id(name, &key) != id {
            return Err(bad("the key id does not match the key"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl signed_note::Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Ok(timestamp), Ok(signature)) = (
            <[u8; 8]>::try_from(sig.get(..8).unwrap_or_default()),
            Signature::from_slice(sig.get(8..).unwrap_or_default()),
        ) else {
            return false;
        };
        let message = signed_message(u64::from_be_bytes(timestamp), msg);
        self.key.verify(&message, &signature).is_ok()
    }
}

/// A witness's signing side.
pub struct CosignatureSigner {
    name: String,
    id: u32,
    key: SigningKey,
    timestamp: u64,
}

impl CosignatureSigner {
    /// A signer for witness `name` with `key`, stamping `timestamp`
    /// (seconds since the Unix epoch).
    pub fn new(name: &str, key: SigningKey, timestamp: u64) -> Self {
        Self {
            name: name.to_owned(),
            id: key_id(name, &key.verifying_key()),
            key,
            timestamp,
        }
    }
}

impl signed_note::Signer for CosignatureSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        let mut out = self.timestamp.to_be_bytes().to_vec();
        out.extend_from_slice(&self.key.sign(&signed_message(self.timestamp, msg)).to_bytes());
        Ok(out)
    }
}

/// Checks that `note` carries a valid cosignature by the witness with
/// `witness_key`.
pub fn check_cosigned(note: &str, witness_key: &str) -> Result<(), LogError> {
    let verifier = CosignatureVerifier::new(witness_key)?;
    let name = verifier.name().to_owned();
    let parsed =
        Note::from_bytes(note.as_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
    parsed
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map(|_| ())
        .map_err(|e| LogError::BadSignature(format!("no valid cosignature by witness {name}: {e}")))
}

/// `note` with the cosignature lines of `cosigned` (the same checkpoint,
/// signed by witnesses) added: one note carrying every signature.
pub fn merge(note: &str, cosigned: &[String]) -> Result<String, LogError> {
    let malformed = |e: signed_note::NoteError| LogError::MalformedCheckpoint(e.to_string());
    let base = Note::from_bytes(note.as_bytes()).map_err(malformed)?;
    let mut lines: Vec<String> = Vec::new();
    for other in cosigned {
        let other = Note::from_bytes(other.as_bytes()).map_err(malformed)?;
        if other.text() != base.text() {
            return Err(LogError::MalformedCheckpoint(
                "a cosigned note of another checkpoint".into(),
            ));
        }
        let bytes = other.to_bytes();
        let text = String::from_utf8_lossy(&bytes[base.text().len() + 1..]).into_owned();
        lines.extend(text.lines().map(str::to_owned));
    }
    let mut merged = note.to_owned();
    for line in lines {
        if !merged.lines().any(|existing| existing == line) {
            merged.push_str(&line);
            merged.push('\n');
        }
    }
    Note::from_bytes(merged.as_bytes()).map_err(malformed)?;
    Ok(merged)
}

/// A new witness key pair: (private key text for `fieldlink-server
/// witness --key`, verifier key text). The private key text is
/// `PRIVATE+WITNESS+name+base64(seed)`.
pub fn generate_key(name: &str, seed: [u8; 32]) -> (String, String) {
    let key = SigningKey::from_bytes(&seed);
    (
        format!("PRIVATE+WITNESS+{name}+{}", BASE64_STANDARD.encode(seed)),
        verifier_key(name, &key.verifying_key()),
    )
}

/// Parses [`generate_key`]'s private key text: (name, key).
pub fn parse_private_key(text: &str) -> Result<(String, SigningKey), LogError> {
    let bad = || LogError::MalformedKey("witness private key: not PRIVATE+WITNESS+name+base64".into());
    let rest = text.trim().strip_prefix("PRIVATE+WITNESS+").ok_or_else(bad)?;
    let (name, seed) = rest.rsplit_once('+').ok_or_else(bad)?;
    if !signed_note::is_key_name_valid(name) {
        return Err(bad());
    }
    let seed: [u8; 32] = BASE64_STANDARD
        .decode(seed)
        .map_err(|_| bad())?
        .try_into()
        .map_err(|_| bad())?;
    Ok((name.to_owned(), SigningKey::from_bytes(&seed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn cosigned(name: &str, seed: u8, timestamp: u64) -> (String, String) {
        let (private, public) = generate_key(name, [seed; 32]);
        let (name, key) = parse_private_key(&private).unwrap();
        let mut note = Note::new(NOTE.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&CosignatureSigner::new(&name, key, timestamp)])
            .unwrap();
        (String::from_utf8(note.to_bytes()).unwrap(), public)
    }

    #[test]
    fn a_cosignature_verifies_with_its_key_only_and_the_key_id_is_c2sp() {
        let (note, public) = cosigned("witness.example", 7, 1_700_000_000);
        check_cosigned(&note, &public).unwrap();
        let (_, other) = generate_key("witness.example", [8; 32]);
        assert!(check_cosigned(&note, &other).is_err());
        // The key id is SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[..4].
        let verifier = CosignatureVerifier::new(&public).unwrap();
        let mut hashed = b"witness.example\n".to_vec();
        hashed.push(ALGORITHM);
        hashed.extend_from_slice(verifier.key.as_bytes());
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&hashed);
        assert_eq!(
            signed_note::Verifier::key_id(&verifier),
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
        );
        // A changed checkpoint text no longer verifies.
        let forged = note.replacen("\n5\n", "\n6\n", 1);
        assert!(check_cosigned(&forged, &public).is_err());
    }

    #[test]
    fn the_signed_message_carries_the_timestamp() {
        let (note, public) = cosigned("w", 7, 42);
        let line = note.lines().last().unwrap();
        let encoded = line.rsplit(' ').next().unwrap();
        let bytes = BASE64_STANDARD.decode(encoded).unwrap();
        assert_eq!(bytes.len(), 4 + 8 + 64);
        assert_eq!(u64::from_be_bytes(bytes[4..12].try_into().unwrap()), 42);
        let verifier = CosignatureVerifier::new(&public).unwrap();
        let signature = Signature::from_slice(&bytes[12..]).unwrap();
        verifier
            .key
            .verify(&signed_message(42, NOTE.as_bytes()), &signature)
            .unwrap();
    }

    #[test]
    fn cosignatures_of_the_same_checkpoint_merge_into_one_note() {
        let (first, first_key) = cosigned("one", 1, 10);
        let (second, second_key) = cosigned("two", 2, 11);
        let merged = merge(&first, &[second.clone(), first.clone()]).unwrap();
        check_cosigned(&merged, &first_key).unwrap();
        check_cosigned(&merged, &second_key).unwrap();
        assert_eq!(merged.lines().filter(|l| l.starts_with('—')).count(), 2);
        let (other, _) = {
            let mut note = Note::new(
                b"example.com/log\n6\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
                &[],
            )
            .unwrap();
            let (_, key) = parse_private_key(&generate_key("x", [3; 32]).0).unwrap();
            note.add_sigs(&[&CosignatureSigner::new("x", key, 1)]).unwrap();
            (String::from_utf8(note.to_bytes()).unwrap(), ())
        };
        assert!(merge(&first, &[other]).is_err());
    }
}
