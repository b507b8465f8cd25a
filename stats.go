package triggers

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Inbox statistics (DESIGN §12).
const (
	// StatsMinutes is how many minutes Stats.PerMinute covers, the current
	// one included.
	StatsMinutes = 60
	// StatsTopSources is how many sources Stats.BySource lists at most.
	StatsTopSources = 20
)

// StatsRequest is a parsed GET /v1/stats query: the filters that all the
// numbers answer for.
type StatsRequest struct {
	Source    string // "" = any
	EventType string // "" = any
}

// ParseStatsQuery validates the stats query parameters: source and
// event_type, with the inbox's rules. Unknown parameters and invalid values
// are EINVALID errors naming the parameter.
func ParseStatsQuery(q url.Values) (StatsRequest, error) {
	p := inboxQuery{q: q}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if name != "source" && name != "event_type" {
			p.fail(name, "unknown query parameter; known: source, event_type")
		}
	}
	var f InboxFilter
	p.textFilters(&f)
	if len(p.bad) > 0 {
		return StatsRequest{}, InvalidFields(p.bad...)
	}
	return StatsRequest{Source: f.Source, EventType: f.EventType}, nil
}

// StatsQuery is what Service asks a store for in one stats call.
type StatsQuery struct {
	Tenant    string
	Source    string // "" = any
	EventType string // "" = any
	// Now is the instant the numbers are for: a lease counts as held when
	// it expires after Now.
	Now time.Time
	// NotBefore hides expired events, as in InboxQuery: events created at
	// or before it are not counted as pending, leased or dead.
	NotBefore time.Time
	// Since is the first minute (a whole UTC minute) of the per-minute
	// counts; they run from Since to Now.
	Since time.Time
	// TopSources is how many sources BySource holds at most.
	TopSources int
}

// Stats are one tenant's inbox statistics, for the events matching a
// StatsQuery's filters.
type Stats struct {
	// Pending counts the pending events: the events GET /v1/inbox lists,
	// leased or not (DESIGN §10.1).
	Pending int64
	// Leased counts the pending events under a lease that expires after Now.
	Leased int64
	// Dead counts the dead events.
	Dead int64
	// OldestPending is the creation time of the oldest pending event; zero
	// when there is none.
	OldestPending time.Time
	// PerMinute holds the minutes from Since to Now. A store returns the
	// minutes with a non-zero count, in any order; Service answers every
	// minute, oldest first, zeros included.
	PerMinute []MinuteStats
	// BySource holds the sources with the most pending events, most first
	// (ties by source name), without sources that have none; at most
	// TopSources of them.
	BySource []SourceCount
	// Approximate is true when the counts may be off (a store that keeps
	// them with counters outside the events' own writes, DESIGN §12).
	Approximate bool
}

// MinuteStats counts what happened in one minute: the events created in it
// (by CreatedAt, whatever happened to them since) and the events
// acknowledged in it (by AckedAt).
type MinuteStats struct {
	Minute       time.Time // the minute's first instant, UTC
	Created      int64
	Acknowledged int64
}

// SourceCount is how many pending events one source has.
type SourceCount struct {
	Source  string
	Pending int64
}

// TotalStats are the statistics of every tenant together, for the
// Prometheus metrics (no per-tenant labels).
type TotalStats struct {
	Pending       int64
	OldestPending time.Time // zero when nothing is pending
}

// StatsTotaler is implemented by stores that can sum their statistics over
// every tenant cheaply (a bounded number of reads, however large the
// backlog).
type StatsTotaler interface {
	TotalStats(ctx context.Context, now, notBefore time.Time) (TotalStats, error)
}

// StatsResult is Stats as the API answers it: every minute present, the
// age of the oldest pending event worked out.
type StatsResult struct {
	Stats
	// OldestPendingAge is how long the oldest pending event has waited, in
	// whole seconds; 0 when none waits.
	OldestPendingAge int64
}

// Stats returns tenant's inbox statistics for the filters of req.
func (s *Service) Stats(ctx context.Context, tenant string, req StatsRequest) (StatsResult, error) {
	now := s.Now()
	since := now.Truncate(time.Minute).Add(-(StatsMinutes - 1) * time.Minute)
	st, err := s.store.Stats(ctx, StatsQuery{Tenant: tenant, Source: req.Source, EventType: req.EventType,
		Now: now, NotBefore: s.notBefore(now), Since: since, TopSources: StatsTopSources})
	if err != nil {
		return StatsResult{}, fmt.Errorf("stats of %s: %w", tenant, err)
	}
	st.PerMinute = everyMinute(st.PerMinute, since)
	if len(st.BySource) > StatsTopSources {
		st.BySource = st.BySource[:StatsTopSources]
	}
	out := StatsResult{Stats: st}
	if !st.OldestPending.IsZero() && now.After(st.OldestPending) {
		out.OldestPendingAge = int64(now.Sub(st.OldestPending) / time.Second)
	}
	return out, nil
}

// everyMinute returns StatsMinutes minutes from since, oldest first, with
// the counts of the minutes in got (summed, should a store return a minute
// twice) and zeros for the others.
func everyMinute(got []MinuteStats, since time.Time) []MinuteStats {
	out := make([]MinuteStats, StatsMinutes)
	for i := range out {
		out[i].Minute = since.Add(time.Duration(i) * time.Minute)
	}
	for _, m := range got {
		i := int(m.Minute.UTC().Truncate(time.Minute).Sub(since) / time.Minute)
		if i < 0 || i >= StatsMinutes {
			continue
		}
		out[i].Created += m.Created
		out[i].Acknowledged += m.Acknowledged
	}
	return out
}

// SortSourceCounts orders counts as Stats.BySource is ordered (most pending
// first, then by name), drops the sources with none and keeps the first
// top: a helper for stores.
func SortSourceCounts(counts []SourceCount, top int) []SourceCount {
	counts = slices.DeleteFunc(counts, func(c SourceCount) bool { return c.Pending <= 0 })
	slices.SortFunc(counts, func(a, b SourceCount) int {
		if a.Pending != b.Pending {
			if a.Pending > b.Pending {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Source, b.Source)
	})
	if len(counts) > top {
		counts = counts[:top]
	}
	return counts
}
