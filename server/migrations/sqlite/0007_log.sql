-- The transparency log (docs/protocol.md, "The transparency log"): one leaf
-- per committed item and assignment event, in commit order, written in the
-- same transaction as the item. Append-only like the evidence.

-- The leaves: the canonical leaf data (fieldlink_protocol::log::Leaf).
CREATE TABLE log_leaves (
    leaf_index INTEGER PRIMARY KEY NOT NULL,
    item_id    TEXT NOT NULL UNIQUE,
    data       BLOB NOT NULL
);

-- The hash of every complete subtree of two leaves or more, at its tlog
-- "stored hash index" (about one per leaf; a leaf's own hash is
-- SHA-256(0x00 || data) of its row above): a root or an inclusion proof
-- reads O(log n) rows.
CREATE TABLE log_hashes (
    stored_index INTEGER PRIMARY KEY NOT NULL,
    hash         BLOB NOT NULL CHECK (length(hash) = 32)
);

-- Signed checkpoints (C2SP tlog-checkpoint notes), by tree size.
CREATE TABLE log_checkpoints (
    tree_size    INTEGER PRIMARY KEY NOT NULL,
    root         BLOB NOT NULL CHECK (length(root) = 32),
    note         TEXT NOT NULL,
    signed_at_ms INTEGER NOT NULL
);

CREATE TRIGGER log_leaves_no_update BEFORE UPDATE ON log_leaves
BEGIN SELECT RAISE(ABORT, 'log_leaves is append-only'); END;
CREATE TRIGGER log_leaves_no_delete BEFORE DELETE ON log_leaves
BEGIN SELECT RAISE(ABORT, 'log_leaves is append-only'); END;
CREATE TRIGGER log_hashes_no_update BEFORE UPDATE ON log_hashes
BEGIN SELECT RAISE(ABORT, 'log_hashes is append-only'); END;
CREATE TRIGGER log_hashes_no_delete BEFORE DELETE ON log_hashes
BEGIN SELECT RAISE(ABORT, 'log_hashes is append-only'); END;
CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints
BEGIN SELECT RAISE(ABORT, 'log_checkpoints is append-only'); END;
CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints
BEGIN SELECT RAISE(ABORT, 'log_checkpoints is append-only'); END;
