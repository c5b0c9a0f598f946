-- The event log's followers (engine/feed.go): each subscriber's cursor is
-- the last event it has taken, moved in the transaction that enqueues what
-- it does about the events.
CREATE TABLE event_cursors (
    name       TEXT PRIMARY KEY,
    event_id   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- When the release's commit was made (0: unknown; lead time then starts at
-- the release's creation).
ALTER TABLE releases ADD COLUMN committed_at BIGINT NOT NULL DEFAULT 0;
