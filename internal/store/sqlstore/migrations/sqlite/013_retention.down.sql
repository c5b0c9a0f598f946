-- Takes 013_retention.sql back: the event log refuses every delete again.
DROP INDEX IF EXISTS deployments_output_kept;
DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
DROP TABLE retention_horizon;
