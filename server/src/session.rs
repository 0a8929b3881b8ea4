//! The session a connection opened: who is on the other end. A plain value
//! the services take; [`crate::connection`] opens it.

use crate::directory::Officer;

/// An open session: who is on the other end.
#[derive(Debug, Clone)]
pub struct Session {
    /// The device, from its certificate.
    pub device_id: String,
    /// The signed-in officer.
    pub officer: Officer,
    /// The device certificate (DER) the connection authenticated with,
    /// against which capture signatures are checked; none for the console.
    pub certificate: Option<std::sync::Arc<[u8]>>,
    /// SHA-256 of the session token the terminal holds (issued at a
    /// password sign-in, or presented); revoking it ends the session. Empty
    /// for the console.
    pub token_digest: Vec<u8>,
}
