package dynamodb_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/storetest"
)

// The tests of Options.InboxSettle: a page with a next position is answered
// only from a read that started once its last event had settled, the reader
// waiting for that (at most the window) rather than answering short.

// mustOpenSettled opens a store on stage through client with opts.
func mustOpenSettled(t *testing.T, client *awsdynamodb.Client, stage string, opts dynamodb.Options) *dynamodb.Store {
	t.Helper()
	s, err := dynamodb.Open(context.Background(), client, stage, &opts)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eventAt returns a pending event of tenant "a" from source created at at.
func eventAt(at time.Time, source string) triggers.Event {
	e := newEvent(at)
	e.Source = source
	return e
}

// TestListPending_InboxSettle has a second instance write an event whose
// created_at is behind the position a page would end at (as a slow write or
// the index's replication lag can), while the reader waits for that page to
// settle: with InboxSettle the page, read again after the wait, holds it and
// the pass finds it; without, the cursor is handed out at once and the pass
// misses it. Either way no page with a next position is empty.
func TestListPending_InboxSettle(t *testing.T) {
	client := teststore.MustClient(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	for _, tt := range []struct {
		name       string
		settle     time.Duration
		wantLate   bool
		wantSleeps []time.Duration
	}{
		{"WithSettleTheLateEventIsFound", time.Second, true, []time.Duration{500 * time.Millisecond}},
		{"WithoutSettleTheLateEventIsMissed", 0, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stage := teststore.MustStage(t, client, "test")
			clock := teststore.NewClock(t0)
			lateWriter := mustOpenSettled(t, client, stage, dynamodb.Options{Now: clock.Now})
			var late triggers.Event
			writeLate := sync.OnceFunc(func() {
				// Created 0.8 s before t0, visible only now.
				late = storetest.MustInsert(t, lateWriter, eventAt(t0.Add(-800*time.Millisecond), "s"))[0]
			})
			reader := mustOpenSettled(t, client, stage, dynamodb.Options{InboxSettle: tt.settle, Now: clock.Now,
				Sleep: func(ctx context.Context, d time.Duration) error {
					writeLate() // the late write lands while the reader waits
					return clock.Sleep(ctx, d)
				}})
			evs := storetest.MustInsert(t, reader, eventAt(t0.Add(-5*time.Second), "s"),
				eventAt(t0.Add(-500*time.Millisecond), "s"), eventAt(t0.Add(-200*time.Millisecond), "s"))
			q := triggers.InboxQuery{Tenant: "a", Limit: 1, NotBefore: t0.Add(-time.Hour)}
			seen := map[string]int{}
			for pages := 1; ; pages++ {
				if pages > 10 {
					t.Fatalf("pass not finished after %d pages", pages-1)
				}
				p, err := reader.ListPending(ctx, q)
				if err != nil {
					t.Fatalf("ListPending() = %v", err)
				}
				if p.Next != nil && len(p.Events) == 0 {
					t.Fatalf("page %d is empty with a next position %+v", pages, *p.Next)
				}
				for _, e := range p.Events {
					seen[e.ID]++
				}
				if pages == 2 {
					writeLate() // without a settle time: after the second page's cursor passed it
				}
				if q.After = p.Next; q.After == nil {
					break
				}
			}
			for _, e := range evs {
				if seen[e.ID] != 1 {
					t.Errorf("event created at %v seen %d times, want 1", e.CreatedAt, seen[e.ID])
				}
			}
			if got := seen[late.ID] == 1; got != tt.wantLate {
				t.Errorf("late event created at %v seen %d times; want found %v", late.CreatedAt, seen[late.ID], tt.wantLate)
			}
			if got := clock.Sleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("waits %v, want %v", got, tt.wantSleeps)
			}
		})
	}
}

