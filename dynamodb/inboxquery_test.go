package dynamodb

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	triggers "github.com/triggersapi/triggers"
)

// TestInboxQuery_PlaceholdersOnly checks the inbox query's expressions:
// the date range is the key condition, every other filter is a filter
// expression, and no key or value of a filter appears in any expression
// text (so none can change its meaning), only in the placeholder maps.
func TestInboxQuery_PlaceholdersOnly(t *testing.T) {
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	hostile := []string{`a.b`, `x" OR #y`, `:v`, `#md`, `size(md)`, "ü"}
	tests := []struct {
		name       string
		filter     triggers.InboxFilter
		keyCond    string
		filterExpr string
	}{
		{"NoFilter", triggers.InboxFilter{}, "inbox_tenant = :t AND created_at_id >= :lo", ""},
		{"DateRangeIsKeyCondition", triggers.InboxFilter{CreatedAfter: now.Add(-time.Hour), CreatedBefore: now},
			"inbox_tenant = :t AND created_at_id BETWEEN :lo AND :hi", ""},
		{"SourceTypePriority", triggers.InboxFilter{Source: hostile[1], EventType: hostile[2], Priority: triggers.PriorityHigh},
			"inbox_tenant = :t AND created_at_id >= :lo", "#source = :source AND #event_type = :event_type AND #priority = :priority"},
		{"MetadataKeysAreNames", triggers.InboxFilter{Metadata: []triggers.MetadataMatch{{Key: hostile[0], Value: hostile[1]}, {Key: hostile[3], Value: hostile[4]}, {Key: "k", Value: hostile[5]}}},
			"inbox_tenant = :t AND created_at_id >= :lo", "#md.#m0 = :m0 AND #md.#m1 = :m1 AND #md.#m2 = :m2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := triggers.InboxQuery{Tenant: "a", Filter: tt.filter, Limit: 10, NotBefore: now.Add(-24 * time.Hour)}
			in, filtered, ok := inboxQuery("events", q)
			if !ok {
				t.Fatal("inboxQuery() reports an empty range")
			}
			if got := *in.KeyConditionExpression; got != tt.keyCond {
				t.Errorf("key condition = %q, want %q", got, tt.keyCond)
			}
			gotFilter := ""
			if in.FilterExpression != nil {
				gotFilter = *in.FilterExpression
			}
			if gotFilter != tt.filterExpr || filtered != (tt.filterExpr != "") {
				t.Errorf("filter = %q (filtered %v), want %q", gotFilter, filtered, tt.filterExpr)
			}
			for _, m := range tt.filter.Metadata {
				found := false
				for name, attr := range in.ExpressionAttributeNames {
					if attr == m.Key && strings.HasPrefix(name, "#m") {
						v := in.ExpressionAttributeValues[":"+name[1:]].(*types.AttributeValueMemberS).Value
						found = v == m.Value
					}
				}
				if !found {
					t.Errorf("metadata %q=%q is not a name/value placeholder pair: %v", m.Key, m.Value, in.ExpressionAttributeNames)
				}
			}
		})
	}
	t.Run("EmptyRange", func(t *testing.T) {
		q := triggers.InboxQuery{Tenant: "a", Limit: 10, NotBefore: now,
			Filter: triggers.InboxFilter{CreatedBefore: now.Add(-time.Hour)}}
		if _, _, ok := inboxQuery("events", q); ok {
			t.Error("inboxQuery(created_before before retention) ok = true, want an empty range")
		}
	})
}
