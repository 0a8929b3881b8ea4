-- Work left on stored media after its receipt (docs/protocol.md §6): the
-- media worker decodes a photo and makes its thumbnail. Nothing is decoded
-- before the receipt; the queue is rows, so a restart resumes it. Working
-- state, not evidence: a row is added with the photo (same transaction),
-- leased by one worker at a time, and removed when the work is done.
CREATE TABLE media_jobs (
    item_id        TEXT PRIMARY KEY NOT NULL REFERENCES photos(item_id),
    queued_at_ms   INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX media_jobs_due ON media_jobs(lease_until_ms, queued_at_ms);

-- What post-processing found (an undecodable photo, work given up):
-- append-only, beside the item, never changing its bytes or its receipt.
CREATE TABLE media_findings (
    item_id TEXT NOT NULL REFERENCES items(item_id),
    finding TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (item_id, finding)
);
CREATE TRIGGER media_findings_no_update BEFORE UPDATE ON media_findings
BEGIN SELECT RAISE(ABORT, 'media_findings is append-only'); END;
CREATE TRIGGER media_findings_no_delete BEFORE DELETE ON media_findings
BEGIN SELECT RAISE(ABORT, 'media_findings is append-only'); END;

-- Photos stored before the queue whose thumbnail was lost (a crash between
-- the receipt and the thumbnail) are queued now.
INSERT INTO media_jobs (item_id, queued_at_ms)
    SELECT item_id, 0 FROM photos WHERE item_id NOT IN (SELECT item_id FROM thumbnails);
