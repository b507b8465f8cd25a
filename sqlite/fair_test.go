package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
)

// hugeBulk is a bulk create that holds the single writer long: 25 items
// (triggers.BulkLimit) of one kind.
type hugeBulk struct {
	name     string
	payload  json.RawMessage
	metadata json.RawMessage
}

// hugeBulks are the two ways a request can be large: the bytes of its
// payloads (25 × the largest event, 10 MB), or the metadata index rows of
// its items (25 × 2,000 filterable fields, inserted at the store level,
// below any limit Service applies).
var hugeBulks = []hugeBulk{
	{"Payload", json.RawMessage(`{"data":"` + strings.Repeat("x", triggers.MaxEventBytes-100) + `"}`),
		json.RawMessage(`{"priority":"normal"}`)},
	{"Metadata", json.RawMessage(`{"n":1}`), manyFields(2_000)},
}

// manyFields is a metadata object with n filterable string fields.
func manyFields(n int) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"priority":"normal"`)
	for i := range n {
		fmt.Fprintf(&b, `,"field_%d":"value-%d"`, i, i)
	}
	b.WriteString(`}`)
	return json.RawMessage(b.String())
}

func (h hugeBulk) inserts(now time.Time) []triggers.Insert {
	ins := make([]triggers.Insert, triggers.BulkLimit)
	for i := range ins {
		ins[i] = triggers.Insert{Event: triggers.Event{ID: triggers.NewEventID(now), Tenant: "big", Source: "s", EventType: "t",
			Payload: h.payload, Metadata: h.metadata, Priority: triggers.PriorityNormal, CreatedAt: now}}
	}
	return ins
}

// smallInsert is another tenant's plain single create.
func smallInsert(now time.Time) []triggers.Insert {
	return []triggers.Insert{{Event: triggers.Event{ID: triggers.NewEventID(now), Tenant: "small", Source: "s", EventType: "t",
		Payload: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"priority":"normal"}`), Priority: triggers.PriorityNormal,
		CreatedAt: now}}}
}

// behindBulk runs one huge bulk create and, while it is in flight, one
// small create of another tenant after the other. It returns the bulk's
// time and the latency of every small create started before the bulk
// returned.
func behindBulk(tb testing.TB, db *sqlite.DB, h hugeBulk) (time.Duration, []time.Duration) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	bulk := h.inserts(now)
	type outcome struct {
		took time.Duration
		err  error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := db.InsertEvents(ctx, bulk)
		for i, r := range res {
			if err == nil && r.Err != nil {
				err = fmt.Errorf("item %d: %w", i, r.Err)
			}
		}
		done <- outcome{time.Since(start), err}
	}()
	var small []time.Duration
	for {
		t0 := time.Now()
		res, err := db.InsertEvents(ctx, smallInsert(now))
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			tb.Fatalf("small InsertEvents() = %v", err)
		}
		small = append(small, time.Since(t0))
		select {
		case o := <-done:
			if o.err != nil {
				tb.Fatalf("bulk InsertEvents() = %v", o.err)
			}
			return o.took, small
		default:
		}
	}
}

// TestWriter_SmallCreateNotStalledByHugeBulk is issue 14, item 1: a bulk
// create of 25 huge items held the single writer for its whole work, and
// another tenant's plain create waited all that time. The writer now
// commits such a bulk in several group commits and gives the other
// tenant's writes their turn in between, so a small create queued behind
// it waits about one commit, not the bulk: every small create started
// while the bulk runs must take less than half the bulk's own time (before
// the fix, the one queued behind the bulk took nearly all of it). The
// machine is shared, so a case gets three tries; the old writer fails all
// three by construction.
func TestWriter_SmallCreateNotStalledByHugeBulk(t *testing.T) {
	for _, h := range hugeBulks {
		t.Run(h.name, func(t *testing.T) {
			db := MustOpen(t)
			var tries []string
			for range 3 {
				bulk, small := behindBulk(t, db, h)
				worst := slices.Max(small)
				t.Logf("bulk %v, %d small creates, slowest %v", bulk, len(small), worst)
				if worst < bulk/2 {
					return
				}
				tries = append(tries, fmt.Sprintf("bulk %v, %d small creates, slowest %v", bulk, len(small), worst))
			}
			t.Fatalf("a small create behind the bulk took at least half the bulk's time:\n%s", strings.Join(tries, "\n"))
		})
	}
}

// BenchmarkSmallCreateBehindHugeBulk measures another tenant's plain
// creates while a maximal bulk create runs (see hugeBulks): each iteration
// runs one bulk and, until it returns, one small create after another. It
// reports the small creates' latency (p50 and max over every iteration) and
// the bulk's mean time.
func BenchmarkSmallCreateBehindHugeBulk(b *testing.B) {
	for _, h := range hugeBulks {
		b.Run(h.name, func(b *testing.B) {
			db, err := sqlite.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			var all []time.Duration
			var bulks time.Duration
			b.ResetTimer()
			for range b.N {
				took, small := behindBulk(b, db, h)
				bulks += took
				all = append(all, small...)
			}
			slices.Sort(all)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(all[len(all)/2]), "small-p50-ms")
			b.ReportMetric(ms(all[len(all)-1]), "small-max-ms")
			b.ReportMetric(ms(bulks/time.Duration(b.N)), "bulk-ms")
		})
	}
}
