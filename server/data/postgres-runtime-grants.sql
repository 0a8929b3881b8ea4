-- What fieldlink-server's runtime role may do on PostgreSQL when the schema
-- belongs to another role (`database_owner`; docs/operations.md). Applied by
-- the server as the owner after each migration run, with `fieldlink_app`
-- replaced by the runtime role's name. Evidence and the transparency log are
-- insert-and-read only: no UPDATE, DELETE or TRUNCATE, and as a non-owner the
-- role can neither drop nor disable their triggers nor alter the tables.
GRANT USAGE ON SCHEMA public TO fieldlink_app;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO fieldlink_app;
REVOKE INSERT ON _sqlx_migrations FROM fieldlink_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO fieldlink_app;
-- Working state, not evidence: the directory, sign-in tokens (revocation),
-- the assignments' current state, feed cursors, unfinished uploads, presence,
-- the media worker's queue, blob leases, officers' position tracks.
GRANT UPDATE ON teams, officers, session_tokens, assignments, feed_cursors, partial_uploads, presence, incidents,
    media_jobs, blob_leases, upload_leases TO fieldlink_app;
GRANT DELETE ON partial_uploads, media_jobs, blob_leases, upload_leases, position_track TO fieldlink_app;
