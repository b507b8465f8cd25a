-- Inbox statistics (DESIGN §12). Counters kept by triggers on events, so
-- that they change in the same transaction as every write of an event
-- (insert, ack, dead-letter, redrive, delete, purge): a stats call reads a
-- few counter rows instead of counting events.
--
-- stats_counts: per tenant, source and event type, the events neither
-- acknowledged nor dead (open) and the dead ones (dead). Expired events
-- are in them until the purge deletes them; Stats subtracts those still
-- there (sqlite/stats.go). A row whose counts are 0 is kept while its
-- history rows are (stats_detail is found through it), then removed by the
-- purge.
CREATE TABLE stats_counts (
    tenant     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    open       INTEGER NOT NULL,
    dead       INTEGER NOT NULL,
    PRIMARY KEY (tenant, source, event_type)
) WITHOUT ROWID;

-- The history: events created (by created_at's minute) and acknowledged
-- (by acked_at's minute) per tenant and minute (Unix minutes), and the
-- same per source and event type for filtered calls. Deletions do not
-- change them; the purge removes the minutes 2 h older than the tenant's
-- latest.
CREATE TABLE stats_minutes (
    tenant  TEXT    NOT NULL,
    minute  INTEGER NOT NULL,
    created INTEGER NOT NULL,
    acked   INTEGER NOT NULL,
    PRIMARY KEY (tenant, minute)
) WITHOUT ROWID;
CREATE TABLE stats_detail (
    tenant     TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    minute     INTEGER NOT NULL,
    created    INTEGER NOT NULL,
    acked      INTEGER NOT NULL,
    PRIMARY KEY (tenant, source, event_type, minute)
) WITHOUT ROWID;

-- An event is open while neither acked_at nor dead_at is set, dead while
-- dead_at is set and acked_at is not (an ack clears dead_at anyway).
CREATE TRIGGER stats_insert AFTER INSERT ON events
BEGIN
    INSERT INTO stats_counts (tenant, source, event_type, open, dead)
        VALUES (NEW.tenant, NEW.source, NEW.event_type,
            NEW.acked_at IS NULL AND NEW.dead_at IS NULL, NEW.acked_at IS NULL AND NEW.dead_at IS NOT NULL)
        ON CONFLICT DO UPDATE SET open = open + excluded.open, dead = dead + excluded.dead;
    INSERT INTO stats_minutes (tenant, minute, created, acked)
        VALUES (NEW.tenant, NEW.created_at / 60000000, 1, 0)
        ON CONFLICT DO UPDATE SET created = created + 1;
    INSERT INTO stats_detail (tenant, source, event_type, minute, created, acked)
        VALUES (NEW.tenant, NEW.source, NEW.event_type, NEW.created_at / 60000000, 1, 0)
        ON CONFLICT DO UPDATE SET created = created + 1;
END;

-- The row exists: it was made by the event's insert (or the backfill
-- below) and is removed only once it counts nothing.
CREATE TRIGGER stats_state AFTER UPDATE OF acked_at, dead_at ON events
WHEN (OLD.acked_at IS NULL AND OLD.dead_at IS NULL) <> (NEW.acked_at IS NULL AND NEW.dead_at IS NULL)
    OR (OLD.acked_at IS NULL AND OLD.dead_at IS NOT NULL) <> (NEW.acked_at IS NULL AND NEW.dead_at IS NOT NULL)
BEGIN
    UPDATE stats_counts
        SET open = open - (OLD.acked_at IS NULL AND OLD.dead_at IS NULL) + (NEW.acked_at IS NULL AND NEW.dead_at IS NULL),
            dead = dead - (OLD.acked_at IS NULL AND OLD.dead_at IS NOT NULL) + (NEW.acked_at IS NULL AND NEW.dead_at IS NOT NULL)
        WHERE tenant = NEW.tenant AND source = NEW.source AND event_type = NEW.event_type;
END;

CREATE TRIGGER stats_ack AFTER UPDATE OF acked_at ON events
WHEN OLD.acked_at IS NULL AND NEW.acked_at IS NOT NULL
BEGIN
    INSERT INTO stats_minutes (tenant, minute, created, acked)
        VALUES (NEW.tenant, NEW.acked_at / 60000000, 0, 1)
        ON CONFLICT DO UPDATE SET acked = acked + 1;
    INSERT INTO stats_detail (tenant, source, event_type, minute, created, acked)
        VALUES (NEW.tenant, NEW.source, NEW.event_type, NEW.acked_at / 60000000, 0, 1)
        ON CONFLICT DO UPDATE SET acked = acked + 1;
END;

CREATE TRIGGER stats_delete AFTER DELETE ON events
WHEN OLD.acked_at IS NULL
BEGIN
    UPDATE stats_counts
        SET open = open - (OLD.dead_at IS NULL), dead = dead - (OLD.dead_at IS NOT NULL)
        WHERE tenant = OLD.tenant AND source = OLD.source AND event_type = OLD.event_type;
END;

-- The counts of the events already stored, and the history of their last
-- two hours (older minutes are out of every stats window).
INSERT INTO stats_counts (tenant, source, event_type, open, dead)
    SELECT tenant, source, event_type, sum(acked_at IS NULL AND dead_at IS NULL), sum(acked_at IS NULL AND dead_at IS NOT NULL)
    FROM events GROUP BY tenant, source, event_type;
INSERT INTO stats_detail (tenant, source, event_type, minute, created, acked)
    SELECT tenant, source, event_type, minute, sum(created), sum(acked) FROM (
        SELECT tenant, source, event_type, created_at / 60000000 AS minute, 1 AS created, 0 AS acked
            FROM events WHERE created_at > (unixepoch() - 7200) * 1000000
        UNION ALL
        SELECT tenant, source, event_type, acked_at / 60000000, 0, 1
            FROM events WHERE acked_at > (unixepoch() - 7200) * 1000000)
    GROUP BY tenant, source, event_type, minute;
INSERT INTO stats_minutes (tenant, minute, created, acked)
    SELECT tenant, minute, sum(created), sum(acked) FROM stats_detail GROUP BY tenant, minute;
