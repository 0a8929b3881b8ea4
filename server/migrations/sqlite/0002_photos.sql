-- Photo evidence: the append-only photo rows, thumbnails and partial uploads.

-- One row per stored photo (its items row holds the header bytes as received;
-- items.sha256 is the photo's SHA-256). The photo's bytes are the blob named
-- by sha256 in the evidence store.
CREATE TABLE photos (
    item_id        TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    record_id      TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         BLOB NOT NULL CHECK (length(sha256) = 32),
    sm3            BLOB NOT NULL CHECK (length(sm3) = 32),
    content_type   TEXT NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    captured_at_ms INTEGER NOT NULL,
    latitude       REAL,
    longitude      REAL,
    exif_time_ms   INTEGER,
    exif_latitude  REAL,
    exif_longitude REAL,
    flags          TEXT NOT NULL
);
CREATE INDEX photos_record ON photos(record_id);
CREATE INDEX photos_sha256 ON photos(sha256);

CREATE TRIGGER photos_no_update BEFORE UPDATE ON photos
BEGIN SELECT RAISE(ABORT, 'photos are append-only'); END;
CREATE TRIGGER photos_no_delete BEFORE DELETE ON photos
BEGIN SELECT RAISE(ABORT, 'photos are append-only'); END;

-- Thumbnails for supervisors: derived data, made after the receipt.
CREATE TABLE thumbnails (
    item_id       TEXT PRIMARY KEY NOT NULL REFERENCES photos(item_id),
    sha256        BLOB NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Unfinished uploads: working state, not evidence (rows come and go).
-- Keyed by device as well: one device's unfinished upload never blocks or
-- reveals another's.
CREATE TABLE partial_uploads (
    evidence_id    TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    officer_id     TEXT NOT NULL,
    header_sha256  BLOB NOT NULL,
    size_bytes     INTEGER NOT NULL,
    durable_offset INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (device_id, evidence_id)
);
