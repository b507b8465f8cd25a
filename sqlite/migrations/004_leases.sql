-- Leases (DESIGN §10). Instants are Unix microseconds, NULL when absent:
-- attempts counts the leases given; lease_id and lease_expires_at are the
-- latest lease (kept after it expires, until a receive replaces it or an
-- ack, a nack, a redrive or dead-lettering ends it); available_at is a
-- nack's delay; dead_at is set while the event is dead.
ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN lease_id TEXT;
ALTER TABLE events ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE events ADD COLUMN available_at INTEGER;
ALTER TABLE events ADD COLUMN dead_at INTEGER;

-- A dead event leaves the pending inbox: every inbox index now holds the
-- events that are neither acknowledged nor dead (dead_at is a column only
-- so that the filter checks stay answered from the index, as acked_at).
DROP INDEX events_inbox;
CREATE INDEX events_inbox ON events (tenant, created_at, id, priority, acked_at, dead_at)
    WHERE acked_at IS NULL AND dead_at IS NULL;
DROP INDEX events_inbox_source;
CREATE INDEX events_inbox_source ON events (tenant, source, created_at, id, event_type, priority, acked_at, dead_at)
    WHERE acked_at IS NULL AND dead_at IS NULL;
DROP INDEX events_inbox_type;
CREATE INDEX events_inbox_type ON events (tenant, event_type, created_at, id, source, priority, acked_at, dead_at)
    WHERE acked_at IS NULL AND dead_at IS NULL;
DROP INDEX events_inbox_priority;
CREATE INDEX events_inbox_priority ON events (tenant, priority, created_at, id, source, event_type, acked_at, dead_at)
    WHERE acked_at IS NULL AND dead_at IS NULL AND priority <> 'normal';

-- A receive without filters reads two indexes that split the pending
-- events (sqlite/leases.go), so that leased events at the head of the inbox
-- are never walked over one by one:
--
-- events_idle: pending events with no lease or delay recorded (never
-- received, nacked without delay, redriven), in inbox order. All of them are
-- available. It carries what a receive reads, the unused lease columns
-- included, so that SQLite answers from the index alone.
CREATE INDEX events_idle ON events (tenant, created_at, id, priority, attempts, acked_at, dead_at, lease_expires_at, available_at)
    WHERE acked_at IS NULL AND dead_at IS NULL AND lease_expires_at IS NULL AND available_at IS NULL;
-- events_held: the other pending events, by the instant they become
-- available (the later of lease expiry and nack delay; the expression must
-- be repeated exactly by the queries, see readyAt). A receive reads the
-- range up to now (leases expired, delays over); a receive that finds
-- nothing reads the first entry after now, to know when to wake.
CREATE INDEX events_held ON events (tenant, max(coalesce(lease_expires_at, 0), coalesce(available_at, 0)),
    created_at, id, priority, attempts, lease_expires_at, available_at, acked_at, dead_at)
    WHERE acked_at IS NULL AND dead_at IS NULL AND (lease_expires_at IS NOT NULL OR available_at IS NOT NULL);

-- Dead events in inbox order, for GET /v1/inbox?status=dead; other filters
-- are checked on each event read (a dead list is short).
CREATE INDEX events_dead ON events (tenant, created_at, id) WHERE dead_at IS NOT NULL;
