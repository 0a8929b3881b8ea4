-- Assignments: the current state (a cache of the event log, updated with a
-- version check), the append-only event log, who each event is for, and the
-- feed cursor each terminal acknowledged.

CREATE TABLE assignments (
    assignment_id TEXT PRIMARY KEY NOT NULL,
    snapshot      BLOB NOT NULL,          -- fieldlink.v1.Assignment, encoded
    state         INTEGER NOT NULL,
    officer_id    TEXT,                   -- assignee officer
    team_id       TEXT,                   -- assignee team
    accepted_by   TEXT,
    overdue       INTEGER NOT NULL DEFAULT 0,
    due_at_ms     INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    version       INTEGER NOT NULL        -- seq of the last event applied
);
CREATE INDEX assignments_due ON assignments(due_at_ms) WHERE overdue = 0 AND due_at_ms > 0;

CREATE TABLE assignment_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,  -- the client's create or update id
    request_sha256 BLOB NOT NULL,
    assignment_id  TEXT NOT NULL REFERENCES assignments(assignment_id),
    kind           INTEGER NOT NULL,
    event          BLOB NOT NULL,         -- fieldlink.v1.AssignmentEvent without seq, encoded
    at_ms          INTEGER NOT NULL
);
CREATE INDEX assignment_events_assignment ON assignment_events(assignment_id);

CREATE TABLE event_audience (
    seq        INTEGER NOT NULL REFERENCES assignment_events(seq),
    officer_id TEXT NOT NULL,
    PRIMARY KEY (officer_id, seq)
);

CREATE TABLE feed_cursors (
    officer_id    TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    cursor        INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (officer_id, device_id)
);

CREATE TRIGGER assignment_events_no_update BEFORE UPDATE ON assignment_events
BEGIN SELECT RAISE(ABORT, 'assignment_events are append-only'); END;
CREATE TRIGGER assignment_events_no_delete BEFORE DELETE ON assignment_events
BEGIN SELECT RAISE(ABORT, 'assignment_events are append-only'); END;
CREATE TRIGGER event_audience_no_update BEFORE UPDATE ON event_audience
BEGIN SELECT RAISE(ABORT, 'event_audience is append-only'); END;
CREATE TRIGGER event_audience_no_delete BEFORE DELETE ON event_audience
BEGIN SELECT RAISE(ABORT, 'event_audience is append-only'); END;
