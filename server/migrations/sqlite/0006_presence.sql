-- Who is online, per server node (several nodes share a database): each node
-- writes its officers' session counts every few seconds; rows not refreshed
-- recently belong to a node that stopped and count as offline.
CREATE TABLE presence (
    node_id       TEXT NOT NULL,
    officer_id    TEXT NOT NULL,
    sessions      INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (node_id, officer_id)
);
