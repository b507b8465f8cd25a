package sqlite

import (
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// TestPlanInbox_UsesIndexRange checks with EXPLAIN QUERY PLAN that every
// inbox query is an index range in inbox order: a SEARCH on the chosen
// partial index, with no separate sort step.
func TestPlanInbox_UsesIndexRange(t *testing.T) {
	db := openTemp(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	after := &triggers.Position{CreatedAt: now.Add(-time.Minute), ID: "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"}
	cases := []struct {
		name  string
		q     triggers.InboxQuery
		index string
	}{
		{"all", triggers.InboxQuery{}, "events_inbox"},
		{"all after cursor", triggers.InboxQuery{After: after}, "events_inbox"},
		{"source", triggers.InboxQuery{Filter: triggers.InboxFilter{Source: "s"}}, "events_inbox_source"},
		{"event type after cursor", triggers.InboxQuery{Filter: triggers.InboxFilter{EventType: "t"}, After: after}, "events_inbox_type"},
		{"source and type", triggers.InboxQuery{Filter: triggers.InboxFilter{Source: "s", EventType: "t"}}, "events_inbox_source"},
		{"date range", triggers.InboxQuery{Filter: triggers.InboxFilter{CreatedAfter: now.Add(-time.Hour), CreatedBefore: now}}, "events_inbox"},
		{"priority high", triggers.InboxQuery{Filter: triggers.InboxFilter{Priority: triggers.PriorityHigh}}, "events_inbox_priority"},
		{"priority low after cursor", triggers.InboxQuery{Filter: triggers.InboxFilter{Priority: triggers.PriorityLow}, After: after}, "events_inbox_priority"},
		{"priority normal", triggers.InboxQuery{Filter: triggers.InboxFilter{Priority: triggers.PriorityNormal}}, "events_inbox"},
		{"source and priority", triggers.InboxQuery{Filter: triggers.InboxFilter{Source: "s", Priority: triggers.PriorityHigh}}, "events_inbox_source"},
		{"type and priority", triggers.InboxQuery{Filter: triggers.InboxFilter{EventType: "t", Priority: triggers.PriorityLow}}, "events_inbox_type"},
		{"metadata", triggers.InboxQuery{Filter: triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "user_id", Value: "u1"}}}}, "metadata"},
		{"metadata after cursor", triggers.InboxQuery{Filter: triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "user_id", Value: "u1"}}}, After: after}, "metadata"},
		{"metadata and the rest", triggers.InboxQuery{Filter: triggers.InboxFilter{Source: "s", EventType: "t", Priority: triggers.PriorityHigh,
			CreatedAfter: now.Add(-time.Hour), CreatedBefore: now, Metadata: []triggers.MetadataMatch{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}}, "metadata"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Tenant, c.q.Limit, c.q.MaxScan, c.q.NotBefore = "a", 50, 1000, now.Add(-24*time.Hour)
			plan := planInbox(c.q)
			got := queryPlan(t, db, plan.sql, plan.args...)
			t.Logf("%s: %s", c.name, got)
			want := "SEARCH events USING INDEX " + c.index + " ("
			if plan.bounded {
				// Conditions the index does not serve are checked on the
				// index's own columns: no visit to the events table.
				want = "SEARCH events USING COVERING INDEX " + c.index + " ("
			}
			if c.index == "metadata" {
				// The metadata index drives; without other conditions each
				// event is read by id in the same query.
				want = "SEARCH m USING PRIMARY KEY (tenant=? AND key=? AND value=? AND "
				if byID := strings.Contains(got, "SEARCH e USING INDEX events_by_id (tenant=? AND id=?)"); byID == plan.bounded {
					t.Fatalf("plan = %q: events read by id %v, want %v", got, byID, !plan.bounded)
				}
				if strings.Contains(got, "SCAN") {
					t.Fatalf("plan = %q scans", got)
				}
			}
			if !strings.Contains(got, want) || !strings.Contains(got, "created_at>") && !strings.Contains(got, "(created_at,id)>") {
				t.Fatalf("plan = %q, want a created_at range %s...", got, want)
			}
			if strings.Contains(got, "TEMP B-TREE") {
				t.Fatalf("plan = %q sorts; want inbox order from the index", got)
			}
		})
	}
}

