package triggers_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/mockstore"
	"github.com/triggersapi/triggers/internal/teststore"
)

// tNanos is an instant off UTC with a nanosecond part: the Service's cut-offs
// are its clock in UTC to the microsecond.
var tNanos = time.Date(2026, 5, 4, 10, 30, 0, 123456789, time.FixedZone("CEST", 2*60*60))

// tUTC is what the Service makes of tNanos.
var tUTC = tNanos.UTC().Truncate(time.Microsecond)

// defaultMaxInboxScan is Options.MaxInboxScan's documented default.
const defaultMaxInboxScan = 5000

// TestService_Inbox checks what Service.Inbox asks the store for and how it
// turns the store's page into the API's: NotBefore is now minus the
// retention, Limit and MaxScan are passed, a cursor's position becomes After,
// and the page's Next becomes a cursor carrying the filter's hash.
func TestService_Inbox(t *testing.T) {
	filter := triggers.InboxFilter{Source: "billing", Priority: triggers.PriorityHigh,
		Metadata: []triggers.MetadataMatch{{Key: "region", Value: "eu"}}}
	after := triggers.Position{CreatedAt: tUTC.Add(-time.Minute), ID: triggers.NewEventID(tUTC.Add(-time.Minute))}
	next := triggers.Position{CreatedAt: tUTC.Add(-time.Second), ID: triggers.NewEventID(tUTC.Add(-time.Second))}
	events := []triggers.Event{{ID: after.ID, Tenant: "acme"}, {ID: next.ID, Tenant: "acme"}}

	for _, tt := range []struct {
		name      string
		opts      triggers.Options
		req       triggers.InboxRequest
		page      triggers.Page
		wantQuery triggers.InboxQuery // Tenant is always "acme"
		wantNext  *triggers.Position  // the position NextCursor decodes to; nil for no cursor
	}{
		{
			name:      "FirstPageAsksFromRetentionWithLimitAndMaxScan",
			opts:      triggers.Options{Retention: 2 * time.Hour, MaxInboxScan: 77},
			req:       triggers.InboxRequest{Filter: filter, Limit: 10},
			page:      triggers.Page{Events: events},
			wantQuery: triggers.InboxQuery{Filter: filter, NotBefore: tUTC.Add(-2 * time.Hour), Limit: 10, MaxScan: 77},
		},
		{
			name:      "DefaultRetentionAndMaxScan",
			req:       triggers.InboxRequest{Limit: triggers.DefaultInboxLimit},
			wantQuery: triggers.InboxQuery{NotBefore: tUTC.Add(-triggers.DefaultRetention), Limit: triggers.DefaultInboxLimit, MaxScan: defaultMaxInboxScan},
		},
		{
			name: "CursorPositionBecomesAfter",
			opts: triggers.Options{Retention: time.Hour},
			req:  triggers.InboxRequest{Filter: filter, Limit: 2, Cursor: &triggers.Cursor{Position: after, FilterHash: filter.Hash()}},
			page: triggers.Page{Events: events},
			wantQuery: triggers.InboxQuery{Filter: filter, After: &after, NotBefore: tUTC.Add(-time.Hour),
				Limit: 2, MaxScan: defaultMaxInboxScan},
		},
		{
			name:      "NextBecomesCursorWithFilterHash",
			opts:      triggers.Options{Retention: time.Hour},
			req:       triggers.InboxRequest{Filter: filter, Limit: 2},
			page:      triggers.Page{Events: events, Next: &next},
			wantQuery: triggers.InboxQuery{Filter: filter, NotBefore: tUTC.Add(-time.Hour), Limit: 2, MaxScan: defaultMaxInboxScan},
			wantNext:  &next,
		},
		{
			name: "ShortPageWithNextStillHasCursor", // MaxScan reached: no events, but more may match
			opts: triggers.Options{Retention: time.Hour, MaxInboxScan: 3},
			req:  triggers.InboxRequest{Filter: filter, Limit: 2, Cursor: &triggers.Cursor{Position: after, FilterHash: filter.Hash()}},
			page: triggers.Page{Next: &next},
			wantQuery: triggers.InboxQuery{Filter: filter, After: &after, NotBefore: tUTC.Add(-time.Hour),
				Limit: 2, MaxScan: 3},
			wantNext: &next,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []triggers.InboxQuery
			store := &mockstore.Store{ListPendingFn: func(_ context.Context, q triggers.InboxQuery) (triggers.Page, error) {
				got = append(got, q)
				return tt.page, nil
			}}
			opts := tt.opts
			opts.Now = teststore.NewClock(tNanos).Now
			page, err := triggers.NewService(store, &opts).Inbox(t.Context(), "acme", tt.req)
			if err != nil {
				t.Fatalf("Inbox() error = %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("ListPending called %d times, want once", len(got))
			}
			want := tt.wantQuery
			want.Tenant = "acme"
			mustEqualQuery(t, got[0], want)

			if !reflect.DeepEqual(page.Events, tt.page.Events) {
				t.Errorf("Inbox().Events = %+v, want the store's %+v", page.Events, tt.page.Events)
			}
			if tt.wantNext == nil {
				if page.NextCursor != "" {
					t.Errorf("Inbox().NextCursor = %q, want none (the store's page has no Next)", page.NextCursor)
				}
				return
			}
			c, err := triggers.ParseCursor(page.NextCursor)
			if err != nil {
				t.Fatalf("ParseCursor(Inbox().NextCursor = %q) error = %v", page.NextCursor, err)
			}
			if !c.CreatedAt.Equal(tt.wantNext.CreatedAt) || c.ID != tt.wantNext.ID {
				t.Errorf("NextCursor's position = %v %s, want the store's Next %v %s", c.CreatedAt, c.ID, tt.wantNext.CreatedAt, tt.wantNext.ID)
			}
			if c.FilterHash != tt.req.Filter.Hash() {
				t.Errorf("NextCursor's filter hash = %q, want the request filter's %q", c.FilterHash, tt.req.Filter.Hash())
			}
		})
	}
}

