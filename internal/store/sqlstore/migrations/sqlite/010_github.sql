-- GitHub in and out (internal/github). Times are Unix microseconds.

-- Every webhook delivery, accepted or not: what came and what bakery did,
-- never the body or a secret. An accepted delivery's GitHub ID is taken
-- once (GitHub redelivers); a rejected one (bad signature) takes nothing,
-- so a forged delivery cannot claim an ID a real one will bring.
CREATE TABLE github_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    event       TEXT NOT NULL,
    action      TEXT NOT NULL DEFAULT '',
    accepted    INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    received_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX github_deliveries_accepted ON github_deliveries (delivery_id) WHERE accepted = 1;
CREATE INDEX github_deliveries_received ON github_deliveries (received_at);

-- What a release created from GitHub brought besides the release itself:
-- its pull requests (JSON list of numbers) and the event that made it.
CREATE TABLE github_releases (
    service    TEXT NOT NULL,
    version    TEXT NOT NULL,
    repository TEXT NOT NULL,
    prs        TEXT NOT NULL DEFAULT '[]',
    event      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (service, version)
);

-- What bakery last told GitHub about a release in one environment: the
-- GitHub Deployment's id and last status, and the commit status, so that
-- only what changed is sent.
CREATE TABLE github_sync (
    service            TEXT NOT NULL,
    version            TEXT NOT NULL,
    environment        TEXT NOT NULL,
    deployment_id      INTEGER NOT NULL DEFAULT 0,
    deployment_state   TEXT NOT NULL DEFAULT '',
    status_state       TEXT NOT NULL DEFAULT '',
    status_description TEXT NOT NULL DEFAULT '',
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (service, version, environment)
);

-- Whether GitHub is behind on a service: since when its jobs fail, and the
-- last error (behind_since 0: up to date).
CREATE TABLE github_health (
    service      TEXT PRIMARY KEY,
    behind_since INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    updated_at   INTEGER NOT NULL
);

-- The compare API's answer between two commits (what a release contains),
-- and the PR comments bakery keeps up to date.
CREATE TABLE github_compares (
    repository TEXT NOT NULL,
    base       TEXT NOT NULL,
    head       TEXT NOT NULL,
    body       TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (repository, base, head)
);

CREATE TABLE github_pr_comments (
    repository TEXT NOT NULL,
    pr         INTEGER NOT NULL,
    comment_id INTEGER NOT NULL,
    body_hash  TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repository, pr)
);
