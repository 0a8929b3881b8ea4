-- AI-video alerts (as sqlite/0011_camera_alerts.sql).
CREATE TABLE camera_alerts (
    item_id   TEXT PRIMARY KEY REFERENCES items(item_id),
    source    TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    event_id  TEXT NOT NULL
);

CREATE TRIGGER camera_alerts_append_only BEFORE UPDATE OR DELETE ON camera_alerts
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER camera_alerts_no_truncate BEFORE TRUNCATE ON camera_alerts
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
