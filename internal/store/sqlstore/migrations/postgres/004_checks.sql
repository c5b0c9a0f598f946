-- Results of the checks that watch a bake (SPEC rules 8 and 9).
CREATE TABLE check_results (
    id          BIGSERIAL PRIMARY KEY,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,  -- the environment the release waits to enter
    check_name  TEXT NOT NULL,
    release_id  BIGINT,        -- what ran in the environment below when checked
    outcome     TEXT NOT NULL CHECK (outcome IN ('healthy', 'failing', 'inconclusive')),
    value       DOUBLE PRECISION,
    reason      TEXT NOT NULL DEFAULT '',
    at          BIGINT NOT NULL
);
CREATE INDEX check_results_latest ON check_results (service, environment, check_name, id);
