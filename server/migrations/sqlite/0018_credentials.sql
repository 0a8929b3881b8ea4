-- Enforcement credentials (执法证) with their validity, and their history:
-- every number and validity the directory ever gave an officer, appended
-- when it changes, so the credentials in force when a record was made can
-- always be told (crate::credentials).
ALTER TABLE officers ADD COLUMN credential_valid_from TEXT;
ALTER TABLE officers ADD COLUMN credential_valid_until TEXT;

CREATE TABLE credential_history (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    officer_id        TEXT NOT NULL,
    credential_number TEXT NOT NULL,   -- '' once the officer holds none
    valid_from        TEXT,
    valid_until       TEXT,
    recorded_at_ms    INTEGER NOT NULL
);
CREATE INDEX credential_history_officer ON credential_history(officer_id, seq);

CREATE TRIGGER credential_history_no_update BEFORE UPDATE ON credential_history
BEGIN SELECT RAISE(ABORT, 'credential_history is append-only'); END;
CREATE TRIGGER credential_history_no_delete BEFORE DELETE ON credential_history
BEGIN SELECT RAISE(ABORT, 'credential_history is append-only'); END;

-- What the directory held before this history began.
INSERT INTO credential_history (officer_id, credential_number, valid_from, valid_until, recorded_at_ms)
    SELECT officer_id, credential_number, NULL, NULL, 0 FROM officers WHERE credential_number IS NOT NULL;
