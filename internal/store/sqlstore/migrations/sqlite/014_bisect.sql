-- Bisects: searches for the first release whose check fails, by deploying
-- older releases to a service's first environment (issue 16). At most one
-- runs per service.
CREATE TABLE bisects (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    service          TEXT NOT NULL,
    environment      TEXT NOT NULL,
    good             TEXT NOT NULL,
    bad              TEXT NOT NULL,
    check_name       TEXT NOT NULL,
    repeat_count     INTEGER NOT NULL CHECK (repeat_count BETWEEN 1 AND 20),
    restore_good     INTEGER NOT NULL DEFAULT 0,
    return_to        TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL CHECK (state IN ('running', 'found', 'stuck', 'cancelled')),
    probe            TEXT NOT NULL DEFAULT '',
    probe_deployment INTEGER NOT NULL DEFAULT 0,
    tried            TEXT NOT NULL DEFAULT '[]',
    culprit          TEXT NOT NULL DEFAULT '',
    deploys          INTEGER NOT NULL DEFAULT 0,
    started_by       TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    result           TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    ended_at         INTEGER
);
CREATE UNIQUE INDEX bisects_one_running ON bisects (service) WHERE state = 'running';
CREATE INDEX bisects_service ON bisects (service, id);

-- Fix releases (the fix lane) and approvals of releases into an environment.
ALTER TABLE releases ADD COLUMN fix INTEGER NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN fix_reason TEXT NOT NULL DEFAULT '';
-- Who created the release (a token's name and ID): a fix's approvals must come from someone else.
ALTER TABLE releases ADD COLUMN creator TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN creator_token_id INTEGER NOT NULL DEFAULT 0;
CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    actor       TEXT NOT NULL,
    token_id    INTEGER NOT NULL DEFAULT 0,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (release_id, environment, actor)
);
