-- Canary rollouts (one per deployment that goes through a canary) and the
-- judgements made of them (SPEC rules 8 and 9).
CREATE TABLE canaries (
    id              BIGSERIAL PRIMARY KEY,
    deployment_id   BIGINT NOT NULL UNIQUE,
    service         TEXT NOT NULL,
    environment     TEXT NOT NULL,
    release_id      BIGINT NOT NULL,
    version         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'promoting', 'promoted', 'aborted', 'cancelled')),
    step            INTEGER NOT NULL,
    weight          INTEGER NOT NULL CHECK (weight BETWEEN 0 AND 100),
    applied_weight  INTEGER NOT NULL DEFAULT -1,
    started_at      BIGINT NOT NULL,
    step_started_at BIGINT NOT NULL,
    finished_at     BIGINT,
    reason          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX canaries_env ON canaries (service, environment, id);
CREATE INDEX canaries_state ON canaries (state);

CREATE TABLE judgements (
    id          BIGSERIAL PRIMARY KEY,
    canary_id   BIGINT NOT NULL REFERENCES canaries (id),
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    version     TEXT NOT NULL,
    step        INTEGER NOT NULL,
    weight      INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    from_at     BIGINT NOT NULL,
    to_at       BIGINT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('pass', 'marginal', 'fail', 'inconclusive')),
    score       DOUBLE PRECISION NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    detail      BYTEA
);
CREATE INDEX judgements_canary ON judgements (canary_id, id);
CREATE INDEX judgements_env ON judgements (service, environment, id);
