package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/triggersapi/triggers/sqlite"
)

// registerSQLiteMetrics exports the embedded store's own counters: group
// commits and the writes they carried (their ratio is the mean batch), and
// inbox pages answered from memory or read from the database.
func registerSQLiteMetrics(reg prometheus.Registerer, db *sqlite.DB) {
	counter := func(name, help string, labels prometheus.Labels, value func(sqlite.WriterStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(value(db.WriterStats())) })
	}
	reg.MustRegister(
		counter("triggers_sqlite_commits_total", "Group commits of the embedded store (each one fsync, except the volatile ones).", nil,
			func(s sqlite.WriterStats) uint64 { return s.Commits }),
		counter("triggers_sqlite_committed_writes_total", "Writes carried by those commits.", nil,
			func(s sqlite.WriterStats) uint64 { return s.CommittedOps }),
		counter("triggers_sqlite_volatile_commits_total", "Commits of leases only, without an fsync (DESIGN §10.5).", nil,
			func(s sqlite.WriterStats) uint64 { return s.VolatileCommits }),
		counter("triggers_sqlite_inbox_pages_total", "Inbox pages by where they were read from.", prometheus.Labels{"from": "memory"},
			func(s sqlite.WriterStats) uint64 { return s.PageHits }),
		counter("triggers_sqlite_inbox_pages_total", "Inbox pages by where they were read from.", prometheus.Labels{"from": "database"},
			func(s sqlite.WriterStats) uint64 { return s.PageMisses }),
	)
}
