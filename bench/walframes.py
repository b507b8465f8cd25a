#!/usr/bin/env python3
"""WAL frames per commit on the SQLite store's schema, by b-tree.

Builds a database from the store's migrations (sqlite/migrations/*.sql),
preloads events, then makes COMMITS commits of BATCH events each with
checkpoints off, and counts the frames of those commits in the WAL by the
table or index each page belongs to (dbstat). A commit writes every page it
changed as a whole 4 KiB frame, so this is where a commit's write cost comes
from (docs/PERFORMANCE.md, issue 17's fifth session).

The events are the shared harness's (../shared/load/run.sh): its payload,
4 sources, 3 types, priorities low/normal/high and a correlation_id in the
metadata; --same makes every event the harness's single-create body, as
scenario a sends. The insert statements are the store's (sqlite/events.go)
but for the statistics counters, which add three frames a commit (one row
each in stats_counts, stats_minutes and stats_detail).

Only Python's standard library is needed (its sqlite3 module must have the
dbstat table, as Debian's has):

    bench/walframes.py --batch 8 --same             # scenario a: about 8 creates a commit
    bench/walframes.py --batch 170 --rate 40000     # scenario d: about 170 a commit
    bench/walframes.py --batch 170 --sql 'DROP INDEX events_by_age'
"""

import argparse
import collections
import glob
import os
import random
import sqlite3
import struct
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOAD = ('{"order_id":"ord-000001","customer":{"id":"cus-00001","email":"customer00001@example.com",'
           '"name":"Jane Q. Customer"},"items":[{"sku":"SKU-1001","qty":2,"price_cents":1999},'
           '{"sku":"SKU-2002","qty":1,"price_cents":4999}],"total_cents":8997,"currency":"USD",'
           '"note":"benchmark payload padding 0123456789abcdefghijklmnopqrstuvwxyz"}')
PRIORITIES = ["low", "normal", "high"]
TYPES = ["order.created", "user.signup", "invoice.paid"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preload", type=int, default=10000, help="events stored before the measured commits")
    ap.add_argument("--batch", type=int, default=8, help="events per measured commit")
    ap.add_argument("--commits", type=int, default=20, help="measured commits")
    ap.add_argument("--same", action="store_true", help="every event the harness's single-create body")
    ap.add_argument("--rate", type=float, default=10000,
                    help="events a second the creation times (and the ids' milliseconds) are spaced for")
    ap.add_argument("--sql", default="", help="SQL run after the migrations, to price a schema change")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "triggers.db")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
        for f in sorted(glob.glob(os.path.join(HERE, "..", "sqlite", "migrations", "*.sql"))):
            con.executescript(open(f).read())
        if args.sql:
            con.executescript(args.sql)

        created = [int(time.time() * 1e6)]

        def insert(n, first):
            con.execute("BEGIN IMMEDIATE")
            for i in range(first, first + n):
                if args.same:
                    i = 0
                created[0] += max(1, int(1e6 / args.rate))
                ms = created[0] // 1000
                eid = str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | random.getrandbits(76)))
                source, etype, prio = "bench-src-%d" % (i % 4), TYPES[i % 3], PRIORITIES[i % 3]
                corr = "corr-%06d" % i
                con.execute("INSERT INTO events (tenant, id, created_at, source, event_type, priority, payload, metadata)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            ("dev", eid, created[0], source, etype, prio, PAYLOAD,
                             '{"priority":"%s","correlation_id":"%s"}' % (prio, corr)))
                con.execute("INSERT OR IGNORE INTO event_metadata (tenant, key, value, created_at, id, source,"
                            " event_type, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            ("dev", "correlation_id", corr, created[0], eid, source, etype, prio))
            con.execute("COMMIT")

        n = 0
        while n < args.preload:
            insert(min(100, args.preload - n), n)
            n += 100
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for _ in range(args.commits):
            insert(args.batch, n)
            n += args.batch

        data = open(path + "-wal", "rb").read()
        page_size = struct.unpack(">I", data[8:12])[0]
        pages = []
        off = 32
        while off + 24 + page_size <= len(data):
            pages.append(struct.unpack(">I", data[off:off + 4])[0])
            off += 24 + page_size
        owner = dict((p, name) for name, p in con.execute("SELECT name, pageno FROM dbstat"))
        by_tree = collections.Counter(owner.get(p, "(freed)") for p in pages)
        con.close()

    print("%d events a commit: %.1f frames a commit, %.0f WAL bytes an event"
          % (args.batch, len(pages) / args.commits, len(pages) * (page_size + 24) / args.commits / args.batch))
    for name, count in by_tree.most_common():
        print("  %-26s %6.2f" % (name, count / args.commits))


if __name__ == "__main__":
    main()
