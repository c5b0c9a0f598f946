-- Results of the checks that watch a bake (SPEC rules 8 and 9).
CREATE TABLE check_results (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,  -- the environment the release waits to enter
    check_name  TEXT NOT NULL,
    release_id  INTEGER,        -- what ran in the environment below when checked
    outcome     TEXT NOT NULL CHECK (outcome IN ('healthy', 'failing', 'inconclusive')),
    value       REAL,
    reason      TEXT NOT NULL DEFAULT '',
    at          INTEGER NOT NULL
);
CREATE INDEX check_results_latest ON check_results (service, environment, check_name, id);
