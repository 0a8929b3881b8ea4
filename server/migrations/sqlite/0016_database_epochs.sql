-- The database's epochs. An epoch is one unbroken history of seqs: a
-- restore from a backup starts a new one (`fieldlink-server new-epoch`, or
-- the server itself when it finds the database behind what it last served).
-- Receipts, feed cursors and the Welcome carry the current epoch's id, so a
-- terminal can tell a seq of this history from one of before the restore.
-- Append-only; the current epoch is the highest number.
CREATE TABLE database_epochs (
    number        INTEGER PRIMARY KEY NOT NULL,
    epoch         TEXT NOT NULL UNIQUE,
    reason        TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    -- What the database held when the epoch began.
    item_seq      INTEGER NOT NULL,
    event_seq     INTEGER NOT NULL,
    log_size      INTEGER NOT NULL
);
