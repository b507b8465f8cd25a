-- Leases (DESIGN §10). Instants are Unix microseconds, NULL when absent:
-- attempts counts the leases given; lease_id and lease_expires_at are the
-- latest lease (kept after it expires, until a receive replaces it, an ack,
-- a nack, a redrive or dead-lettering ends it); available_at is a nack's
-- delay; dead_at is set while the event is dead.
ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN lease_id TEXT;
ALTER TABLE events ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE events ADD COLUMN available_at INTEGER;
ALTER TABLE events ADD COLUMN dead_at INTEGER;

-- A dead event leaves the pending inbox: every inbox index now holds
-- events that are neither acknowledged nor dead. The plain inbox index,
-- which an unfiltered receive walks, also carries what availability and
-- dead-lettering read (lease_expires_at, available_at, attempts), so that
-- the walk past leased events never visits the table. The filter indexes
-- do not: a lease would otherwise rewrite an entry in each of them, and a
-- filtered receive reads those columns from the table instead.
DROP INDEX events_inbox;
CREATE INDEX events_inbox ON events (tenant, created_at, id, priority, lease_expires_at, available_at, attempts, acked_at, dead_at)
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

-- Dead events in inbox order, for GET /v1/inbox?status=dead; other filters
-- are checked per event (a dead list is short).
CREATE INDEX events_dead ON events (tenant, created_at, id) WHERE dead_at IS NOT NULL;

-- When the next leased or delayed pending event becomes available, for a
-- receive that found nothing and waits. Only events with a lease or a
-- delay recorded are in it, so a create costs nothing here.
CREATE INDEX events_unavailable ON events (tenant, max(coalesce(lease_expires_at, 0), coalesce(available_at, 0)))
    WHERE acked_at IS NULL AND dead_at IS NULL AND (lease_expires_at IS NOT NULL OR available_at IS NOT NULL);
