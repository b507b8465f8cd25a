-- Filters no single index serves are checked while walking the chosen
-- index (sqlite/events.go planInbox). These indexes carry the columns those
-- checks read, so that the walk never visits the events table for an event
-- that does not match: each is rebuilt with them after its key. (acked_at
-- is always NULL in these partial indexes; SQLite needs it as a column to
-- answer "acked_at IS NULL" from the index alone.)
DROP INDEX events_inbox;
CREATE INDEX events_inbox ON events (tenant, created_at, id, priority, acked_at) WHERE acked_at IS NULL;
DROP INDEX events_inbox_source;
CREATE INDEX events_inbox_source ON events (tenant, source, created_at, id, event_type, priority, acked_at) WHERE acked_at IS NULL;
DROP INDEX events_inbox_type;
CREATE INDEX events_inbox_type ON events (tenant, event_type, created_at, id, source, priority, acked_at) WHERE acked_at IS NULL;
DROP INDEX events_inbox_priority;
CREATE INDEX events_inbox_priority ON events (tenant, priority, created_at, id, source, event_type, acked_at)
    WHERE acked_at IS NULL AND priority <> 'normal';

-- The metadata index carries them too; rebuilt from the pending events by
-- the Go step of this migration (sqlite.go backfillMetadata).
DROP TABLE event_metadata;
CREATE TABLE event_metadata (
    tenant     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    priority   TEXT    NOT NULL,
    PRIMARY KEY (tenant, key, value, created_at, id)
) WITHOUT ROWID;
