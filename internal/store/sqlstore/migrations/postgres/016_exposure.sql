-- Exposure (issue 18): the use each release had in an environment, for the
-- exposure gate of the environment above. Requests are counted by the
-- environment's router (source 'router', added in small batches) or read
-- from Prometheus (source 'prometheus', the query's latest value).
CREATE TABLE exposure_requests (
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    release_id  BIGINT NOT NULL REFERENCES releases (id),
    source      TEXT NOT NULL CHECK (source IN ('router', 'prometheus')),
    requests    BIGINT NOT NULL CHECK (requests >= 0),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (service, environment, release_id, source)
);

-- People: distinct random per-browser ids from the banner's beacons. An id
-- is random, kept in the browser's localStorage, and carries no personal
-- data; one row per id per release.
CREATE TABLE exposure_people (
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    release_id  BIGINT NOT NULL REFERENCES releases (id),
    person      TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    PRIMARY KEY (service, environment, release_id, person)
);

-- The key bakery signs banner beacon tickets with: one random key shared by
-- every replica, made by the first one that needs it.
CREATE TABLE beacon_keys (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_hex    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
