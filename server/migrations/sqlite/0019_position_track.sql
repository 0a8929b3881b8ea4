-- Officers' sampled tracks from live positions (docs/protocol.md §13): one
-- point per officer per sample interval while pings arrive; pruned after
-- position_retention_days. Working data, not evidence.
CREATE TABLE position_track (
    officer_id     TEXT NOT NULL,
    at_ms          INTEGER NOT NULL,
    device_id      TEXT NOT NULL,
    latitude       REAL NOT NULL,
    longitude      REAL NOT NULL,
    accuracy_m     REAL NOT NULL,
    speed_mps      REAL NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (officer_id, at_ms)
);
CREATE INDEX position_track_received ON position_track(received_at_ms);
