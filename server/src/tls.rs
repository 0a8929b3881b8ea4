//! TLS for the QUIC endpoint: TLS 1.3 only, mutual authentication against the
//! agency CA with its CRL, ALPN `fieldlink/1`, and the device identity read
//! from the client certificate.
//!
//! Session resumption is switched off: a resumed TLS 1.3 session does not
//! present the client certificate again, so a device revoked after its first
//! handshake could come back without meeting the CRL. Every connection is a
//! full handshake (no tickets, no session cache, no 0-RTT).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::certs::DEV_CA_MARKER;

/// Files that make up the server's TLS identity and trust.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The agency CA certificate(s) that issue device certificates (PEM).
    pub ca: PathBuf,
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The agency CRL (PEM); devices listed there are refused at the handshake.
    pub crl: Option<PathBuf>,
}

impl TlsFiles {
    /// The development set in `dir` (certs-dev/).
    pub fn dev(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            crl: Some(dir.join("crl.pem")),
        }
    }
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The files were read but rustls refused them.
    #[error("TLS configuration refused: {0}")]
    Config(String),
    /// Development certificates without `--dev`.
    #[error("{0} is a development CA; refusing to start without --dev")]
    DevelopmentCertificates(String),
}

/// The TCP listener's TLS configuration: the QUIC endpoint's, with ALPN
/// `h2` (docs/protocol.md §1a).
pub fn tcp_server_config(mut config: rustls::ServerConfig) -> rustls::ServerConfig {
    config.alpn_protocols = vec![fieldlink_link::TCP_ALPN.to_vec()];
    config
}

/// Builds the rustls server configuration for QUIC.
pub fn server_config(files: &TlsFiles, allow_development_ca: bool) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca_certs = read_certs(&files.ca)?;
    if !allow_development_ca && ca_certs.iter().any(is_development_certificate) {
        return Err(TlsError::DevelopmentCertificates(files.ca.display().to_string()));
    }
    let mut roots = RootCertStore::empty();
    for cert in ca_certs {
        roots
            .add(cert)
            .map_err(|e| TlsError::Config(format!("CA certificate: {e}")))?;
    }
    let crls = match &files.crl {
        Some(path) => read_crls(path)?,
        None => Vec::new(),
    };
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let chain = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_error(&files.key, e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![fieldlink_protocol::ALPN.to_vec()];
    // No resumption (see the module comment) and therefore no early data.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    Ok(config)
}

/// Builds the rustls configuration of the console's HTTPS listener: the
/// server certificate, TLS 1.3 only, no client certificates (browsers), ALPN
/// http/1.1.
pub fn console_config(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_error(&files.key, e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Why a peer certificate does not name a device.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No certificate was presented (cannot happen with the verifier above).
    #[error("no client certificate")]
    Missing,
    /// The certificate could not be parsed or has no usable common name.
    #[error("client certificate does not name a device: {0}")]
    Unnamed(String),
}

/// The device id named by a verified client certificate: its subject common name.
pub fn device_id(certificate: &CertificateDer<'_>) -> Result<String, IdentityError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref())
        .map_err(|e| IdentityError::Unnamed(e.to_string()))?;
    let common_name = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| IdentityError::Unnamed("no common name".into()))?;
    fieldlink_protocol::validate::officer_id("certificate common name", common_name)
        .map_err(|e| IdentityError::Unnamed(e.to_string()))?;
    Ok(common_name.to_owned())
}

fn is_development_certificate(certificate: &CertificateDer<'_>) -> bool {
    match x509_parser::parse_x509_certificate(certificate.as_ref()) {
        Ok((_, parsed)) => parsed.subject().to_string().contains(DEV_CA_MARKER),
        Err(_) => false,
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: path.display().to_string(),
            detail: "no certificate in file".into(),
        });
    }
    Ok(certs)
}

fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))
}

fn file_error(path: &Path, error: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        detail: error.to_string(),
    }
}
