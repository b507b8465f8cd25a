-- Metadata filters: one row per matchable metadata field
-- (triggers.MetadataTerms) of each pending event, so that
-- metadata.{key}=value is an index range in inbox order. Rows are written
-- with the event and removed when it is acknowledged, deleted or purged
-- (sqlite/events.go). Migration 003 rebuilds it with more columns.
CREATE TABLE event_metadata (
    tenant     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    PRIMARY KEY (tenant, key, value, created_at, id)
) WITHOUT ROWID;

-- priority=high and priority=low: most events are "normal", so only the
-- others are indexed (no cost on the insert of a normal event). A
-- priority=normal filter walks the inbox index, where most events match.
CREATE INDEX events_inbox_priority ON events (tenant, priority, created_at, id)
    WHERE acked_at IS NULL AND priority <> 'normal';
