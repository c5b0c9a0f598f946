-- Retention (server.retention): the oldest events may be deleted, and only
-- by the pruner. It raises the horizon to the newest event it deletes in
-- its own transaction, deletes up to it, and lowers it to 0 before
-- committing, so outside that transaction no event can be deleted and an
-- update never could: what remains is the unchanged tail of the log.
CREATE TABLE retention_horizon (
    name    TEXT PRIMARY KEY,
    upto_id INTEGER NOT NULL
);
INSERT INTO retention_horizon (name, upto_id) VALUES ('events', 0);
DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN OLD.id > (SELECT upto_id FROM retention_horizon WHERE name = 'events')
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: only retention deletes its oldest events'); END;
-- Finished deployments that still keep their output, by age.
CREATE INDEX deployments_output_kept ON deployments (finished_at) WHERE output <> '';
