-- Work left on stored media after its receipt (docs/protocol.md §6): the
-- media worker decodes a photo and makes its thumbnail. Nothing is decoded
-- before the receipt; the queue is rows, so a restart resumes it, on any
-- node (a lease per row). Working state, not evidence.
CREATE TABLE media_jobs (
    item_id        TEXT PRIMARY KEY REFERENCES photos(item_id),
    queued_at_ms   BIGINT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    lease_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX media_jobs_due ON media_jobs(lease_until_ms, queued_at_ms);

-- What post-processing found: append-only, beside the item.
CREATE TABLE media_findings (
    item_id TEXT NOT NULL REFERENCES items(item_id),
    finding TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (item_id, finding)
);
CREATE TRIGGER media_findings_append_only BEFORE UPDATE OR DELETE ON media_findings
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER media_findings_no_truncate BEFORE TRUNCATE ON media_findings
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();

INSERT INTO media_jobs (item_id, queued_at_ms)
    SELECT item_id, 0 FROM photos WHERE item_id NOT IN (SELECT item_id FROM thumbnails);
