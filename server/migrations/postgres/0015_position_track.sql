-- Officers' sampled tracks from live positions (as sqlite/0019_position_track.sql).
CREATE TABLE position_track (
    officer_id     TEXT NOT NULL,
    at_ms          BIGINT NOT NULL,
    device_id      TEXT NOT NULL,
    latitude       DOUBLE PRECISION NOT NULL,
    longitude      DOUBLE PRECISION NOT NULL,
    accuracy_m     REAL NOT NULL,
    speed_mps      REAL NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (officer_id, at_ms)
);
CREATE INDEX position_track_received ON position_track(received_at_ms);
