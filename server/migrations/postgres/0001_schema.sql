-- fieldlink PostgreSQL schema, version 1: the same tables as the SQLite
-- schema after its migration 5 (see ../sqlite and ../NOTES.md), in
-- PostgreSQL types. Evidence tables are append-only: a trigger refuses
-- UPDATE and DELETE for every role, including the owner.

CREATE FUNCTION fieldlink_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TABLE teams (
    team_id TEXT PRIMARY KEY,
    name    TEXT NOT NULL
);

CREATE TABLE officers (
    officer_id        TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    team_id           TEXT NOT NULL REFERENCES teams(team_id),
    credential_number TEXT,
    role              TEXT NOT NULL CHECK (role IN ('officer', 'supervisor')),
    password_hash     TEXT NOT NULL,
    enrolled          BOOLEAN NOT NULL DEFAULT TRUE
);

-- Officer session tokens: only the SHA-256 of a token is stored.
CREATE TABLE session_tokens (
    token_sha256   BYTEA PRIMARY KEY,
    officer_id     TEXT NOT NULL REFERENCES officers(officer_id),
    device_id      TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    revoked_at_ms  BIGINT
);

-- Every item a terminal submitted, in commit order; `body` is the item's
-- bytes exactly as received, `sha256` their digest.
CREATE TABLE items (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id        TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    officer_id     TEXT NOT NULL,
    case_id        TEXT,
    received_at_ms BIGINT NOT NULL,
    sha256         BYTEA NOT NULL CHECK (length(sha256) = 32),
    body           BYTEA NOT NULL
);
CREATE INDEX items_case ON items(case_id) WHERE case_id IS NOT NULL;

CREATE TABLE inspections (
    item_id       TEXT PRIMARY KEY REFERENCES items(item_id),
    matter_code   TEXT NOT NULL,
    outcome       INTEGER NOT NULL,
    started_at_ms BIGINT NOT NULL,
    latitude      DOUBLE PRECISION NOT NULL,
    longitude     DOUBLE PRECISION NOT NULL,
    assignment_id TEXT
);

CREATE TABLE inspection_officers (
    item_id    TEXT NOT NULL REFERENCES items(item_id),
    officer_id TEXT NOT NULL,
    PRIMARY KEY (item_id, officer_id)
);

CREATE TABLE inspection_photos (
    item_id  TEXT NOT NULL REFERENCES items(item_id),
    photo_id TEXT NOT NULL,
    PRIMARY KEY (item_id, photo_id)
);
CREATE INDEX inspection_photos_photo ON inspection_photos(photo_id);

CREATE TABLE photos (
    item_id        TEXT PRIMARY KEY REFERENCES items(item_id),
    record_id      TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    sha256         BYTEA NOT NULL CHECK (length(sha256) = 32),
    sm3            BYTEA NOT NULL CHECK (length(sm3) = 32),
    content_type   TEXT NOT NULL,
    width          BIGINT NOT NULL,
    height         BIGINT NOT NULL,
    captured_at_ms BIGINT NOT NULL,
    latitude       DOUBLE PRECISION,
    longitude      DOUBLE PRECISION,
    exif_time_ms   BIGINT,
    exif_latitude  DOUBLE PRECISION,
    exif_longitude DOUBLE PRECISION,
    flags          TEXT NOT NULL
);
CREATE INDEX photos_record ON photos(record_id);
CREATE INDEX photos_sha256 ON photos(sha256);

