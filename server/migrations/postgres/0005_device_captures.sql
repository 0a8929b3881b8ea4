-- Device-signed capture (as sqlite/0009_device_captures.sql).
CREATE TABLE device_certificate_ders (
    sha256 BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    der    BYTEA NOT NULL
);

CREATE TABLE device_captures (
    item_id            TEXT PRIMARY KEY,
    scheme             INTEGER NOT NULL,
    statement          BYTEA NOT NULL,
    signature          BYTEA NOT NULL,
    certificate_sha256 BYTEA NOT NULL REFERENCES device_certificate_ders(sha256)
);

CREATE TRIGGER device_certificate_ders_append_only BEFORE UPDATE OR DELETE ON device_certificate_ders
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER device_certificate_ders_no_truncate BEFORE TRUNCATE ON device_certificate_ders
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();

CREATE TRIGGER device_captures_append_only BEFORE UPDATE OR DELETE ON device_captures
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER device_captures_no_truncate BEFORE TRUNCATE ON device_captures
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();

-- Witness cosignatures of checkpoints (as sqlite/0009_device_captures.sql).
CREATE TABLE log_cosignatures (
    tree_size BIGINT NOT NULL,
    witness   TEXT NOT NULL,
    note      TEXT NOT NULL,
    PRIMARY KEY (tree_size, witness)
);

CREATE TRIGGER log_cosignatures_append_only BEFORE UPDATE OR DELETE ON log_cosignatures
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER log_cosignatures_no_truncate BEFORE TRUNCATE ON log_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
