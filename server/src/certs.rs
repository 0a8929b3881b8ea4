//! Generating the development certificate set (certs-dev/): a CA, a server
//! certificate, device certificates and a CRL that revokes one device.
//!
//! For development and tests only: the keys are committed to the repository.
//! A production agency runs its own CA; the server only needs its CA
//! certificate, a server certificate and key, and the CRL.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// Common name of the development CA. A server started without `--dev` refuses
/// a CA whose subject contains [`DEV_CA_MARKER`].
pub const DEV_CA_COMMON_NAME: &str = "fieldlink DEVELOPMENT CA - not for production";
/// The marker that identifies development certificates.
pub const DEV_CA_MARKER: &str = "DEVELOPMENT";
/// Devices with a valid development certificate.
pub const DEV_DEVICES: &[&str] = &["device-001", "device-002", "device-003"];
/// The development device whose certificate the CRL revokes.
pub const DEV_REVOKED_DEVICE: &str = "device-revoked";

/// Why generating certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// rcgen refused the parameters.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The CA files or the device id are not usable.
    #[error("{0}")]
    Invalid(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Writes the whole development set into `out_dir`: `ca.pem`, `ca.key`,
/// `server.pem`/`.key`, `device-001.pem`/`.key` … `device-003`,
/// `device-revoked.pem`/`.key`, `crl.pem`, and `foreign-ca.pem` plus
/// `foreign-device.pem`/`.key` (a device of another CA, for tests).
pub fn generate_dev_set(out_dir: &Path) -> Result<(), CertsError> {
    std::fs::create_dir_all(out_dir).map_err(|source| write_error(out_dir, source))?;
    let now = OffsetDateTime::now_utc();
    let not_before = now - Duration::days(1);
    let not_after = now + Duration::days(365 * 20);

    let (ca_params, ca_key) = new_ca_params(DEV_CA_COMMON_NAME, not_before, not_after)?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    write(out_dir, "ca.pem", &ca_cert.pem())?;
    write(out_dir, "ca.key", &ca_key.serialize_pem())?;
    let ca = Issuer::new(ca_params, ca_key);

    let mut server = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    server.distinguished_name = name("fieldlink server (development)");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.not_before = not_before;
    server.not_after = not_after;
    server.serial_number = Some(random_serial());
    let server_key = KeyPair::generate()?;
    write(out_dir, "server.pem", &server.signed_by(&server_key, &ca)?.pem())?;
    write(out_dir, "server.key", &server_key.serialize_pem())?;

    for device in DEV_DEVICES {
        write_device(out_dir, device, &ca, not_before, not_after)?;
    }
    let revoked_serial = write_device(out_dir, DEV_REVOKED_DEVICE, &ca, not_before, not_after)?;

    let crl = CertificateRevocationListParams {
        this_update: now,
        next_update: not_after,
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: revoked_serial,
            revocation_time: now,
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)?;
    write(out_dir, "crl.pem", &crl.pem()?)?;

    // A second, unrelated CA and a device it signed: must be refused.
    let (foreign_params, foreign_key) = new_ca_params("some other CA", not_before, not_after)?;
    write(
        out_dir,
        "foreign-ca.pem",
        &foreign_params.self_signed(&foreign_key)?.pem(),
    )?;
    let foreign = Issuer::new(foreign_params, foreign_key);
    write_device(out_dir, "foreign-device", &foreign, not_before, not_after)?;
    Ok(())
}

/// What `devices issue` made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedDevice {
    /// The device id (the certificate's common name).
    pub device_id: String,
    /// The certificate's serial number, hex (what `devices list` and the CRL name).
    pub serial_hex: String,
    /// The certificate file written.
    pub certificate: String,
    /// The private key file written (mode 0600).
    pub key: String,
    /// Last day of validity, RFC 3339.
    pub not_after: String,
}

/// Most days a device certificate may be issued for.
pub const DEVICE_DAYS_MAX: u32 = 3650;

/// Issues a device certificate and key from the agency CA into `out_dir`
/// (`<device>.pem`, `<device>.key`); refuses to overwrite either.
pub fn issue_device(
    out_dir: &Path,
    device_id: &str,
    ca_cert_pem: &str,
    ca_key_pem: &str,
    days: u32,
) -> Result<IssuedDevice, CertsError> {
    fieldlink_protocol::validate::officer_id("id", device_id)
        .map_err(|e| CertsError::Invalid(format!("device id: {e}")))?;
    if !(1..=DEVICE_DAYS_MAX).contains(&days) {
        return Err(CertsError::Invalid(format!(
            "--days must be 1 to {DEVICE_DAYS_MAX}"
        )));
    }
    let (certificate, key_file) = (
        out_dir.join(format!("{device_id}.pem")),
        out_dir.join(format!("{device_id}.key")),
    );
    for path in [&certificate, &key_file] {
        if path.exists() {
            return Err(CertsError::Invalid(format!(
                "{} exists; not overwriting it",
                path.display()
            )));
        }
    }
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| CertsError::Invalid(format!("CA key: {e}")))?;
    // rcgen would sign with any key: the key must be the certificate's.
    let ca_spki = x509_parser::pem::parse_x509_pem(ca_cert_pem.as_bytes())
        .ok()
        .and_then(|(_, pem)| {
            pem.parse_x509()
                .ok()
                .map(|cert| cert.public_key().subject_public_key.data.to_vec())
        })
        .ok_or_else(|| CertsError::Invalid("CA certificate: not a PEM certificate".into()))?;
    if ca_spki != ca_key.public_key_raw() {
        return Err(CertsError::Invalid(
            "the CA key is not the CA certificate's key".into(),
        ));
    }
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)
        .map_err(|e| CertsError::Invalid(format!("CA certificate: {e}")))?;
    std::fs::create_dir_all(out_dir).map_err(|source| write_error(out_dir, source))?;
    let now = OffsetDateTime::now_utc();
    let not_after = now + Duration::days(i64::from(days));
    let serial = write_device(out_dir, device_id, &issuer, now - Duration::minutes(5), not_after)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|source| write_error(&key_file, source))?;
    }
    Ok(IssuedDevice {
        device_id: device_id.to_owned(),
        serial_hex: hex::encode(serial.as_ref()),
        certificate: certificate.display().to_string(),
        key: key_file.display().to_string(),
        not_after: not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

fn new_ca_params(
    common_name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(CertificateParams, KeyPair), CertsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial());
    Ok((params, KeyPair::generate()?))
}

/// Writes `<device>.pem` and `<device>.key`; the certificate's common name is
/// the device id. Returns its serial number.
fn write_device(
    out_dir: &Path,
    device: &str,
    issuer: &Issuer<'_, KeyPair>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<SerialNumber, CertsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(device);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = not_before;
    params.not_after = not_after;
    let serial = random_serial();
    params.serial_number = Some(serial.clone());
    let key = KeyPair::generate()?;
    write(
        out_dir,
        &format!("{device}.pem"),
        &params.signed_by(&key, issuer)?.pem(),
    )?;
    write(out_dir, &format!("{device}.key"), &key.serialize_pem())?;
    Ok(serial)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "fieldlink");
    dn
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and without a leading zero octet (RFC 5280 §4.1.2.2).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn write(out_dir: &Path, file: &str, contents: &str) -> Result<(), CertsError> {
    let path = out_dir.join(file);
    std::fs::write(&path, contents).map_err(|source| write_error(&path, source))
}

fn write_error(path: &Path, source: std::io::Error) -> CertsError {
    CertsError::Write {
        path: path.display().to_string(),
        source,
    }
}
