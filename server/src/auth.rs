//! Officer sign-in: argon2id password hashes and session tokens.
//!
//! A password sign-in issues a session token bound to the device and officer
//! (random 256 bits; only its SHA-256 is stored), expiring after a shift, so
//! that reconnects present the token and the terminal never keeps the
//! password.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// Why hashing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The hashing library failed (bad stored hash, bad parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id (the library's default parameters,
/// OWASP's recommended minimum: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC `hash`. A malformed stored hash
/// never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the officer does not exist, so that an
/// unknown id costs the same time as a wrong password (no existence oracle).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

/// A new session token: 32 random bytes, hex.
pub fn new_session_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The stored form of a token: its SHA-256.
pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let hash = hash_password("secret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("secret", &hash));
        assert!(!verify_password("Secret", &hash));
        assert!(!verify_password("secret", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let a = new_session_token();
        assert_ne!(a, new_session_token());
        assert_eq!(a.len(), 64);
        assert_eq!(token_digest(&a).len(), 32);
    }
}
