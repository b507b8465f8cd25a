-- Push delivery (DESIGN §11; sqlite/webhooks.go). Instants are Unix
-- microseconds, NULL when absent.

-- Subscriptions: a tenant has at most a few dozen. The filter is JSON
-- (source, event_type, priority, metadata). Secrets are stored in plain
-- text: GET /v1/subscriptions/{id}/secret shows them again, and they sign
-- deliveries, so they cannot be hashed as API keys are. version counts the
-- writes, for UpdateSubscription's compare-and-set.
CREATE TABLE subscriptions (
    tenant                TEXT    NOT NULL,
    id                    TEXT    NOT NULL,
    url                   TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    filter                TEXT    NOT NULL,
    ack_on_delivery       INTEGER NOT NULL,
    status                TEXT    NOT NULL,
    secret                TEXT    NOT NULL,
    previous_secret       TEXT    NOT NULL,
    previous_secret_until INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    failing_since         INTEGER,
    version               INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

-- Deliveries: one per (subscription, event), written in the transaction
-- of the event's insert (the outbox). attempts is the log, a JSON array.
-- held is 1 while the subscription is disabled: such deliveries wait
-- outside the due index, so that claims never walk over them.
CREATE TABLE deliveries (
    tenant           TEXT    NOT NULL,
    subscription_id  TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_created_at INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    tries            INTEGER NOT NULL,
    attempts         TEXT    NOT NULL,
    lease_id         TEXT,
    lease_expires_at INTEGER,
    held             INTEGER NOT NULL
);
-- A subscription's deliveries in event order (ids are ordered by time).
CREATE UNIQUE INDEX deliveries_by_key ON deliveries (tenant, subscription_id, event_id);
-- The same with a status filter.
CREATE INDEX deliveries_by_status ON deliveries (tenant, subscription_id, status, event_id);
-- Claims: pending deliveries of active subscriptions by due time, with the
-- lease expiry so that those in flight are skipped from the index alone.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, lease_expires_at)
    WHERE status = 'pending' AND held = 0;
-- Retention: the deliveries of purged events, by the event's age.
CREATE INDEX deliveries_by_age ON deliveries (event_created_at);

-- Replays walk a tenant's events, acknowledged and dead ones included, by
-- created_at: no other index serves that (the inbox indexes hold pending
-- events only, events_by_age is every tenant's). See docs/DECISIONS.md.
CREATE INDEX events_by_tenant_age ON events (tenant, created_at);
