-- Notifications (internal/notify): one delivery per event and destination,
-- sent in order per (destination, service) by durable jobs. msg_id is the
-- webhook-id of every attempt; payload is the event as it was when the
-- delivery was written, so a retry sends the same body.
CREATE TABLE notify_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    destination     TEXT NOT NULL,
    service         TEXT NOT NULL,
    event_id        BIGINT NOT NULL,
    type            TEXT NOT NULL,
    msg_id          TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX notify_deliveries_pair ON notify_deliveries (destination, service, state, id);
CREATE INDEX notify_deliveries_state ON notify_deliveries (state, id);

-- The Slack message of each release in each Slack destination, updated in
-- place as the release travels (chat.update needs its channel and ts).
CREATE TABLE slack_messages (
    destination TEXT NOT NULL,
    service     TEXT NOT NULL,
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    PRIMARY KEY (destination, service, version)
);
