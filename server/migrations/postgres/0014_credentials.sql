-- Enforcement credentials with their validity, and their append-only
-- history (as sqlite/0018_credentials.sql).
ALTER TABLE officers ADD COLUMN credential_valid_from TEXT;
ALTER TABLE officers ADD COLUMN credential_valid_until TEXT;

CREATE TABLE credential_history (
    seq               BIGSERIAL PRIMARY KEY,
    officer_id        TEXT NOT NULL,
    credential_number TEXT NOT NULL,
    valid_from        TEXT,
    valid_until       TEXT,
    recorded_at_ms    BIGINT NOT NULL
);
CREATE INDEX credential_history_officer ON credential_history(officer_id, seq);

CREATE TRIGGER credential_history_append_only BEFORE UPDATE OR DELETE ON credential_history
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER credential_history_no_truncate BEFORE TRUNCATE ON credential_history
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();

INSERT INTO credential_history (officer_id, credential_number, valid_from, valid_until, recorded_at_ms)
    SELECT officer_id, credential_number, NULL, NULL, 0 FROM officers WHERE credential_number IS NOT NULL;