// queryPlan returns the steps of EXPLAIN QUERY PLAN for a query, joined.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.read.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(steps, "; ")
}

// TestPlanReceive_UsesIndexRange checks with EXPLAIN QUERY PLAN the walks
// of a receive. Without filters (a created_at range and priority=normal
// aside): events_idle as a range in inbox order without a sort, and the
// range of events_held up to now, both answered from the index alone, so
// that leased events are never visited. With filters: the index the inbox
// would choose, as a range in inbox order without a sort. Every walk is a
// co-routine (read only as far as the receive reads it).
func TestPlanReceive_UsesIndexRange(t *testing.T) {
	db := openTemp(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	idle := "SEARCH events USING COVERING INDEX events_idle (tenant=? AND created_at>?)"
	held := "SEARCH events USING COVERING INDEX events_held (tenant=? AND <expr><?)"
	cases := []struct {
		name   string
		filter triggers.InboxFilter
		want   []string // one per walk
	}{
		{"all", triggers.InboxFilter{}, []string{idle, held}},
		{"date range", triggers.InboxFilter{CreatedAfter: now.Add(-time.Hour), CreatedBefore: now},
			[]string{"SEARCH events USING COVERING INDEX events_idle (tenant=? AND created_at>? AND created_at<?)", held}},
		{"priority normal", triggers.InboxFilter{Priority: triggers.PriorityNormal}, []string{idle, held}},
		{"source", triggers.InboxFilter{Source: "s"}, []string{"SEARCH events USING INDEX events_inbox_source (tenant=? AND source=? AND created_at>?)"}},
		{"source and type", triggers.InboxFilter{Source: "s", EventType: "t"}, []string{"SEARCH events USING INDEX events_inbox_source (tenant=? AND source=? AND created_at>?)"}},
		{"event type", triggers.InboxFilter{EventType: "t"}, []string{"SEARCH events USING INDEX events_inbox_type (tenant=? AND event_type=? AND created_at>?)"}},
		{"priority high", triggers.InboxFilter{Priority: triggers.PriorityHigh}, []string{"SEARCH events USING INDEX events_inbox_priority (tenant=? AND priority=? AND created_at>?)"}},
		{"metadata", triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: "k", Value: "v"}}},
			[]string{"SEARCH m USING PRIMARY KEY (tenant=? AND key=? AND value=? AND created_at>?); SEARCH e USING INDEX events_by_id (tenant=? AND id=?)"}},
		{"metadata and the rest", triggers.InboxFilter{Source: "s", Priority: triggers.PriorityLow, CreatedBefore: now,
			Metadata: []triggers.MetadataMatch{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}},
			[]string{"SEARCH m USING PRIMARY KEY (tenant=? AND key=? AND value=? AND created_at>? AND created_at<?); SEARCH e USING INDEX events_by_id (tenant=? AND id=?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := triggers.ReceiveQuery{Tenant: "a", Filter: c.filter, NotBefore: now.Add(-24 * time.Hour), Now: now,
				Max: 25, MaxScan: 1000, MaxAttempts: 10}
			walks := planReceive(q)
			if len(walks) != len(c.want) {
				t.Fatalf("%d walks, want %d", len(walks), len(c.want))
			}
			for i, w := range walks {
				got := queryPlan(t, db, w.sql, w.args...)
				t.Logf("%s, walk %d: %s", c.name, i, got)
				if !strings.Contains(got, "CO-ROUTINE") || !strings.Contains(got, c.want[i]) {
					t.Errorf("walk %d: plan = %q, want a co-routine and %q", i, got, c.want[i])
				}
				if strings.Contains(got, "SCAN events") || strings.Contains(got, "SCAN m") {
					t.Errorf("walk %d: plan = %q scans a table", i, got)
				}
				// The held walk sorts what it found (the leases expired and
				// delays over since the last receives); every other walk
				// reads in inbox order.
				if sorts := strings.Contains(got, "TEMP B-TREE"); sorts != (c.want[i] == held) {
					t.Errorf("walk %d: plan = %q: sorts %v, want %v", i, got, sorts, !sorts)
				}
			}
		})
	}
	if idle, held := receiveWalkSQL(triggers.ReceiveQuery{Tenant: "a", Max: 10}); idle != qReceiveIdle || held != qReceiveHeld {
		t.Errorf("the walks of an unfiltered receive are not the prepared ones")
	}
}

