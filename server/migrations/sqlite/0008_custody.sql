-- Chain of custody (docs/evidence-export.md): every access to evidence
-- outside the terminal that made it (an export, an audit, a console view or
-- download) is an event, logged as a leaf of kind custody in the same
-- transaction. Append-only like the evidence.

-- The events: `record` is the CustodyEvent encoding the leaf's digests are of.
CREATE TABLE custody_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    seq      INTEGER NOT NULL UNIQUE,
    at_ms    INTEGER NOT NULL,
    action   TEXT NOT NULL,
    record   BLOB NOT NULL
);

-- Which items each event names, for an item's custody history.
CREATE TABLE custody_items (
    item_id  TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES custody_events(event_id),
    PRIMARY KEY (item_id, event_id)
);

CREATE TRIGGER custody_events_no_update BEFORE UPDATE ON custody_events
BEGIN SELECT RAISE(ABORT, 'custody_events is append-only'); END;
CREATE TRIGGER custody_events_no_delete BEFORE DELETE ON custody_events
BEGIN SELECT RAISE(ABORT, 'custody_events is append-only'); END;
CREATE TRIGGER custody_items_no_update BEFORE UPDATE ON custody_items
BEGIN SELECT RAISE(ABORT, 'custody_items is append-only'); END;
CREATE TRIGGER custody_items_no_delete BEFORE DELETE ON custody_items
BEGIN SELECT RAISE(ABORT, 'custody_items is append-only'); END;
