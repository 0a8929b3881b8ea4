-- Statistics count inspections by when they began, grouped by matter, day
-- or sending officer, and outcome (as sqlite/0017_statistics.sql): each
-- record's sender beside it, filled in for the records stored before.
ALTER TABLE inspections ADD COLUMN sender_id TEXT;
ALTER TABLE inspections DISABLE TRIGGER inspections_append_only;
UPDATE inspections n SET sender_id = i.officer_id FROM items i WHERE i.item_id = n.item_id;
ALTER TABLE inspections ENABLE TRIGGER inspections_append_only;
CREATE INDEX inspections_started ON inspections(started_at_ms, matter_code, sender_id, outcome);
