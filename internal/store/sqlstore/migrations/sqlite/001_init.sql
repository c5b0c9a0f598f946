-- bakery's own tables. Times are Unix microseconds (UTC) in both databases
-- so that the same queries read them the same way.
CREATE TABLE services (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE releases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service    TEXT NOT NULL REFERENCES services (name),
    version    TEXT NOT NULL,
    artifact   TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    rejected   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (service, version)
);

CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    release_id   INTEGER NOT NULL REFERENCES releases (id),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt      INTEGER NOT NULL DEFAULT 1,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    heartbeat_at INTEGER,
    error        TEXT NOT NULL DEFAULT '',
    output       TEXT NOT NULL DEFAULT ''
);
-- At most one deployment runs per service and environment (rule 10).
CREATE UNIQUE INDEX deployments_one_active ON deployments (service, environment) WHERE state IN ('pending', 'running');
CREATE INDEX deployments_service_env ON deployments (service, environment, id);
CREATE INDEX deployments_release ON deployments (release_id);
CREATE INDEX deployments_running ON deployments (heartbeat_at) WHERE state = 'running';

CREATE TABLE release_marks (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    environment TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (release_id, environment, kind)
);

CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    type          TEXT NOT NULL,
    service       TEXT NOT NULL DEFAULT '',
    environment   TEXT NOT NULL DEFAULT '',
    version       TEXT NOT NULL DEFAULT '',
    from_version  TEXT NOT NULL DEFAULT '',
    to_version    TEXT NOT NULL DEFAULT '',
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    deployment_id INTEGER,
    data          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_service ON events (service, id);
-- The event log is append-only (rule 11).
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE leader (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
