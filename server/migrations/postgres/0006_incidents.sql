-- Intake (as sqlite/0010_incidents.sql): monitors' HJ 212 packets and the
-- incidents that reports open or join.
CREATE TABLE monitor_packets (
    item_id      TEXT PRIMARY KEY REFERENCES items(item_id),
    mn           TEXT NOT NULL,
    cn           TEXT NOT NULL,
    data_time_ms BIGINT
);
CREATE INDEX monitor_packets_mn ON monitor_packets(mn);

CREATE TABLE incidents (
    incident_id       TEXT PRIMARY KEY,
    category          TEXT NOT NULL,
    state             INTEGER NOT NULL,
    latitude          DOUBLE PRECISION NOT NULL,
    longitude         DOUBLE PRECISION NOT NULL,
    opened_at_ms      BIGINT NOT NULL,
    last_report_at_ms BIGINT NOT NULL,
    version           BIGINT NOT NULL,
    snapshot          BYTEA NOT NULL
);
CREATE INDEX incidents_open ON incidents(category, state, last_report_at_ms);

CREATE TABLE incident_events (
    event_id    TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    at_ms       BIGINT NOT NULL,
    kind        INTEGER NOT NULL,
    record      BYTEA NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, seq);

CREATE TABLE incident_sources (
    item_id     TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES incident_events(event_id)
);

CREATE TRIGGER monitor_packets_append_only BEFORE UPDATE OR DELETE ON monitor_packets
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON incident_events
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER incident_sources_append_only BEFORE UPDATE OR DELETE ON incident_sources
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER monitor_packets_no_truncate BEFORE TRUNCATE ON monitor_packets
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER incident_sources_no_truncate BEFORE TRUNCATE ON incident_sources
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
