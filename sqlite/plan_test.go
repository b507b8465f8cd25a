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
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
			rows, err := db.read.Query("EXPLAIN QUERY PLAN "+plan.sql, plan.args...)
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
			got := strings.Join(steps, "; ")
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
