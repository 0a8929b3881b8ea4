-- Electronic service, its events, and remote interviews. All append-only.

CREATE TABLE services (
    item_id         TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    case_id         TEXT NOT NULL,
    document_type   INTEGER NOT NULL,
    document_number TEXT NOT NULL,
    document_sha256 BLOB NOT NULL CHECK (length(document_sha256) = 32),
    channel         INTEGER NOT NULL,
    sent_at_ms      INTEGER NOT NULL,
    delivered_at_ms INTEGER,
    confirmed_at_ms INTEGER
);

-- Later facts about a service; the current state is derived from the
-- service row and these, never by updating either.
CREATE TABLE service_events (
    item_id    TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    service_id TEXT NOT NULL REFERENCES services(item_id),
    kind       INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL
);
CREATE INDEX service_events_service ON service_events(service_id);

CREATE TABLE item_officers (
    item_id    TEXT NOT NULL REFERENCES items(item_id),
    officer_id TEXT NOT NULL,
    PRIMARY KEY (item_id, officer_id)
);

CREATE TABLE interviews (
    item_id       TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    case_id       TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER NOT NULL
);

CREATE TRIGGER services_no_update BEFORE UPDATE ON services
BEGIN SELECT RAISE(ABORT, 'services are append-only'); END;
CREATE TRIGGER services_no_delete BEFORE DELETE ON services
BEGIN SELECT RAISE(ABORT, 'services are append-only'); END;
CREATE TRIGGER service_events_no_update BEFORE UPDATE ON service_events
BEGIN SELECT RAISE(ABORT, 'service_events are append-only'); END;
CREATE TRIGGER service_events_no_delete BEFORE DELETE ON service_events
BEGIN SELECT RAISE(ABORT, 'service_events are append-only'); END;
CREATE TRIGGER item_officers_no_update BEFORE UPDATE ON item_officers
BEGIN SELECT RAISE(ABORT, 'item_officers are append-only'); END;
CREATE TRIGGER item_officers_no_delete BEFORE DELETE ON item_officers
BEGIN SELECT RAISE(ABORT, 'item_officers are append-only'); END;
CREATE TRIGGER interviews_no_update BEFORE UPDATE ON interviews
BEGIN SELECT RAISE(ABORT, 'interviews are append-only'); END;
CREATE TRIGGER interviews_no_delete BEFORE DELETE ON interviews
BEGIN SELECT RAISE(ABORT, 'interviews are append-only'); END;