// planCase is a query, its arguments and the plan it must have.
type planCase struct {
	name, query string
	args        []any
	want        string
}

// checkPlans checks each case's plan on a new store.
func checkPlans(t *testing.T, cases []planCase) {
	t.Helper()
	db := openTemp(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := queryPlan(t, db, c.query, c.args...); got != c.want {
				t.Errorf("plan = %q, want %q", got, c.want)
			}
		})
	}
}

// TestPlanLeases_UseTheirIndexes checks the plans of the other lease
// queries: the next availability is one entry of events_held, and
// the dead list is a range of events_dead in inbox order.
func TestPlanLeases_UseTheirIndexes(t *testing.T) {
	checkPlans(t, []planCase{
		{"next available", qNextAvailable, []any{"a", 1}, "SEARCH events USING COVERING INDEX events_held (tenant=? AND <expr>>?)"},
		{"dead list", `SELECT ` + eventColumns + ` FROM events INDEXED BY events_dead WHERE tenant = ? AND dead_at IS NOT NULL
			AND created_at > ? ORDER BY created_at, id LIMIT ?`, []any{"a", 1, 10}, "SEARCH events USING INDEX events_dead (tenant=? AND created_at>?)"},
	})
}

// TestPlanWebhooks_UseTheirIndexes checks the plans of the delivery
// queries: a claim is a range of deliveries_due answered from the index
// alone (leased deliveries skipped without visiting the table), earliest
// due first without a sort; a subscription's deliveries are a range of
// deliveries_by_key or deliveries_by_status in event order; a replay is a
// range of the tenant's events by created_at.
func TestPlanWebhooks_UseTheirIndexes(t *testing.T) {
	checkPlans(t, []planCase{
		{"claim", qClaimWalk, []any{1, 1, 10}, "SEARCH deliveries USING COVERING INDEX deliveries_due (next_attempt_at<?)"},
		{"list", `SELECT ` + deliveryColumns + ` FROM deliveries INDEXED BY deliveries_by_key WHERE tenant = ? AND subscription_id = ?
			AND event_id > ? ORDER BY event_id LIMIT ?`, []any{"a", "s", "e", 10},
			"SEARCH deliveries USING INDEX deliveries_by_key (tenant=? AND subscription_id=? AND event_id>?)"},
		{"list by status", `SELECT ` + deliveryColumns + ` FROM deliveries INDEXED BY deliveries_by_status WHERE tenant = ?
			AND subscription_id = ? AND status = ? AND event_id > ? ORDER BY event_id LIMIT ?`, []any{"a", "s", "pending", "e", 10},
			"SEARCH deliveries USING INDEX deliveries_by_status (tenant=? AND subscription_id=? AND status=? AND event_id>?)"},
		{"replay", `SELECT id, created_at, source, event_type, priority, metadata FROM events INDEXED BY events_by_tenant_age
			WHERE tenant = ? AND created_at > ? AND created_at < ? ORDER BY created_at LIMIT ?`, []any{"a", 1, 2, 10},
			"SEARCH events USING INDEX events_by_tenant_age (tenant=? AND created_at>? AND created_at<?)"},
	})
}
