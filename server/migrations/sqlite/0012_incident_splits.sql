-- Splitting an incident moves reports to a new one: a report's item may now
-- have several rows in incident_sources, one per move, and the latest (by
-- the event's seq) says where it is now. The table stays append-only; the
-- key becomes (item_id, event_id). SQLite cannot change a key in place, so
-- the table is rebuilt (nothing references it).
CREATE TABLE incident_sources_new (
    item_id     TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    event_id    TEXT NOT NULL REFERENCES incident_events(event_id),
    PRIMARY KEY (item_id, event_id)
);
INSERT INTO incident_sources_new (item_id, incident_id, event_id)
    SELECT item_id, incident_id, event_id FROM incident_sources;
DROP TABLE incident_sources;
ALTER TABLE incident_sources_new RENAME TO incident_sources;
CREATE INDEX incident_sources_incident ON incident_sources(incident_id);

CREATE TRIGGER incident_sources_no_update BEFORE UPDATE ON incident_sources
BEGIN SELECT RAISE(ABORT, 'incident_sources is append-only'); END;
CREATE TRIGGER incident_sources_no_delete BEFORE DELETE ON incident_sources
BEGIN SELECT RAISE(ABORT, 'incident_sources is append-only'); END;

-- When a monitor was last heard, by any node (the offline rule): recent
-- items by the time they arrived.
CREATE INDEX items_received ON items(received_at_ms);
