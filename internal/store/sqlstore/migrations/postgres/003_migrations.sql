-- Schema migrations that releases declare, and when bakery first saw each
-- migration applied in an environment's database (for drift, rule 12).
CREATE TABLE release_migrations (
    release_id   BIGINT NOT NULL REFERENCES releases (id),
    migration_id TEXT NOT NULL,
    PRIMARY KEY (release_id, migration_id)
);

CREATE TABLE migrations_seen (
    service      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    migration_id TEXT NOT NULL,
    first_seen   BIGINT NOT NULL,
    PRIMARY KEY (service, environment, migration_id)
);
