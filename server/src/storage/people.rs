//! People and devices: the directory, session tokens, presence, device
//! certificates and revocations.

use async_trait::async_trait;

use super::StorageError;
use crate::directory::{Officer, Team};

/// The directory, session tokens, presence and devices.
#[async_trait]
pub trait PeopleStore: Send + Sync + 'static {
    /// Inserts or updates teams and officers.
    async fn upsert_directory(&self, teams: &[Team], officers: &[Officer]) -> Result<(), StorageError>;

    /// Loads all teams and officers.
    async fn load_directory(&self) -> Result<(Vec<Team>, Vec<Officer>), StorageError>;

    /// Stores a new session token's digest.
    async fn insert_session_token(
        &self,
        token_sha256: &[u8],
        token: &SessionToken,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Looks up a session token by digest.
    async fn session_token(&self, token_sha256: &[u8]) -> Result<Option<SessionToken>, StorageError>;

    /// Revokes every session token of an officer; returns how many.
    async fn revoke_session_tokens(&self, officer_id: &str, now_ms: i64) -> Result<u64, StorageError>;

    /// Each officer's credential as the directory had recorded it by
    /// `at_ms` (its history is append-only), for those with one recorded.
    async fn credentials_recorded_by(
        &self,
        officer_ids: &[String],
        at_ms: i64,
    ) -> Result<Vec<(String, CredentialRecord)>, StorageError>;

    /// The digests of the session tokens revoked at or after `since_ms`
    /// (every node closes the live sessions holding them).
    async fn tokens_revoked_since(&self, since_ms: i64) -> Result<Vec<Vec<u8>>, StorageError>;

    /// Disables (enrolled = false) every enrolled officer whose id is not in
    /// `keep`: a directory file that no longer lists someone removes them
    /// from service but keeps their name for the records they made. Returns
    /// those disabled.
    async fn disable_officers_not_in(&self, keep: &[String]) -> Result<Vec<String>, StorageError>;

    /// Replaces this node's presence rows: (officer, sessions, last seen ms).
    async fn record_presence(
        &self,
        node_id: &str,
        officers: &[(String, u32, i64)],
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Everyone's presence on other nodes than `except_node`: sessions
    /// counted from rows refreshed at or after `fresh_after_ms`, last seen
    /// from all rows.
    async fn presence(
        &self,
        except_node: &str,
        fresh_after_ms: i64,
    ) -> Result<Vec<(String, u32, i64)>, StorageError>;

    /// Remembers which device presented a certificate serial (hex).
    async fn note_device_certificate(
        &self,
        device_id: &str,
        serial_hex: &str,
        now_ms: i64,
    ) -> Result<(), StorageError>;

    /// Records revocations of known serials; returns the devices newly revoked.
    async fn record_revocations(
        &self,
        serials_hex: &[String],
        now_ms: i64,
    ) -> Result<Vec<String>, StorageError>;

    /// When a device was first found revoked, if it was.
    async fn device_revoked_at(&self, device_id: &str) -> Result<Option<i64>, StorageError>;

    /// Every device certificate seen, by device then first sighting.
    async fn devices(&self) -> Result<Vec<DeviceRecord>, StorageError>;
}

/// An enforcement credential as the directory recorded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialRecord {
    /// The number (执法证号); empty once the officer holds none.
    pub credential_number: String,
    /// First day valid, `YYYY-MM-DD`, when given.
    pub valid_from: Option<String>,
    /// Last day valid (inclusive), when given.
    pub valid_until: Option<String>,
}

impl CredentialRecord {
    /// Whether it was a credential in force at `at_ms`.
    pub fn in_force_at(&self, at_ms: i64) -> bool {
        !self.credential_number.is_empty()
            && crate::directory::credential_valid_at(
                self.valid_from.as_deref(),
                self.valid_until.as_deref(),
                at_ms,
            )
    }
}

/// A device certificate the server has seen, and its revocation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRecord {
    /// The device id (the certificate's common name).
    pub device_id: String,
    /// The certificate's serial number, hex.
    pub serial_hex: String,
    /// When a node first saw it at a handshake (ms).
    pub first_seen_ms: i64,
    /// When the CRL in force first revoked it (ms), if it has.
    pub revoked_at_ms: Option<i64>,
}

/// A session token's stored facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken {
    /// The officer it signs in.
    pub officer_id: String,
    /// The device it is bound to.
    pub device_id: String,
    /// Expiry.
    pub expires_at_ms: i64,
    /// Set once revoked.
    pub revoked_at_ms: Option<i64>,
}
