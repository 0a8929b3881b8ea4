-- Device certificates seen at handshakes, and revocations applied from the CRL.
CREATE TABLE device_certificates (
    serial_hex    TEXT PRIMARY KEY NOT NULL,
    device_id     TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL
);
CREATE INDEX device_certificates_device ON device_certificates(device_id);

CREATE TABLE device_revocations (
    serial_hex    TEXT PRIMARY KEY NOT NULL,
    device_id     TEXT NOT NULL,
    revoked_at_ms INTEGER NOT NULL
);
CREATE INDEX device_revocations_device ON device_revocations(device_id);

CREATE TRIGGER device_revocations_no_update BEFORE UPDATE ON device_revocations
BEGIN SELECT RAISE(ABORT, 'device_revocations are append-only'); END;
CREATE TRIGGER device_revocations_no_delete BEFORE DELETE ON device_revocations
BEGIN SELECT RAISE(ABORT, 'device_revocations are append-only'); END;
