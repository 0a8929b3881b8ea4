-- Chain of custody (as sqlite/0008_custody.sql): every access to evidence
-- outside the terminal that made it is an event and a leaf of the log.
CREATE TABLE custody_events (
    event_id TEXT PRIMARY KEY,
    seq      BIGINT NOT NULL UNIQUE,
    at_ms    BIGINT NOT NULL,
    action   TEXT NOT NULL,
    record   BYTEA NOT NULL
);

CREATE TABLE custody_items (
    item_id  TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES custody_events(event_id),
    PRIMARY KEY (item_id, event_id)
);

CREATE TRIGGER custody_events_append_only BEFORE UPDATE OR DELETE ON custody_events
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER custody_items_append_only BEFORE UPDATE OR DELETE ON custody_items
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER custody_events_no_truncate BEFORE TRUNCATE ON custody_events
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER custody_items_no_truncate BEFORE TRUNCATE ON custody_items
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
