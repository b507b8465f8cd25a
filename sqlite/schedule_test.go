package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestSchedule_TakesTurns plays steps on the writer's schedule: jobs pushed
// (tenant, name, ops) and ops popped, each named job/op. A lane that joins
// goes before the lanes already waiting, the waiting lanes take turns in a
// ring, one op each, the jobs of one lane take turns the same way, and a
// job's ops come out in order. ringOnly passes over the lanes that joined.
func TestSchedule_TakesTurns(t *testing.T) {
	type push struct {
		tenant, name string
		ops          int
	}
	type step struct {
		push     []push
		ringOnly bool
		pop      []string // "" when nothing is waiting
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"one job runs in order", []step{
			{push: []push{{"a", "bulk", 3}}, pop: []string{"bulk/0", "bulk/1", "bulk/2", ""}},
		}},
		{"a small write joins ahead of a bulk already waiting", []step{
			{push: []push{{"big", "bulk", 4}}, pop: []string{"bulk/0"}},
			{push: []push{{"small", "create", 1}}, pop: []string{"create/0", "bulk/1", "bulk/2", "bulk/3", ""}},
		}},
		{"waiting lanes take turns", []step{
			{push: []push{{"a", "A", 3}, {"b", "B", 2}}, pop: []string{"A/0", "B/0", "A/1", "B/1", "A/2", ""}},
		}},
		{"jobs of one lane take turns", []step{
			{push: []push{{"a", "bulk", 3}, {"a", "create", 1}, {"b", "B", 1}},
				pop: []string{"bulk/0", "B/0", "create/0", "bulk/1", "bulk/2", ""}},
		}},
		{"a lane that empties joins again as new", []step{
			{push: []push{{"a", "A", 3}, {"b", "B1", 1}}, pop: []string{"A/0", "B1/0", "A/1"}},
			{push: []push{{"b", "B2", 1}}, pop: []string{"B2/0", "A/2", ""}},
		}},
		{"ringOnly passes over new lanes", []step{
			{push: []push{{"a", "A", 2}}, pop: []string{"A/0"}},
			{push: []push{{"b", "B", 1}}, ringOnly: true, pop: []string{"A/1", ""}},
			{pop: []string{"B/0", ""}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &schedule{lanes: map[string]*lane{}}
			names := map[*writeOp]string{}
			for i, st := range c.steps {
				for _, p := range st.push {
					j := &writeJob{ctx: context.Background(), tenant: p.tenant, ops: make([]writeOp, p.ops), done: make(chan struct{})}
					for k := range j.ops {
						j.ops[k].job = j
						names[&j.ops[k]] = fmt.Sprintf("%s/%d", p.name, k)
					}
					s.push(j)
				}
				var got []string
				for range st.pop {
					op, _ := s.pop(st.ringOnly)
					got = append(got, names[op]) // "" for nil
				}
				if !slices.Equal(got, st.pop) {
					t.Fatalf("step %d: popped %q, want %q", i, got, st.pop)
				}
			}
		})
	}
}
