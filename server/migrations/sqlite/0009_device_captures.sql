-- Device-signed capture (docs/protocol.md §10b): the statement a terminal
-- signed with its device key when it sent an item, the signature, and the
-- device certificate it was checked against (kept once, by its SHA-256).
-- Written with the item, in the same transaction; part of the item's leaf.
-- Append-only like the evidence.
CREATE TABLE device_certificate_ders (
    sha256 BLOB PRIMARY KEY NOT NULL CHECK (length(sha256) = 32),
    der    BLOB NOT NULL
);

CREATE TABLE device_captures (
    item_id            TEXT PRIMARY KEY NOT NULL,
    scheme             INTEGER NOT NULL,
    statement          BLOB NOT NULL,
    signature          BLOB NOT NULL,
    certificate_sha256 BLOB NOT NULL REFERENCES device_certificate_ders(sha256)
);

CREATE TRIGGER device_certificate_ders_no_update BEFORE UPDATE ON device_certificate_ders
BEGIN SELECT RAISE(ABORT, 'device_certificate_ders is append-only'); END;
CREATE TRIGGER device_certificate_ders_no_delete BEFORE DELETE ON device_certificate_ders
BEGIN SELECT RAISE(ABORT, 'device_certificate_ders is append-only'); END;

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
