-- Brakes and overrides: locks, and tokens allowed to break glass.
CREATE TABLE locks (
    id             BIGSERIAL PRIMARY KEY,
    service        TEXT NOT NULL,           -- a service name, or '*' for every service
    environment    TEXT NOT NULL,
    actor          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    released_at    BIGINT,
    released_by    TEXT NOT NULL DEFAULT '',
    release_reason TEXT NOT NULL DEFAULT ''
);
-- One held lock per service (or '*') and environment.
CREATE UNIQUE INDEX locks_one_held ON locks (service, environment) WHERE released_at IS NULL;

ALTER TABLE tokens ADD COLUMN emergency BIGINT NOT NULL DEFAULT 0;
