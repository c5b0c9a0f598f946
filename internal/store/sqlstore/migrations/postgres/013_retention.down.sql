-- Takes 013_retention.sql back: the event log refuses every delete again.
DROP INDEX IF EXISTS deployments_output_kept;
CREATE OR REPLACE FUNCTION bakery_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END;
$$;
DROP TABLE retention_horizon;
