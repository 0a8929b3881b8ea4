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

-- Grid workers' reports (as sqlite/0011_intake_reports.sql).
CREATE TABLE grid_reports (
    item_id        TEXT PRIMARY KEY REFERENCES items(item_id),
    category       TEXT NOT NULL,
    observed_at_ms BIGINT NOT NULL,
    latitude       DOUBLE PRECISION NOT NULL,
    longitude      DOUBLE PRECISION NOT NULL
);

CREATE TRIGGER grid_reports_append_only BEFORE UPDATE OR DELETE ON grid_reports
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER grid_reports_no_truncate BEFORE TRUNCATE ON grid_reports
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();

-- Grid workers (网格员) join the directory.
ALTER TABLE officers DROP CONSTRAINT officers_role_check;
ALTER TABLE officers ADD CONSTRAINT officers_role_check CHECK (role IN ('officer', 'supervisor', 'grid_worker'));
