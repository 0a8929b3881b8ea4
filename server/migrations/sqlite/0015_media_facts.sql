-- Video, audio and documents share the photos table (one upload path for
-- all media evidence). What the container says, read while the bytes
-- arrived: playing time, codecs, creation time. NULL for photos and
-- documents, and for rows stored before this migration.
ALTER TABLE photos ADD COLUMN duration_ms INTEGER;
ALTER TABLE photos ADD COLUMN codecs TEXT;
ALTER TABLE photos ADD COLUMN container_time_ms INTEGER;
