//! Lost or stolen handhelds: revoking a device and enforcing it live.
//!
//! [`revoke_device`] adds a device certificate's serial to the agency CRL
//! (the CA key is needed; in production this runs wherever the CA lives).
//! The server watches its CRL file: when it changes, new handshakes use the
//! new list at once, every live connection of a now-revoked certificate is
//! closed (application code `REVOKED`), and the revocation is recorded. The
//! device's earlier evidence stays, and can be shown with the revocation time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevocationReason, RevokedCertParams,
    SerialNumber,
};
use time::OffsetDateTime;

use crate::config::Config;
use crate::storage::PeopleStore;

/// QUIC application close code: the device's certificate was revoked.
pub const CLOSE_REVOKED: u32 = fieldlink_protocol::close_code::REVOKED;

/// Why a revocation failed.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// A file could not be read or written.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The certificate, key or CRL is not usable.
    #[error("{0}")]
    Invalid(String),
}

/// Adds `device_cert`'s serial to the CRL at `crl` (signed by the CA), writing
/// the new CRL atomically. Returns the device id (the certificate's common name).
pub fn revoke_device(
    ca_cert: &Path,
    ca_key: &Path,
    crl: &Path,
    device_cert: &Path,
) -> Result<String, RevokeError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| RevokeError::File {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    };
    let key = KeyPair::from_pem(&read(ca_key)?).map_err(|e| RevokeError::Invalid(format!("CA key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(&read(ca_cert)?, key)
        .map_err(|e| RevokeError::Invalid(format!("CA certificate: {e}")))?;
    let device_pem = pem_der(&read(device_cert)?, "CERTIFICATE")?;
    let (_, device) = x509_parser::parse_x509_certificate(&device_pem)
        .map_err(|e| RevokeError::Invalid(format!("device certificate: {e}")))?;
    let device_id = device
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    let serial = device.raw_serial().to_vec();

    let (mut revoked, number) = match std::fs::read_to_string(crl) {
        Ok(text) => existing_entries(&text)?,
        Err(_) => (Vec::new(), 0),
    };
    let now = OffsetDateTime::now_utc();
    if !revoked
        .iter()
        .any(|entry: &RevokedCertParams| entry.serial_number.as_ref() == serial.as_slice())
    {
        revoked.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial),
            revocation_time: now,
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        });
    }
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(365 * 20),
        crl_number: SerialNumber::from(number + 1),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let pem = params
        .signed_by(&issuer)
        .and_then(|crl| crl.pem())
        .map_err(|e| RevokeError::Invalid(format!("signing the CRL: {e}")))?;
    let temp = crl.with_extension("pem.tmp");
    std::fs::write(&temp, pem)
        .and_then(|()| std::fs::rename(&temp, crl))
        .map_err(|e| RevokeError::File {
            path: crl.display().to_string(),
            detail: e.to_string(),
        })?;
    Ok(device_id)
}

/// The revoked entries and the number of an existing CRL.
fn existing_entries(text: &str) -> Result<(Vec<RevokedCertParams>, u64), RevokeError> {
    let der = pem_der(text, "X509 CRL")?;
    let (_, crl) =
        x509_parser::parse_x509_crl(&der).map_err(|e| RevokeError::Invalid(format!("CRL: {e}")))?;
    let number = crl
        .crl_number()
        .and_then(|n| u64::try_from(n.clone()).ok())
        .unwrap_or(0);
    let entries = crl
        .iter_revoked_certificates()
        .map(|entry| RevokedCertParams {
            serial_number: SerialNumber::from_slice(entry.raw_serial()),
            revocation_time: OffsetDateTime::from_unix_timestamp(entry.revocation_date.timestamp())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        })
        .collect();
    Ok((entries, number))
}

/// The serial number of the certificate in the PEM file at `cert`.
pub fn certificate_serial(cert: &Path) -> Result<Vec<u8>, RevokeError> {
    let text = std::fs::read_to_string(cert).map_err(|e| RevokeError::File {
        path: cert.display().to_string(),
        detail: e.to_string(),
    })?;
    let der = pem_der(&text, "CERTIFICATE")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| RevokeError::Invalid(format!("certificate: {e}")))?;
    Ok(parsed.raw_serial().to_vec())
}

