-- Device-signed capture (docs/protocol.md §10b): the statement a terminal
-- signed with its device key when it sent an item, the signature, and the
-- device certificate it was checked against. Written with the item, in the
-- same transaction; part of the item's leaf. Append-only like the evidence.
CREATE TABLE device_captures (
    item_id     TEXT PRIMARY KEY NOT NULL,
    scheme      INTEGER NOT NULL,
    statement   BLOB NOT NULL,
    signature   BLOB NOT NULL,
    certificate BLOB NOT NULL
);

CREATE TRIGGER device_captures_no_update BEFORE UPDATE ON device_captures
BEGIN SELECT RAISE(ABORT, 'device_captures is append-only'); END;
CREATE TRIGGER device_captures_no_delete BEFORE DELETE ON device_captures
BEGIN SELECT RAISE(ABORT, 'device_captures is append-only'); END;

-- Witness cosignatures of checkpoints (docs/operations.md, "Witnesses"):
-- the checkpoint's note with the witness's cosignature line, one row per
-- checkpoint and witness (its verifier key). Append-only.
CREATE TABLE log_cosignatures (
    tree_size INTEGER NOT NULL,
    witness   TEXT NOT NULL,
    note      TEXT NOT NULL,
    PRIMARY KEY (tree_size, witness)
);

CREATE TRIGGER log_cosignatures_no_update BEFORE UPDATE ON log_cosignatures
BEGIN SELECT RAISE(ABORT, 'log_cosignatures is append-only'); END;
CREATE TRIGGER log_cosignatures_no_delete BEFORE DELETE ON log_cosignatures
BEGIN SELECT RAISE(ABORT, 'log_cosignatures is append-only'); END;
