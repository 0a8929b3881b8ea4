-- Columns of an AI-video alert received over the signed webhook
-- (docs/intake.md); the alert itself, snapshot included, is items.body as
-- received.
CREATE TABLE camera_alerts (
    item_id   TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    source    TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    event_id  TEXT NOT NULL
);

CREATE TRIGGER camera_alerts_no_update BEFORE UPDATE ON camera_alerts
BEGIN SELECT RAISE(ABORT, 'camera_alerts is append-only'); END;
CREATE TRIGGER camera_alerts_no_delete BEFORE DELETE ON camera_alerts
BEGIN SELECT RAISE(ABORT, 'camera_alerts is append-only'); END;

-- Columns of a grid worker's report (GridReport); the report is items.body.
CREATE TABLE grid_reports (
    item_id        TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    category       TEXT NOT NULL,
    observed_at_ms INTEGER NOT NULL,
    latitude       REAL NOT NULL,
    longitude      REAL NOT NULL
);

CREATE TRIGGER grid_reports_no_update BEFORE UPDATE ON grid_reports
BEGIN SELECT RAISE(ABORT, 'grid_reports is append-only'); END;
CREATE TRIGGER grid_reports_no_delete BEFORE DELETE ON grid_reports
BEGIN SELECT RAISE(ABORT, 'grid_reports is append-only'); END;

-- Grid workers (网格员) join the directory: the role check is widened.
-- SQLite cannot alter a CHECK, so `officers` is rebuilt, and with it
-- `session_tokens`, its one child: new tables are filled, the old ones
-- dropped child first, and the renames point the child at the new parent
-- (with foreign keys on, a rename rewrites the references to it).
CREATE TABLE officers_new (
    officer_id        TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    team_id           TEXT NOT NULL REFERENCES teams(team_id),
    credential_number TEXT,
    role              TEXT NOT NULL CHECK (role IN ('officer', 'supervisor', 'grid_worker')),
    password_hash     TEXT NOT NULL,
    enrolled          INTEGER NOT NULL DEFAULT 1
);
INSERT INTO officers_new (officer_id, name, team_id, credential_number, role, password_hash, enrolled)
    SELECT officer_id, name, team_id, credential_number, role, password_hash, enrolled FROM officers;
CREATE TABLE session_tokens_new (
    token_sha256   BLOB PRIMARY KEY NOT NULL,
    officer_id     TEXT NOT NULL REFERENCES officers_new(officer_id),
    device_id      TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    revoked_at_ms  INTEGER
);
INSERT INTO session_tokens_new (token_sha256, officer_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms)
    SELECT token_sha256, officer_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms FROM session_tokens;
DROP TABLE session_tokens;
DROP TABLE officers;
ALTER TABLE officers_new RENAME TO officers;
ALTER TABLE session_tokens_new RENAME TO session_tokens;
