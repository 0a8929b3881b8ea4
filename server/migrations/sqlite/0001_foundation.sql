-- fieldlink SQLite schema, version 1: directory, sessions, items, inspections.

CREATE TABLE teams (
    team_id TEXT PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL
);

CREATE TABLE officers (
    officer_id        TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    team_id           TEXT NOT NULL REFERENCES teams(team_id),
    credential_number TEXT,
    role              TEXT NOT NULL CHECK (role IN ('officer', 'supervisor')),
    password_hash     TEXT NOT NULL,
    enrolled          INTEGER NOT NULL DEFAULT 1
);

-- Officer session tokens: only the SHA-256 of a token is stored.
CREATE TABLE session_tokens (
    token_sha256   BLOB PRIMARY KEY NOT NULL,
    officer_id     TEXT NOT NULL REFERENCES officers(officer_id),
    device_id      TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    revoked_at_ms  INTEGER
);

-- Every item a terminal submitted, in commit order. `body` holds the item's
-- bytes exactly as received and `sha256` their digest. Append-only.
CREATE TABLE items (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id        TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    officer_id     TEXT NOT NULL,
    case_id        TEXT,
    received_at_ms INTEGER NOT NULL,
    sha256         BLOB NOT NULL CHECK (length(sha256) = 32),
    body           BLOB NOT NULL
);
CREATE INDEX items_case ON items(case_id) WHERE case_id IS NOT NULL;

-- Queryable columns of inspection records; the record itself is items.body.
CREATE TABLE inspections (
    item_id       TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    matter_code   TEXT NOT NULL,
    outcome       INTEGER NOT NULL,
    started_at_ms INTEGER NOT NULL,
    latitude      REAL NOT NULL,
    longitude     REAL NOT NULL,
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

-- Evidence is never edited or deleted: the database itself refuses.
CREATE TRIGGER items_no_update BEFORE UPDATE ON items
BEGIN SELECT RAISE(ABORT, 'items are append-only'); END;
CREATE TRIGGER items_no_delete BEFORE DELETE ON items
BEGIN SELECT RAISE(ABORT, 'items are append-only'); END;
CREATE TRIGGER inspections_no_update BEFORE UPDATE ON inspections
BEGIN SELECT RAISE(ABORT, 'inspections are append-only'); END;
CREATE TRIGGER inspections_no_delete BEFORE DELETE ON inspections
BEGIN SELECT RAISE(ABORT, 'inspections are append-only'); END;
CREATE TRIGGER inspection_officers_no_update BEFORE UPDATE ON inspection_officers
BEGIN SELECT RAISE(ABORT, 'inspection_officers are append-only'); END;
CREATE TRIGGER inspection_officers_no_delete BEFORE DELETE ON inspection_officers
BEGIN SELECT RAISE(ABORT, 'inspection_officers are append-only'); END;
CREATE TRIGGER inspection_photos_no_update BEFORE UPDATE ON inspection_photos
BEGIN SELECT RAISE(ABORT, 'inspection_photos are append-only'); END;
CREATE TRIGGER inspection_photos_no_delete BEFORE DELETE ON inspection_photos
BEGIN SELECT RAISE(ABORT, 'inspection_photos are append-only'); END;
