-- A blob about to be relied on is leased first (see the SQLite migration
-- 0014 and docs/operations.md). Working state, across nodes.
CREATE TABLE blob_leases (
    sha256   BYTEA NOT NULL CHECK (length(sha256) = 32),
    holder   TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (sha256, holder)
);

-- One node at a time receives an upload (see the SQLite migration 0014).
CREATE TABLE upload_leases (
    device_id   TEXT NOT NULL,
    evidence_id TEXT NOT NULL,
    holder      TEXT NOT NULL,
    until_ms    BIGINT NOT NULL,
    PRIMARY KEY (device_id, evidence_id)
);
