-- Closing the doors (issue 10): tokens expire, are revoked and say when
-- they were last used; dashboard sessions are kept on the server (the
-- cookie carries a random secret, the table only its SHA-256); events name
-- the token behind a command by id as well as by name.
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;

ALTER TABLE events ADD COLUMN actor_token_id INTEGER;

CREATE TABLE sessions (
    hash         TEXT PRIMARY KEY,
    token_id     INTEGER NOT NULL REFERENCES tokens (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_token ON sessions (token_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
