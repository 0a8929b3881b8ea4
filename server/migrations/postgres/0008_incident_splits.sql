-- Splitting an incident moves reports to a new one: a report's item may now
-- have several rows in incident_sources, one per move, and the latest (by
-- the event's seq) says where it is now. The table stays append-only; the
-- key becomes (item_id, event_id).
ALTER TABLE incident_sources DROP CONSTRAINT incident_sources_pkey;
ALTER TABLE incident_sources ADD PRIMARY KEY (item_id, event_id);
CREATE INDEX incident_sources_incident ON incident_sources(incident_id);

-- When a monitor was last heard, by any node (the offline rule): recent
-- items by the time they arrived.
CREATE INDEX items_received ON items(received_at_ms);