/// What a CRL file revokes: the serials of every CRL in it, each signed
/// by one of the agency CAs, and the highest CRL number among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The revoked serials.
    pub serials: HashSet<Vec<u8>>,
    /// The highest CRL number in the file (0 when none carries one).
    pub number: u64,
}

/// Reads every CRL of the file at `crl`, checking each one's signature
/// against the CA certificates in `ca_pem` (the agency CA file). A CRL that
/// no CA signed makes the whole file invalid.
pub fn revoked_serials(crl: &Path, ca_pem: &[u8]) -> Result<Revoked, RevokeError> {
    use rustls_pki_types::pem::{PemObject, SectionKind};
    let text = std::fs::read_to_string(crl).map_err(|e| RevokeError::File {
        path: crl.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut cas = Vec::new();
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(ca_pem) {
        let (kind, der) = item.map_err(|e| RevokeError::Invalid(format!("CA PEM: {e}")))?;
        if kind == SectionKind::Certificate {
            cas.push(der);
        }
    }
    let authorities = cas
        .iter()
        .map(|der| {
            x509_parser::parse_x509_certificate(der)
                .map(|(_, cert)| cert)
                .map_err(|e| RevokeError::Invalid(format!("CA certificate: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut revoked = Revoked {
        serials: HashSet::new(),
        number: 0,
    };
    let mut crls = 0;
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(text.as_bytes()) {
        let (kind, der) = item.map_err(|e| RevokeError::Invalid(format!("PEM: {e}")))?;
        if kind != SectionKind::Crl {
            continue;
        }
        crls += 1;
        let (_, parsed) =
            x509_parser::parse_x509_crl(&der).map_err(|e| RevokeError::Invalid(format!("CRL: {e}")))?;
        let signed = authorities
            .iter()
            .any(|ca| ca.subject() == parsed.issuer() && parsed.verify_signature(ca.public_key()).is_ok());
        if !signed {
            return Err(RevokeError::Invalid(format!(
                "CRL {crls} of {} is not signed by an agency CA",
                crl.display()
            )));
        }
        let number = parsed
            .crl_number()
            .and_then(|n| u64::try_from(n.clone()).ok())
            .unwrap_or(0);
        revoked.number = revoked.number.max(number);
        revoked.serials.extend(
            parsed
                .iter_revoked_certificates()
                .map(|e| e.raw_serial().to_vec()),
        );
    }
    if crls == 0 {
        return Err(RevokeError::Invalid(format!("no X509 CRL in {}", crl.display())));
    }
    Ok(revoked)
}

fn pem_der(text: &str, label: &str) -> Result<Vec<u8>, RevokeError> {
    use rustls_pki_types::pem::{PemObject, SectionKind};
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(text.as_bytes()) {
        let (kind, der) = item.map_err(|e| RevokeError::Invalid(format!("PEM: {e}")))?;
        let matches = match kind {
            SectionKind::Certificate => label == "CERTIFICATE",
            SectionKind::Crl => label == "X509 CRL",
            _ => false,
        };
        if matches {
            return Ok(der);
        }
    }
    Err(RevokeError::Invalid(format!("no {label} in the PEM file")))
}

/// Sessions by QUIC connection id: the officer and their token's digest.
type SessionMap = HashMap<usize, (String, Vec<u8>)>;

/// Live connections by QUIC connection id: the connection, its device, its certificate serial.
type ConnectionMap = HashMap<usize, (crate::link::Link, String, Vec<u8>)>;

/// The live connections, by QUIC connection id, with the device and its
/// certificate serial.
#[derive(Default, Clone)]
pub struct LiveConnections {
    connections: Arc<Mutex<ConnectionMap>>,
    /// Certificate serials this node has recorded in storage (a device
    /// reconnecting does not write its serial again).
    serials_noted: Arc<Mutex<HashSet<Vec<u8>>>>,
    /// The serials the CRL in force revokes: a connection whose handshake
    /// was accepted under the previous CRL is checked against them when it
    /// registers and again at its hello.
    revoked: Arc<std::sync::RwLock<HashSet<Vec<u8>>>>,
    /// Who signed in on each connection, and the digest of their session
    /// token, by QUIC connection id.
    officers: Arc<Mutex<SessionMap>>,
}

impl LiveConnections {
    /// Puts the serials of the CRL in force in place.
    pub fn set_revoked(&self, serials: HashSet<Vec<u8>>) {
        if let Ok(mut revoked) = self.revoked.write() {
            *revoked = serials;
        }
    }

    /// Whether the CRL in force revokes `serial`.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked.read().is_ok_and(|revoked| revoked.contains(serial))
    }

    /// Registers a connection after its handshake.
    pub fn insert(&self, connection: &crate::link::Link, device_id: &str, serial: Vec<u8>) {
        self.lock().insert(
            connection.stable_id(),
            (connection.clone(), device_id.to_owned(), serial),
        );
    }

    /// Whether `serial` is new to this node (then it is remembered).
    pub fn first_sighting(&self, serial: &[u8]) -> bool {
        self.serials_noted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(serial.to_vec())
    }

    /// Forgets a sighting whose recording failed, so the next connection tries again.
    pub fn forget_sighting(&self, serial: &[u8]) {
        self.serials_noted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(serial);
    }

    /// Forgets a connection that ended.
    pub fn remove(&self, connection: &crate::link::Link) {
        self.lock().remove(&connection.stable_id());
        self.officers_lock().remove(&connection.stable_id());
    }

    /// Notes who signed in on a connection, with their token's digest.
    pub fn signed_in(&self, connection: &crate::link::Link, officer_id: &str, token_digest: &[u8]) {
        self.officers_lock().insert(
            connection.stable_id(),
            (officer_id.to_owned(), token_digest.to_vec()),
        );
    }

    /// Closes every connection on which one of `officers` is signed in
    /// (SESSION_ENDED); returns how many.
    pub fn close_officers(&self, officers: &HashSet<String>) -> usize {
        self.close_sessions(|officer, _| officers.contains(officer))
    }

    /// Closes every connection whose session token is one of `digests`
    /// (SESSION_ENDED); returns how many.
    pub fn close_tokens(&self, digests: &HashSet<Vec<u8>>) -> usize {
        self.close_sessions(|_, digest| digests.contains(digest))
    }

    fn close_sessions(&self, ends: impl Fn(&str, &Vec<u8>) -> bool) -> usize {
        let ending: Vec<usize> = self
            .officers_lock()
            .iter()
            .filter(|(_, (officer, digest))| ends(officer, digest))
            .map(|(id, _)| *id)
            .collect();
        let connections = self.lock();
        let mut closed = 0;
        for id in ending {
            if let Some((connection, _, _)) = connections.get(&id) {
                connection.close(
                    fieldlink_protocol::close_code::SESSION_ENDED,
                    b"session ended by the agency",
                );
                closed += 1;
            }
        }
        closed
    }

    fn officers_lock(&self) -> std::sync::MutexGuard<'_, SessionMap> {
        self.officers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes every connection whose certificate serial is in `revoked`;
    /// returns the devices closed.
    pub fn close_revoked(&self, revoked: &HashSet<Vec<u8>>) -> Vec<String> {
        // First the set new connections are checked against, then the ones
        // already open: none slips between the two.
        self.set_revoked(revoked.clone());
        let mut closed = Vec::new();
        for (connection, device, serial) in self.lock().values() {
            if revoked.contains(serial) {
                connection.close(CLOSE_REVOKED, b"device revoked");
                closed.push(device.clone());
            }
        }
        closed
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Number of live connections over TCP (TLS, HTTP/2).
    pub fn tcp_len(&self) -> usize {
        self.lock()
            .values()
            .filter(|(link, _, _)| matches!(link, crate::link::Link::Tcp(_)))
            .count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnectionMap> {
        // Poisoning follows a panic elsewhere; the map stays usable.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What watching the CRL needs: the configuration (interval, TLS files,
/// transport settings), the live connections to close, the storage to
/// record revocations in, the clock, and when to stop.
#[derive(Clone)]
pub struct CrlWatch {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Live connections, for closing those of revoked devices.
    pub live: LiveConnections,
    /// Where revocations are recorded.
    pub storage: Arc<dyn PeopleStore>,
    /// The server clock, ms since the Unix epoch.
    pub clock: fn() -> i64,
    /// Where CRL files refused are counted (`fieldlink_crl_refusals_total`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Fires when the server begins shutting down.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The TCP listener's TLS configuration, when it serves one: replaced
    /// with the QUIC endpoint's, so both refuse the same certificates.
    pub tcp_tls: Option<crate::swappable::Swappable<rustls::ServerConfig>>,
}

/// Watches the CRL file every `crl_check_interval_ms`; on a change, applies
/// it to new handshakes and to live connections, unless it is not signed by
/// an agency CA or its CRL number goes backwards from `in_force` (the number
/// of the CRL read at start: an older CRL put back would un-revoke devices).
/// Ends at shutdown.
pub async fn watch_crl(watch: CrlWatch, endpoint: quinn::Endpoint, crl: PathBuf, mut in_force: u64) {
    let interval = Duration::from_millis(watch.config.crl_check_interval_ms);
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = modified(&crl);
    let mut unrecorded = Unrecorded::default();
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = watch.shutdown.cancelled() => return,
        }
        // Revocations in force whose recording failed: again, until recorded.
        unrecorded.flush(|serials| record(&watch, serials)).await;
        let now = modified(&crl);
        if now == seen {
            continue;
        }
        seen = now;
        match apply_crl(&watch, &endpoint, &crl, in_force).await {
            Ok((number, serials)) => {
                in_force = number;
                unrecorded.0 = Some(serials);
                unrecorded.flush(|serials| record(&watch, serials)).await;
            }
            Err(error) => {
                watch
                    .metrics
                    .crl_refusals
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(%error, "the new CRL could not be applied; the previous one stays in force")
            }
        }
    }
}

/// Applies the CRL file if it is signed and not older than CRL number
/// `in_force`; returns its number and the serials it revokes (hex), to be
/// recorded.
async fn apply_crl(
    watch: &CrlWatch,
    endpoint: &quinn::Endpoint,
    crl: &Path,
    in_force: u64,
) -> Result<(u64, Vec<String>), String> {
    let files = watch.config.tls_files().map_err(|e| e.to_string())?;
    let ca = std::fs::read(&files.ca).map_err(|e| format!("{}: {e}", files.ca.display()))?;
    let read = revoked_serials(crl, &ca).map_err(|e| e.to_string())?;
    if read.number < in_force {
        return Err(format!(
            "the CRL's number {} is older than the one in force ({in_force})",
            read.number
        ));
    }
    let crypto = crate::tls::server_config(&files, watch.config.dev).map_err(|e| e.to_string())?;
    let tcp_crypto = crate::tls::tcp_server_config(crypto.clone());
    let server_config = crate::transport::server_config(crypto, &watch.config)?;
    let revoked = read.serials;
    // New handshakes first, then the live connections.
    endpoint.set_server_config(Some(server_config));
    if let Some(tcp_tls) = &watch.tcp_tls {
        tcp_tls.replace(tcp_crypto);
    }
    let closed = watch.live.close_revoked(&revoked);
    let serials: Vec<String> = revoked.iter().map(hex::encode).collect();
    tracing::info!(revoked = revoked.len(), closed = ?closed, number = read.number, "CRL reloaded");
    Ok((read.number, serials))
}

/// Records when the devices of `serials` were found revoked.
async fn record(watch: &CrlWatch, serials: Vec<String>) -> Result<Vec<String>, String> {
    watch
        .storage
        .record_revocations(&serials, (watch.clock)())
        .await
        .map_err(|e| e.to_string())
}

/// Revocations in force (applied to handshakes and live connections) whose
/// recording in the database failed: the time a device was found revoked
/// must not be lost, so recording is tried again at every check until it
/// succeeds (a newer CRL's serials replace the older ones: they include them).
#[derive(Debug, Default)]
struct Unrecorded(Option<Vec<String>>);

impl Unrecorded {
    /// Tries to record what is pending; true when nothing is left.
    async fn flush<F, Fut>(&mut self, record: F) -> bool
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<String>, String>>,
    {
        let Some(serials) = self.0.take() else {
            return true;
        };
        match record(serials.clone()).await {
            Ok(newly) => {
                if !newly.is_empty() {
                    tracing::info!(newly_revoked = ?newly, "revocations recorded");
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, "revocations in force could not be recorded; trying again at the next check");
                self.0 = Some(serials);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revocations_whose_recording_fails_are_recorded_at_a_later_check() {
        let mut unrecorded = Unrecorded(Some(vec!["0a".into(), "0b".into()]));
        let attempts = std::cell::Cell::new(0);
        // The database is down twice: the serials stay pending.
        for _ in 0..2 {
            let done = unrecorded
                .flush(|_| async {
                    attempts.set(attempts.get() + 1);
                    Err("database unavailable".to_string())
                })
                .await;
            assert!(!done);
        }
        // Then it answers: everything pending is recorded, once.
        let mut recorded = Vec::new();
        assert!(
            unrecorded
                .flush(|serials| {
                    recorded = serials.clone();
                    async move { Ok(serials) }
                })
                .await
        );
        assert_eq!(recorded, ["0a", "0b"]);
        assert_eq!(attempts.get(), 2);
        // Nothing left: no further attempt.
        assert!(
            unrecorded
                .flush(|_| async { panic!("nothing should be recorded again") })
                .await
        );
    }

    fn dev_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::certs::generate_dev_set(dir.path()).unwrap();
        dir
    }

    fn serial_of(cert: &Path) -> Vec<u8> {
        let der = pem_der(&std::fs::read_to_string(cert).unwrap(), "CERTIFICATE").unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        parsed.raw_serial().to_vec()
    }

    #[test]
    fn every_crl_of_the_file_counts_and_each_must_be_signed_by_the_ca() {
        let agency = dev_copy();
        let dir = agency.path();
        let ca = std::fs::read(dir.join("ca.pem")).unwrap();
        // The set's CRL revokes device-revoked; a second CRL of the same CA
        // revokes device-002; one file holding both revokes both.
        let second = dir.join("second.pem");
        revoke_device(
            &dir.join("ca.pem"),
            &dir.join("ca.key"),
            &second,
            &dir.join("device-002.pem"),
        )
        .unwrap();
        let both = dir.join("both.pem");
        let text = std::fs::read_to_string(dir.join("crl.pem")).unwrap()
            + &std::fs::read_to_string(&second).unwrap();
        std::fs::write(&both, text).unwrap();
        let revoked = revoked_serials(&both, &ca).unwrap();
        assert!(revoked
            .serials
            .contains(&serial_of(&dir.join("device-revoked.pem"))));
        assert!(revoked.serials.contains(&serial_of(&dir.join("device-002.pem"))));
        assert_eq!(revoked.number, 1);
        // A CRL from another CA, alone or beside a good one, is refused.
        let other = dev_copy();
        let foreign = std::fs::read_to_string(other.path().join("crl.pem")).unwrap();
        std::fs::write(&both, std::fs::read_to_string(&second).unwrap() + &foreign).unwrap();
        assert!(matches!(
            revoked_serials(&both, &ca),
            Err(RevokeError::Invalid(_))
        ));
        assert!(matches!(
            revoked_serials(&other.path().join("crl.pem"), &ca),
            Err(RevokeError::Invalid(_))
        ));
    }
}
