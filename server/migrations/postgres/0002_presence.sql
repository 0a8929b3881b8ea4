-- Who is online, per server node: see ../sqlite/0006_presence.sql.
CREATE TABLE presence (
    node_id       TEXT NOT NULL,
    officer_id    TEXT NOT NULL,
    sessions      BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (node_id, officer_id)
);