// mustEqualQuery compares store queries field by field, times with Equal.
func mustEqualQuery(tb testing.TB, got, want triggers.InboxQuery) {
	tb.Helper()
	if got.Tenant != want.Tenant || !reflect.DeepEqual(got.Filter, want.Filter) || got.Limit != want.Limit || got.MaxScan != want.MaxScan {
		tb.Errorf("ListPending query = tenant %q filter %+v limit %d max scan %d; want tenant %q filter %+v limit %d max scan %d",
			got.Tenant, got.Filter, got.Limit, got.MaxScan, want.Tenant, want.Filter, want.Limit, want.MaxScan)
	}
	if !got.NotBefore.Equal(want.NotBefore) {
		tb.Errorf("ListPending NotBefore = %v, want %v (now - retention)", got.NotBefore, want.NotBefore)
	}
	switch {
	case got.After == nil && want.After == nil:
	case got.After == nil || want.After == nil:
		tb.Errorf("ListPending After = %v, want %v", got.After, want.After)
	case !got.After.CreatedAt.Equal(want.After.CreatedAt) || got.After.ID != want.After.ID:
		tb.Errorf("ListPending After = %+v, want the cursor's position %+v", *got.After, *want.After)
	}
}

// TestService_Inbox_ErrStore checks that a store failure is returned as it
// is, with no page.
func TestService_Inbox_ErrStore(t *testing.T) {
	failure := triggers.Errorf(triggers.EUNAVAILABLE, "the store is down")
	store := &mockstore.Store{ListPendingFn: func(context.Context, triggers.InboxQuery) (triggers.Page, error) {
		return triggers.Page{Events: []triggers.Event{{ID: "x"}}}, failure
	}}
	page, err := triggers.NewService(store, nil).Inbox(t.Context(), "acme", triggers.InboxRequest{Limit: 1})
	if !errors.Is(err, failure) {
		t.Fatalf("Inbox() error = %v, want the store's %v", err, failure)
	}
	if page.Events != nil || page.NextCursor != "" {
		t.Fatalf("Inbox() page = %+v with an error, want none", page)
	}
}

