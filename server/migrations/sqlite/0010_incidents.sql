-- Intake (docs/intake.md): monitors' HJ 212 packets and the incidents that
-- reports open or join.

-- Columns of a monitor packet; the packet itself is items.body, byte-exact.
CREATE TABLE monitor_packets (
    item_id      TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    mn           TEXT NOT NULL,
    cn           TEXT NOT NULL,
    data_time_ms INTEGER
);
CREATE INDEX monitor_packets_mn ON monitor_packets(mn);

-- Incidents as they stand now: working state, rewritten only together with
-- a new event and only at the version (the last event's seq) the writer read.
CREATE TABLE incidents (
    incident_id       TEXT PRIMARY KEY NOT NULL,
    category          TEXT NOT NULL,
    state             INTEGER NOT NULL,
    latitude          REAL NOT NULL,
    longitude         REAL NOT NULL,
    opened_at_ms      INTEGER NOT NULL,
    last_report_at_ms INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    snapshot          BLOB NOT NULL
);
CREATE INDEX incidents_open ON incidents(category, state, last_report_at_ms);

-- The truth: every change, append-only; `record` is the IncidentEvent
-- encoding its leaf's digests are of.
CREATE TABLE incident_events (
    event_id    TEXT PRIMARY KEY NOT NULL,
    seq         INTEGER NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    record      BLOB NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, seq);

-- Which incident each reporting item went to: a report joins once.
CREATE TABLE incident_sources (
    item_id     TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES incident_events(event_id)
);

CREATE TRIGGER monitor_packets_no_update BEFORE UPDATE ON monitor_packets
BEGIN SELECT RAISE(ABORT, 'monitor_packets is append-only'); END;
CREATE TRIGGER monitor_packets_no_delete BEFORE DELETE ON monitor_packets
BEGIN SELECT RAISE(ABORT, 'monitor_packets is append-only'); END;
CREATE TRIGGER incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN SELECT RAISE(ABORT, 'incident_events is append-only'); END;
CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN SELECT RAISE(ABORT, 'incident_events is append-only'); END;
CREATE TRIGGER incident_sources_no_update BEFORE UPDATE ON incident_sources
BEGIN SELECT RAISE(ABORT, 'incident_sources is append-only'); END;
CREATE TRIGGER incident_sources_no_delete BEFORE DELETE ON incident_sources
BEGIN SELECT RAISE(ABORT, 'incident_sources is append-only'); END;