-- Derived data, made after the receipt.
CREATE TABLE thumbnails (
    item_id       TEXT PRIMARY KEY REFERENCES photos(item_id),
    sha256        BYTEA NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Unfinished uploads: working state, not evidence.
CREATE TABLE partial_uploads (
    evidence_id    TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    officer_id     TEXT NOT NULL,
    header_sha256  BYTEA NOT NULL,
    size_bytes     BIGINT NOT NULL,
    durable_offset BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (device_id, evidence_id)
);

CREATE TABLE services (
    item_id         TEXT PRIMARY KEY REFERENCES items(item_id),
    case_id         TEXT NOT NULL,
    document_type   INTEGER NOT NULL,
    document_number TEXT NOT NULL,
    document_sha256 BYTEA NOT NULL CHECK (length(document_sha256) = 32),
    channel         INTEGER NOT NULL,
    sent_at_ms      BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    confirmed_at_ms BIGINT
);

CREATE TABLE service_events (
    item_id    TEXT PRIMARY KEY REFERENCES items(item_id),
    service_id TEXT NOT NULL REFERENCES services(item_id),
    kind       INTEGER NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX service_events_service ON service_events(service_id);

CREATE TABLE item_officers (
    item_id    TEXT NOT NULL REFERENCES items(item_id),
    officer_id TEXT NOT NULL,
    PRIMARY KEY (item_id, officer_id)
);

CREATE TABLE interviews (
    item_id       TEXT PRIMARY KEY REFERENCES items(item_id),
    case_id       TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    ended_at_ms   BIGINT NOT NULL
);

CREATE TABLE assignments (
    assignment_id TEXT PRIMARY KEY,
    snapshot      BYTEA NOT NULL,
    state         INTEGER NOT NULL,
    officer_id    TEXT,
    team_id       TEXT,
    accepted_by   TEXT,
    overdue       BOOLEAN NOT NULL DEFAULT FALSE,
    due_at_ms     BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    version       BIGINT NOT NULL
);
CREATE INDEX assignments_due ON assignments(due_at_ms) WHERE NOT overdue AND due_at_ms > 0;

-- Committed one at a time (an advisory lock), so seq order is commit order
-- and a feed reading "after seq N" never skips a later-committing lower seq.
CREATE TABLE assignment_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       TEXT NOT NULL UNIQUE,
    request_sha256 BYTEA NOT NULL,
    assignment_id  TEXT NOT NULL REFERENCES assignments(assignment_id),
    kind           INTEGER NOT NULL,
    event          BYTEA NOT NULL,
    at_ms          BIGINT NOT NULL
);
CREATE INDEX assignment_events_assignment ON assignment_events(assignment_id);

CREATE TABLE event_audience (
    seq        BIGINT NOT NULL REFERENCES assignment_events(seq),
    officer_id TEXT NOT NULL,
    PRIMARY KEY (officer_id, seq)
);
CREATE INDEX event_audience_seq ON event_audience(seq);

CREATE TABLE feed_cursors (
    officer_id    TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    cursor        BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (officer_id, device_id)
);

CREATE TABLE device_certificates (
    serial_hex    TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL
);
CREATE INDEX device_certificates_device ON device_certificates(device_id);

CREATE TABLE device_revocations (
    serial_hex    TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL,
    revoked_at_ms BIGINT NOT NULL
);
CREATE INDEX device_revocations_device ON device_revocations(device_id);

CREATE TRIGGER items_append_only BEFORE UPDATE OR DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER inspections_append_only BEFORE UPDATE OR DELETE ON inspections
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER inspection_officers_append_only BEFORE UPDATE OR DELETE ON inspection_officers
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER inspection_photos_append_only BEFORE UPDATE OR DELETE ON inspection_photos
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER photos_append_only BEFORE UPDATE OR DELETE ON photos
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER services_append_only BEFORE UPDATE OR DELETE ON services
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER service_events_append_only BEFORE UPDATE OR DELETE ON service_events
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER item_officers_append_only BEFORE UPDATE OR DELETE ON item_officers
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER interviews_append_only BEFORE UPDATE OR DELETE ON interviews
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER assignment_events_append_only BEFORE UPDATE OR DELETE ON assignment_events
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER event_audience_append_only BEFORE UPDATE OR DELETE ON event_audience
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER device_revocations_append_only BEFORE UPDATE OR DELETE ON device_revocations
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
-- TRUNCATE bypasses row triggers: refuse it too.
CREATE TRIGGER items_no_truncate BEFORE TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER inspections_no_truncate BEFORE TRUNCATE ON inspections
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER inspection_officers_no_truncate BEFORE TRUNCATE ON inspection_officers
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER inspection_photos_no_truncate BEFORE TRUNCATE ON inspection_photos
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER photos_no_truncate BEFORE TRUNCATE ON photos
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER services_no_truncate BEFORE TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER service_events_no_truncate BEFORE TRUNCATE ON service_events
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER item_officers_no_truncate BEFORE TRUNCATE ON item_officers
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER interviews_no_truncate BEFORE TRUNCATE ON interviews
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER assignment_events_no_truncate BEFORE TRUNCATE ON assignment_events
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER event_audience_no_truncate BEFORE TRUNCATE ON event_audience
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER device_revocations_no_truncate BEFORE TRUNCATE ON device_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