// TestListPending_SettleWait checks, on a fake clock, when ListPending waits
// for the settle window, for how long, and what it answers: a page whose
// last event is younger than the window is read again once that event has
// settled (never waiting longer than the window in all); where waiting
// cannot help the page is cut at the window instead. In every case the next
// position has settled when the page is answered.
func TestListPending_SettleWait(t *testing.T) {
	const settle = time.Second
	const ms = time.Millisecond
	client := teststore.MustClient(t)
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	for _, tt := range []struct {
		name    string
		ages    []time.Duration // of the events, oldest first; negative: stamped ahead of the reader's clock
		sources []string        // of the events; default all "s"
		filter  triggers.InboxFilter
		limit   int
		maxScan int
		// ackDuringWait are the indexes of the events acknowledged while
		// the reader waits for the first time.
		ackDuringWait []int
		ctxTimeout    time.Duration // 0: none

		want       []int // indexes of the events on the page
		wantNext   bool
		wantSleeps []time.Duration
		wantReads  int // Query calls
	}{
		{name: "SettledPageIsAnsweredAtOnce", ages: []time.Duration{5000 * ms, 4000 * ms, 3000 * ms}, limit: 2,
			want: []int{0, 1}, wantNext: true, wantReads: 1},
		{name: "YoungPageWaitsUntilItsLastEventSettles", ages: []time.Duration{900 * ms, 600 * ms, 300 * ms}, limit: 2,
			want: []int{0, 1}, wantNext: true, wantSleeps: []time.Duration{400 * ms}, wantReads: 2},
		{name: "LastPageIsAnsweredAtOnceWhole", ages: []time.Duration{600 * ms, 300 * ms}, limit: 5,
			want: []int{0, 1}, wantReads: 1},
		{name: "AckDuringTheWaitWaitsForTheNewLastEvent", ages: []time.Duration{900 * ms, 600 * ms, 300 * ms, 100 * ms}, limit: 2,
			ackDuringWait: []int{1},
			want:          []int{0, 2}, wantNext: true, wantSleeps: []time.Duration{400 * ms, 300 * ms}, wantReads: 3},
		{name: "ScanBoundPositionWaitsToo", ages: []time.Duration{900 * ms, 600 * ms, 300 * ms}, sources: []string{"x", "x", "s"},
			filter: triggers.InboxFilter{Source: "s"}, limit: 1, maxScan: 2,
			want: []int{}, wantNext: true, wantSleeps: []time.Duration{400 * ms}, wantReads: 2},
		{name: "EventStampedAheadIsLeftForTheNextPage", ages: []time.Duration{2000 * ms, -2000 * ms, -2000 * ms}, limit: 2,
			want: []int{0}, wantNext: true, wantReads: 1},
		{name: "NoWaitWhenTheContextEndsFirst", ages: []time.Duration{1500 * ms, 600 * ms, 300 * ms}, limit: 2,
			ctxTimeout: 3 * time.Second, // less than the wait plus the store's 5 s timeout for the read after it
			want:       []int{0}, wantNext: true, wantReads: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			counted, calls := countCalls(client)
			clock := teststore.NewClock(t0)
			var s *dynamodb.Store
			var evs []triggers.Event
			waited := false
			s = mustOpenSettled(t, counted, teststore.MustStage(t, client, "test"), dynamodb.Options{
				InboxSettle: settle, Now: clock.Now,
				Sleep: func(ctx context.Context, d time.Duration) error {
					if !waited {
						waited = true
						for _, i := range tt.ackDuringWait {
							if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: evs[i].ID}, clock.Now(), t0.Add(-time.Hour)); err != nil {
								t.Errorf("AckEvent(%d) = %v", i, err)
							}
						}
					}
					return clock.Sleep(ctx, d)
				}})
			for i, age := range tt.ages {
				source := "s"
				if tt.sources != nil {
					source = tt.sources[i]
				}
				evs = append(evs, eventAt(t0.Add(-age), source))
			}
			evs = storetest.MustInsert(t, s, evs...)
			calls()

			p, err := s.ListPending(ctx, triggers.InboxQuery{Tenant: "a", Filter: tt.filter, NotBefore: t0.Add(-time.Hour),
				Limit: tt.limit, MaxScan: tt.maxScan})
			if err != nil {
				t.Fatalf("ListPending() = %v", err)
			}
			var got, want []string
			for _, e := range p.Events {
				got = append(got, e.ID)
			}
			for _, i := range tt.want {
				want = append(want, evs[i].ID)
			}
			if !slices.Equal(got, want) || (p.Next != nil) != tt.wantNext {
				t.Errorf("ListPending() = %v, next %v; want %v (events %v), next %v", got, p.Next, want, tt.want, tt.wantNext)
			}
			sleeps := clock.Sleeps()
			if !slices.Equal(sleeps, tt.wantSleeps) {
				t.Errorf("waits %v, want %v", sleeps, tt.wantSleeps)
			}
			var waitedFor time.Duration
			for _, d := range sleeps {
				waitedFor += d
			}
			if waitedFor > settle {
				t.Errorf("waited %v in all, want at most the settle window %v", waitedFor, settle)
			}
			if n := calls()["Query"]; n != tt.wantReads {
				t.Errorf("%d Query calls, want %d", n, tt.wantReads)
			}
			if bound := clock.Now().Add(-settle); p.Next != nil && p.Next.CreatedAt.After(bound) {
				t.Errorf("next position %v is after now - settle %v", p.Next.CreatedAt, bound)
			}
		})
	}
}

