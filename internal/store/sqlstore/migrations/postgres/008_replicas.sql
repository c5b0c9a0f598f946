-- Every replica writes a heartbeat here (issue 11): a job handed out to a
-- worker whose replica has gone silent is handed out again.
CREATE TABLE replicas (
    id        TEXT PRIMARY KEY,
    heartbeat BIGINT NOT NULL
);
