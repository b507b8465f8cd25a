-- Events. Times are Unix microseconds (UTC). acked_at is NULL while pending.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    priority   TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    metadata   TEXT    NOT NULL,
    acked_at   INTEGER
);

-- Events by id, scoped to the tenant.
CREATE UNIQUE INDEX events_by_id ON events (tenant, id);

-- The inbox: pending events only (a partial index, so acknowledged events
-- cost nothing to skip), in inbox order. A created_at range is an index range.
CREATE INDEX events_inbox ON events (tenant, created_at, id) WHERE acked_at IS NULL;
CREATE INDEX events_inbox_source ON events (tenant, source, created_at, id) WHERE acked_at IS NULL;
CREATE INDEX events_inbox_type ON events (tenant, event_type, created_at, id) WHERE acked_at IS NULL;

-- Retention: expired events are found by age.
CREATE INDEX events_by_age ON events (created_at);

-- Idempotency records: one per tenant and key, kept 24 h.
CREATE TABLE idempotency (
    tenant           TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    request_hash     TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_created_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_age ON idempotency (created_at);

-- API keys. Only the SHA-256 of a key is stored.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    hash        TEXT    NOT NULL UNIQUE,
    tenant      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    rate_limit  INTEGER,          -- NULL: server default
    allowed_ips TEXT,             -- comma-separated prefixes; NULL or '': all
    expires_at  INTEGER           -- NULL: never
);
