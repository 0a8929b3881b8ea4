-- A blob about to be relied on is leased first (docs/operations.md): an
-- upload before it adopts its file (which may find the blob there already
-- and keep that), the media worker before it stores a thumbnail. The
-- janitor never removes a leased blob, and after moving an orphan aside it
-- looks again and puts it back if a lease or a reference appeared meanwhile.
-- Working state: a lease is deleted when its holder is done, or expires.
CREATE TABLE blob_leases (
    sha256   BLOB NOT NULL CHECK (length(sha256) = 32),
    holder   TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (sha256, holder)
);

-- One node at a time receives an upload (device, evidence id): the stream
-- receiving it holds this lease, renewed while it runs. A resume that
-- reaches another node while the lease is live is refused (retryable), so
-- two nodes never write one partial file in a shared evidence directory.
-- `holder` is "node/stream"; a newer stream on the same node takes over (the
-- node's upload slots already stop the older one).
CREATE TABLE upload_leases (
    device_id   TEXT NOT NULL,
    evidence_id TEXT NOT NULL,
    holder      TEXT NOT NULL,
    until_ms    INTEGER NOT NULL,
    PRIMARY KEY (device_id, evidence_id)
);
