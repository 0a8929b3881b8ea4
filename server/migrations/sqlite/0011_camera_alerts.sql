-- Columns of an AI-video alert received over the signed webhook
-- (docs/intake.md); the alert itself, snapshot included, is items.body as
-- received.
CREATE TABLE camera_alerts (
    item_id   TEXT PRIMARY KEY NOT NULL REFERENCES items(item_id),
    source    TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    event_id  TEXT NOT NULL
);

CREATE TRIGGER camera_alerts_no_update BEFORE UPDATE ON camera_alerts
BEGIN SELECT RAISE(ABORT, 'camera_alerts is append-only'); END;
CREATE TRIGGER camera_alerts_no_delete BEFORE DELETE ON camera_alerts
BEGIN SELECT RAISE(ABORT, 'camera_alerts is append-only'); END;
