-- Inbox statistics (DESIGN §12). Counters that every write of an event
-- (insert, ack, dead-letter, redrive, delete, purge) updates in its own
-- transaction, by statements beside its own (sqlite/stats.go countEvent):
-- a stats call reads a few counter rows instead of counting events. An
-- event is open while neither acked_at nor dead_at is set, dead while
-- dead_at is set (an ack clears it).
--
-- Not triggers: a statement that fires one writes several tables, so
-- SQLite gives it a statement journal, which doubled the writer's time per
-- insert (docs/DECISIONS.md, Statistics).
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