// TestService_PurgeExpired checks the two cut-offs Service.PurgeExpired
// gives the store: events at now minus the retention, idempotency records at
// now minus IdempotencyWindow, each on its own.
func TestService_PurgeExpired(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retention  time.Duration
		wantEvents time.Time
	}{
		{"RetentionShorterThanIdempotencyWindow", 3 * time.Hour, tUTC.Add(-3 * time.Hour)},
		{"RetentionLongerThanIdempotencyWindow", 30 * 24 * time.Hour, tUTC.Add(-30 * 24 * time.Hour)},
		{"DefaultRetention", 0, tUTC.Add(-triggers.DefaultRetention)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var events, idem time.Time
			store := &mockstore.Store{DeleteExpiredFn: func(_ context.Context, eventsBefore, idemBefore time.Time) (int, error) {
				calls++
				events, idem = eventsBefore, idemBefore
				return 7, nil
			}}
			svc := triggers.NewService(store, &triggers.Options{Now: teststore.NewClock(tNanos).Now, Retention: tt.retention})
			n, err := svc.PurgeExpired(t.Context())
			if err != nil || n != 7 {
				t.Fatalf("PurgeExpired() = %d, %v; want the store's 7, nil", n, err)
			}
			if calls != 1 {
				t.Fatalf("DeleteExpired called %d times, want once", calls)
			}
			if !events.Equal(tt.wantEvents) {
				t.Errorf("DeleteExpired eventsBefore = %v, want %v (now - retention)", events, tt.wantEvents)
			}
			if want := tUTC.Add(-triggers.IdempotencyWindow); !idem.Equal(want) {
				t.Errorf("DeleteExpired idemBefore = %v, want %v (now - IdempotencyWindow)", idem, want)
			}
		})
	}

	t.Run("ErrStore", func(t *testing.T) {
		failure := triggers.Errorf(triggers.EUNAVAILABLE, "the store is down")
		store := &mockstore.Store{DeleteExpiredFn: func(context.Context, time.Time, time.Time) (int, error) { return 0, failure }}
		if _, err := triggers.NewService(store, nil).PurgeExpired(t.Context()); !errors.Is(err, failure) {
			t.Fatalf("PurgeExpired() error = %v, want the store's %v", err, failure)
		}
	})
}

// TestService_Authenticate_ClockStepsBack checks the key cache against a
// clock that reads earlier than when a key was fetched (an NTP step): the
// entry is not trusted, and the store is asked again. The TTL itself is
// covered in service_test.go.
func TestService_Authenticate_ClockStepsBack(t *testing.T) {
	var fetches atomic.Int64
	key := triggers.APIKey{ID: "key_1", Hash: triggers.HashKey(testRawKey), Tenant: "acme", Active: true, CreatedAt: t0}
	store := &mockstore.Store{KeyByHashFn: func(_ context.Context, hash string) (triggers.APIKey, error) {
		fetches.Add(1)
		if hash != key.Hash {
			return triggers.APIKey{}, triggers.Errorf(triggers.ENOTFOUND, "no such key")
		}
		return key, nil
	}}
	clock := teststore.NewClock(t0.Add(time.Hour))
	svc := triggers.NewService(store, &triggers.Options{Now: clock.Now, KeyCacheTTL: testKeyTTL})
	for _, step := range []struct {
		name        string
		move        time.Duration
		wantFetches int64
	}{
		{"FirstUseFetches", 0, 1},
		{"WithinTTLIsCached", testKeyTTL / 2, 1},
		{"ClockBackBeforeFetchRefetches", -testKeyTTL, 2},
		{"WithinTTLOfRefetchIsCached", testKeyTTL / 2, 2},
	} {
		clock.Advance(step.move)
		if _, err := svc.Authenticate(t.Context(), testRawKey); err != nil {
			t.Fatalf("%s: Authenticate() error = %v", step.name, err)
		}
		if n := fetches.Load(); n != step.wantFetches {
			t.Fatalf("%s: KeyByHash calls = %d, want %d", step.name, n, step.wantFetches)
		}
	}
}
