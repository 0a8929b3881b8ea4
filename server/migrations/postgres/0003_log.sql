-- The transparency log: see ../sqlite/0007_log.sql.
CREATE TABLE log_leaves (
    leaf_index BIGINT PRIMARY KEY,
    item_id    TEXT NOT NULL UNIQUE,
    data       BYTEA NOT NULL
);

CREATE TABLE log_hashes (
    stored_index BIGINT PRIMARY KEY,
    hash         BYTEA NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE log_checkpoints (
    tree_size    BIGINT PRIMARY KEY,
    root         BYTEA NOT NULL CHECK (length(root) = 32),
    note         TEXT NOT NULL,
    signed_at_ms BIGINT NOT NULL
);

CREATE TRIGGER log_leaves_append_only BEFORE UPDATE OR DELETE ON log_leaves
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER log_hashes_append_only BEFORE UPDATE OR DELETE ON log_hashes
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER log_leaves_no_truncate BEFORE TRUNCATE ON log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER log_hashes_no_truncate BEFORE TRUNCATE ON log_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION fieldlink_append_only();
