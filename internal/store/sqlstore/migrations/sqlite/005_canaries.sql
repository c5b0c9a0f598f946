-- Canary rollouts (one per deployment that goes through a canary) and the
-- judgements made of them (SPEC rules 8 and 9).
CREATE TABLE canaries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id   INTEGER NOT NULL UNIQUE,
    service         TEXT NOT NULL,
    environment     TEXT NOT NULL,
    release_id      INTEGER NOT NULL,
    version         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'promoting', 'promoted', 'aborted', 'cancelled')),
    step            INTEGER NOT NULL,
    weight          INTEGER NOT NULL CHECK (weight BETWEEN 0 AND 100),
    applied_weight  INTEGER NOT NULL DEFAULT -1,
    started_at      INTEGER NOT NULL,
    step_started_at INTEGER NOT NULL,
    finished_at     INTEGER,
    reason          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX canaries_env ON canaries (service, environment, id);
CREATE INDEX canaries_state ON canaries (state);

CREATE TABLE judgements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    canary_id   INTEGER NOT NULL REFERENCES canaries (id),
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    version     TEXT NOT NULL,
    step        INTEGER NOT NULL,
    weight      INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    from_at     INTEGER NOT NULL,
    to_at       INTEGER NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('pass', 'marginal', 'fail', 'inconclusive')),
    score       REAL NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    detail      BLOB
);
CREATE INDEX judgements_canary ON judgements (canary_id, id);
CREATE INDEX judgements_env ON judgements (service, environment, id);