// TestListPending_RealSettle pages through an inbox on dynalite with the
// servers' real settle window (DefaultInboxSettle) and the real clock, as
// a client does: fresh events fill the first page instead of leaving it
// empty, and a client paging with a small limit while another instance
// creates events reaches the end within a bounded number of pages. Every
// page with a next position is full, none takes longer than the window and
// a read, and every event is returned exactly once.
func TestListPending_RealSettle(t *testing.T) {
	const settle = dynamodb.DefaultInboxSettle
	const writeEvery = 50 * time.Millisecond
	client := teststore.MustClient(t)
	for _, tt := range []struct {
		name     string
		existing int // events created just before the first page
		written  int // events another instance creates while the client pages, one every writeEvery
		limit    int
		maxPages int
	}{
		// Before: a first page of 0 events with a next_cursor.
		{"FreshEventsFillTheFirstPage", 120, 0, 50, 3},
		// Before: more than 12 pages, most of them empty. 50 events make
		// 10 pages of 5; 12 leave room for scheduling.
		{"PagingWhileWritingFinishes", 30, 20, 5, 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			stage := teststore.MustStage(t, client, "test")
			reader := mustOpenSettled(t, client, stage, dynamodb.Options{InboxSettle: settle})
			writer := mustOpenSettled(t, client, stage, dynamodb.Options{InboxSettle: settle})

			var mu sync.Mutex
			written := map[string]time.Time{} // event id → when its create returned
			record := func(evs []triggers.Event) {
				mu.Lock()
				defer mu.Unlock()
				for _, e := range evs {
					written[e.ID] = time.Now()
				}
			}
			existing := make([]triggers.Event, tt.existing)
			for i := range existing {
				existing[i] = newEvent(time.Now())
			}
			record(storetest.MustInsert(t, reader, existing...))
			var wg sync.WaitGroup
			wg.Go(func() {
				for range tt.written {
					res, err := writer.InsertEvents(ctx, []triggers.Insert{{Event: newEvent(time.Now())}})
					if err != nil || res[0].Err != nil {
						t.Errorf("InsertEvents() = %+v, %v", res, err)
						return
					}
					record([]triggers.Event{res[0].Event})
					time.Sleep(writeEvery)
				}
			})

			start := time.Now()
			q := triggers.InboxQuery{Tenant: "a", NotBefore: start.Add(-time.Hour), Limit: tt.limit}
			seen := map[string]int{}
			var lastPage time.Time
			pages := 0
			for q.After != nil || pages == 0 {
				if pages++; pages > tt.maxPages {
					t.Fatalf("not at the end after %d pages (%v); want at most %d", pages-1, time.Since(start), tt.maxPages)
				}
				lastPage = time.Now()
				p, err := reader.ListPending(ctx, q)
				if err != nil {
					t.Fatalf("ListPending() = %v", err)
				}
				answered := time.Now()
				if took := answered.Sub(lastPage); took > settle+2*time.Second {
					t.Errorf("page %d took %v, want at most the settle window and a read", pages, took)
				}
				if p.Next != nil && len(p.Events) != tt.limit {
					t.Errorf("page %d holds %d events and a next position, want %d", pages, len(p.Events), tt.limit)
				}
				if p.Next != nil && p.Next.CreatedAt.After(answered.Add(-settle)) {
					t.Errorf("page %d: next position %v is within the settle window of its answer at %v", pages, p.Next.CreatedAt, answered)
				}
				for _, e := range p.Events {
					seen[e.ID]++
				}
				q.After = p.Next
			}
			wg.Wait()
			t.Logf("%d events, %d pages in %v", len(written), pages, time.Since(start))
			if tt.written > 0 && len(seen) <= tt.existing {
				t.Errorf("the pass ended without any of the events written while paging (%d seen)", len(seen))
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("event %s returned %d times, want once", id, n)
				}
			}
			for id, at := range written {
				// An event created before the last page was asked for is on it
				// or before it.
				if at.Before(lastPage) && seen[id] != 1 {
					t.Errorf("event %s, created before the last page, returned %d times, want once", id, seen[id])
				}
			}
		})
	}
}
