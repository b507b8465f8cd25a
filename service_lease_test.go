package triggers_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/mockstore"
)

// fakeTimers is the Service's timer (Options.After) under a test's control:
// each wait registers its duration, and the test fires them.
type fakeTimers struct {
	mu      sync.Mutex
	waits   []time.Duration
	fire    []chan time.Time
	created chan time.Duration
}

func newFakeTimers() *fakeTimers { return &fakeTimers{created: make(chan time.Duration, 100)} }

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	f.waits = append(f.waits, d)
	f.fire = append(f.fire, c)
	f.created <- d
	return c
}

// next waits for the receive to start its next wait and returns its duration.
func (f *fakeTimers) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.created:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("the receive did not start waiting")
		return 0
	}
}

// fireLast fires the most recent timer.
func (f *fakeTimers) fireLast() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fire[len(f.fire)-1] <- time.Time{}
}

// scriptedReceives is a ReceiveEvents that answers from a script, one
// answer per call, recording the queries.
type scriptedReceives struct {
	mu      sync.Mutex
	answers []triggers.Received
	queries []triggers.ReceiveQuery
}

func (s *scriptedReceives) receive(_ context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, q)
	if len(s.answers) == 0 {
		return triggers.Received{}, nil
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *scriptedReceives) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}

type pollingStore struct {
	*mockstore.Store
	interval time.Duration
}

func (p pollingStore) ReceivePollInterval() time.Duration { return p.interval }

// receiveResult is what a receive running in a goroutine answered.
type receiveResult struct {
	res triggers.ReceiveResult
	err error
}

func startReceive(ctx context.Context, svc *triggers.Service, req triggers.ReceiveRequest) chan receiveResult {
	done := make(chan receiveResult, 1)
	go func() {
		res, err := svc.Receive(ctx, "acme", req)
		done <- receiveResult{res, err}
	}()
	return done
}

func mustAnswer(t *testing.T, done chan receiveResult) receiveResult {
	t.Helper()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Receive() = %v", r.err)
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Receive() did not answer")
		return receiveResult{}
	}
}

func TestService_ReceiveAsksTheStore(t *testing.T) {
	script := &scriptedReceives{answers: []triggers.Received{{Events: []triggers.Event{{ID: "e1"}}, DeadLettered: 2}}}
	svc := triggers.NewService(&mockstore.Store{ReceiveEventsFn: script.receive},
		&triggers.Options{Now: func() time.Time { return tNanos }, Retention: time.Hour, MaxInboxScan: 99})
	filter := triggers.InboxFilter{Source: "billing"}
	res, err := svc.Receive(context.Background(), "acme", triggers.ReceiveRequest{
		MaxEvents: 3, Lease: 45 * time.Second, MaxAttempts: 4, Filter: filter})
	if err != nil || len(res.Events) != 1 || res.DeadLettered != 2 || res.Attempts != 1 {
		t.Fatalf("Receive() = %+v, %v", res, err)
	}
	q := script.queries[0]
	if q.Tenant != "acme" || q.Max != 3 || q.MaxAttempts != 4 || q.MaxScan != 99 || !q.Now.Equal(tUTC) ||
		!q.LeaseExpiresAt.Equal(tUTC.Add(45*time.Second)) || !q.NotBefore.Equal(tUTC.Add(-time.Hour)) || q.Filter.Source != "billing" {
		t.Fatalf("store query = %+v", q)
	}
	if len(q.LeaseIDs) != 3 || q.LeaseIDs[0] == q.LeaseIDs[1] || !triggers.ValidLeaseID(q.LeaseIDs[2]) {
		t.Fatalf("lease ids = %q, want 3 distinct fresh ones", q.LeaseIDs)
	}
}

// TestService_ReceiveWaits checks each way a waiting receive ends its wait,
// with a fake timer: nothing is real time but the goroutines.
func TestService_ReceiveWaits(t *testing.T) {
	leased := triggers.Received{Events: []triggers.Event{{ID: "e1", Tenant: "acme"}}}
	for _, tt := range []struct {
		name string
		poll time.Duration
		// first is the store's first answer (nothing leased).
		first triggers.Received
		// wantWait is the first wait's duration.
		wantWait time.Duration
		// wake ends the first wait.
		wake func(svc *triggers.Service, timers *fakeTimers, cancel context.CancelFunc)
		// wantEvents is whether the answer holds the event leased on the
		// second store call (false: the receive answered without asking again).
		wantEvents bool
	}{
		{
			name: "CreateInThisProcessWakesIt", wantWait: 20 * time.Second, wantEvents: true,
			wake: func(svc *triggers.Service, _ *fakeTimers, _ context.CancelFunc) {
				svc.CreateEvent(context.Background(), "acme", triggers.NewEvent{Source: "s", EventType: "t"})
			},
		},
		{
			name: "LeaseExpiryWakesItThen", first: triggers.Received{NextAvailable: tUTC.Add(3 * time.Second)},
			wantWait: 3 * time.Second, wantEvents: true,
			wake: func(_ *triggers.Service, timers *fakeTimers, _ context.CancelFunc) { timers.fireLast() },
		},
		{
			name: "PollerStoreIsAskedAgain", poll: 200 * time.Millisecond, wantWait: 200 * time.Millisecond, wantEvents: true,
			wake: func(_ *triggers.Service, timers *fakeTimers, _ context.CancelFunc) { timers.fireLast() },
		},
		{
			name: "StopWaitingAnswersAtOnce", wantWait: 20 * time.Second,
			wake: func(svc *triggers.Service, _ *fakeTimers, _ context.CancelFunc) { svc.StopWaiting() },
		},
		{
			name: "CancelledRequestAnswers", wantWait: 20 * time.Second,
			wake: func(_ *triggers.Service, _ *fakeTimers, cancel context.CancelFunc) { cancel() },
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := &scriptedReceives{answers: []triggers.Received{tt.first, leased}}
			ms := &mockstore.Store{ReceiveEventsFn: script.receive,
				InsertEventsFn: func(_ context.Context, ins []triggers.Insert) ([]triggers.InsertResult, error) {
					return []triggers.InsertResult{{Event: ins[0].Event}}, nil
				}}
			var store triggers.Store = ms
			if tt.poll > 0 {
				store = pollingStore{ms, tt.poll}
			}
			timers := newFakeTimers()
			svc := triggers.NewService(store, &triggers.Options{Now: func() time.Time { return tNanos }, After: timers.After})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := startReceive(ctx, svc, triggers.ReceiveRequest{MaxEvents: 1, Lease: time.Second, Wait: 20 * time.Second, MaxAttempts: 1})
			if d := timers.next(t); d != tt.wantWait {
				t.Fatalf("first wait = %v, want %v", d, tt.wantWait)
			}
			if svc.WaitingReceives() != 1 {
				t.Fatalf("WaitingReceives() = %d while waiting, want 1", svc.WaitingReceives())
			}
			tt.wake(svc, timers, cancel)
			r := mustAnswer(t, done)
			if got := len(r.res.Events) == 1; got != tt.wantEvents {
				t.Fatalf("answer = %d events after %d store calls, want events %v", len(r.res.Events), script.calls(), tt.wantEvents)
			}
			if svc.WaitingReceives() != 0 {
				t.Fatalf("WaitingReceives() = %d after the answer, want 0", svc.WaitingReceives())
			}
		})
	}
}

func TestService_ReceiveWaitEndsEmpty(t *testing.T) {
	now := tNanos
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	script := &scriptedReceives{}
	timers := newFakeTimers()
	svc := triggers.NewService(&mockstore.Store{ReceiveEventsFn: script.receive}, &triggers.Options{Now: clock, After: timers.After})
	done := startReceive(context.Background(), svc, triggers.ReceiveRequest{MaxEvents: 1, Lease: time.Second, Wait: 5 * time.Second, MaxAttempts: 1})
	if d := timers.next(t); d != 5*time.Second {
		t.Fatalf("wait = %v, want 5s", d)
	}
	mu.Lock()
	now = now.Add(5 * time.Second)
	mu.Unlock()
	timers.fireLast()
	r := mustAnswer(t, done)
	if len(r.res.Events) != 0 || r.res.Waited != 5*time.Second || script.calls() != 2 {
		t.Fatalf("answer = %+v after %d store calls; want no events after 5s and a last look", r.res, script.calls())
	}
}

// TestService_ReceivePollBacksOff checks that a ReceivePoller store is asked
// again after its interval, doubling up to four times it.
func TestService_ReceivePollBacksOff(t *testing.T) {
	script := &scriptedReceives{}
	timers := newFakeTimers()
	svc := triggers.NewService(pollingStore{&mockstore.Store{ReceiveEventsFn: script.receive}, 100 * time.Millisecond},
		&triggers.Options{Now: func() time.Time { return tNanos }, After: timers.After})
	done := startReceive(context.Background(), svc, triggers.ReceiveRequest{MaxEvents: 1, Lease: time.Second, Wait: 20 * time.Second, MaxAttempts: 1})
	var waits []time.Duration
	for range 5 {
		waits = append(waits, timers.next(t))
		timers.fireLast()
	}
	svc.StopWaiting()
	mustAnswer(t, done)
	want := []time.Duration{100, 200, 400, 400, 400}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(waits, want) {
		t.Fatalf("poll waits = %v, want %v", waits, want)
	}
}

// TestService_ReceiveAnswersBeforeTheDeadline checks that a receive whose
// context has a deadline (a Lambda invocation behind API Gateway) stops
// waiting a second before it.
func TestService_ReceiveAnswersBeforeTheDeadline(t *testing.T) {
	timers := newFakeTimers()
	svc := triggers.NewService(&mockstore.Store{ReceiveEventsFn: (&scriptedReceives{}).receive},
		&triggers.Options{Now: time.Now, After: timers.After})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	done := startReceive(ctx, svc, triggers.ReceiveRequest{MaxEvents: 1, Lease: time.Second, Wait: 20 * time.Second, MaxAttempts: 1})
	if d := timers.next(t); d > 5*time.Second || d < 4*time.Second {
		t.Fatalf("wait = %v, want about 5s (deadline 6s minus 1s)", d)
	}
	svc.StopWaiting()
	mustAnswer(t, done)
}

func TestParseReceiveRequest(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		want triggers.ReceiveRequest // compared when wantFields is empty
		// wantFields are the fields an EINVALID must name.
		wantFields []string
	}{
		{name: "EmptyBodyMeansDefaults", body: "",
			want: triggers.ReceiveRequest{MaxEvents: 10, Lease: 30 * time.Second, MaxAttempts: 10}},
		{name: "EmptyObjectMeansDefaults", body: "{}",
			want: triggers.ReceiveRequest{MaxEvents: 10, Lease: 30 * time.Second, MaxAttempts: 10}},
		{name: "NullIsAbsent", body: `{"max_events": null}`,
			want: triggers.ReceiveRequest{MaxEvents: 10, Lease: 30 * time.Second, MaxAttempts: 10}},
		{name: "EveryField", body: `{"max_events": 25, "lease_seconds": 43200, "wait_seconds": 20, "max_attempts": 1000,
			"source": " billing ", "event_type": "invoice.paid", "priority": "high",
			"created_after": "2026-01-01T00:00:00Z", "created_before": "2026-02-01T00:00:00Z", "metadata": {"region": "eu"}}`,
			want: triggers.ReceiveRequest{MaxEvents: 25, Lease: 43200 * time.Second, Wait: 20 * time.Second, MaxAttempts: 1000,
				Filter: triggers.InboxFilter{Source: "billing", EventType: "invoice.paid", Priority: triggers.PriorityHigh,
					CreatedAfter:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
					CreatedBefore: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
					Metadata:      []triggers.MetadataMatch{{Key: "region", Value: "eu"}}}}},
		{name: "MetadataPriorityIsThePriorityFilter", body: `{"metadata": {"priority": "low"}}`,
			want: triggers.ReceiveRequest{MaxEvents: 10, Lease: 30 * time.Second, MaxAttempts: 10,
				Filter: triggers.InboxFilter{Priority: triggers.PriorityLow}}},
		{name: "OutOfRangeNumbers", body: `{"max_events": 26, "lease_seconds": 0, "wait_seconds": 21, "max_attempts": 0}`,
			wantFields: []string{"lease_seconds", "max_attempts", "max_events", "wait_seconds"}},
		{name: "NotIntegers", body: `{"max_events": 1.5, "lease_seconds": "30", "wait_seconds": true, "max_attempts": 1e2}`,
			wantFields: []string{"lease_seconds", "max_attempts", "max_events", "wait_seconds"}},
		{name: "BadFilters", body: `{"source": "", "event_type": 3, "priority": "urgent", "created_after": "yesterday"}`,
			wantFields: []string{"event_type", "source", "created_after", "priority"}},
		{name: "BadMetadata", body: `{"metadata": {"bad key": "x", "n": 1}}`,
			wantFields: []string{"metadata.n", "metadata.bad key"}},
		{name: "MetadataNotAnObject", body: `{"metadata": ["x"]}`, wantFields: []string{"metadata"}},
		{name: "MetadataNullValue", body: `{"metadata": {"region": null}}`, wantFields: []string{"metadata.region"}},
		{name: "RangeBackwards", body: `{"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"}`,
			wantFields: []string{"created_after"}},
		{name: "UnknownField", body: `{"max_event": 3}`, wantFields: []string{"max_event"}},
		{name: "NotAnObject", body: `[]`, wantFields: []string{"body"}},
		{name: "DuplicateField", body: `{"max_events": 1, "max_events": 2}`, wantFields: []string{"body"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseReceiveRequest([]byte(tt.body))
			if len(tt.wantFields) > 0 {
				mustNameFields(t, err, tt.wantFields)
				return
			}
			if err != nil {
				t.Fatalf("ParseReceiveRequest() = %v", err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tt.want); g != w {
				t.Fatalf("ParseReceiveRequest() =\n %s\nwant\n %s", g, w)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mustNameFields checks that err is an EINVALID naming exactly fields (in
// any order).
func mustNameFields(t *testing.T, err error, fields []string) {
	t.Helper()
	var e *triggers.Error
	if !errors.As(err, &e) || e.Code != triggers.EINVALID {
		t.Fatalf("error = %v, want VALIDATION_ERROR", err)
	}
	var got []string
	for _, f := range e.Details["fields"].([]triggers.FieldError) {
		got = append(got, f.Field)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(fields))) {
		t.Fatalf("fields = %q, want %q (%v)", got, fields, err)
	}
}

func TestParseLeaseRequests(t *testing.T) {
	lease := triggers.NewLeaseID()
	for _, tt := range []struct {
		name       string
		parse      func([]byte) (triggers.LeaseRequest, error)
		body       string
		want       triggers.LeaseRequest
		wantFields []string
	}{
		{"NackDefaultsToNoDelay", triggers.ParseNackRequest, `{"lease_id": "` + lease + `"}`, triggers.LeaseRequest{LeaseID: lease}, nil},
		{"NackDelay", triggers.ParseNackRequest, `{"lease_id": "` + lease + `", "delay_seconds": 43200}`, triggers.LeaseRequest{LeaseID: lease, Seconds: 43200}, nil},
		{"NackDelayOutOfRange", triggers.ParseNackRequest, `{"lease_id": "` + lease + `", "delay_seconds": -1}`, triggers.LeaseRequest{}, []string{"delay_seconds"}},
		{"NackWithoutLease", triggers.ParseNackRequest, `{}`, triggers.LeaseRequest{}, []string{"lease_id"}},
		{"NackEmptyBody", triggers.ParseNackRequest, ``, triggers.LeaseRequest{}, []string{"body"}},
		{"NackMalformedLease", triggers.ParseNackRequest, `{"lease_id": "` + strings.ToUpper(lease) + `"}`, triggers.LeaseRequest{}, []string{"lease_id"}},
		{"NackLeaseNotAString", triggers.ParseNackRequest, `{"lease_id": 7}`, triggers.LeaseRequest{}, []string{"lease_id"}},
		{"NackUnknownField", triggers.ParseNackRequest, `{"lease_id": "` + lease + `", "lease_seconds": 3}`, triggers.LeaseRequest{}, []string{"lease_seconds"}},
		{"ExtendDefaultsToThirtySeconds", triggers.ParseExtendRequest, `{"lease_id": "` + lease + `"}`, triggers.LeaseRequest{LeaseID: lease, Seconds: 30}, nil},
		{"ExtendSeconds", triggers.ParseExtendRequest, `{"lease_id": "` + lease + `", "lease_seconds": 1}`, triggers.LeaseRequest{LeaseID: lease, Seconds: 1}, nil},
		{"ExtendZeroSeconds", triggers.ParseExtendRequest, `{"lease_id": "` + lease + `", "lease_seconds": 0}`, triggers.LeaseRequest{}, []string{"lease_seconds"}},
		{"ExtendTooLong", triggers.ParseExtendRequest, `{"lease_id": "` + lease + `", "lease_seconds": 43201}`, triggers.LeaseRequest{}, []string{"lease_seconds"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.body))
			if tt.wantFields != nil {
				mustNameFields(t, err, tt.wantFields)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parse = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseAckRequest(t *testing.T) {
	lease := triggers.NewLeaseID()
	for _, tt := range []struct {
		name, body, want string
		wantFields       []string
	}{
		{name: "NoBodyIsUnconditional", body: ""},
		{name: "EmptyObjectIsUnconditional", body: "{}"},
		{name: "LeaseMakesItConditional", body: `{"lease_id": "` + lease + `"}`, want: lease},
		{name: "MalformedLease", body: `{"lease_id": "abc"}`, wantFields: []string{"lease_id"}},
		{name: "UnknownField", body: `{"lease": "x"}`, wantFields: []string{"lease"}},
		{name: "NotJSON", body: `lease`, wantFields: []string{"body"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseAckRequest([]byte(tt.body))
			if tt.wantFields != nil {
				mustNameFields(t, err, tt.wantFields)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAckRequest() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestService_BulkLeaseItems checks how Service parses the items of bulk
// nack and ack and resolves repeated events, before the store sees them.
func TestService_BulkLeaseItems(t *testing.T) {
	lease := triggers.NewLeaseID()
	id := triggers.NewEventID(tUTC)
	var nacked []triggers.Nack
	var acked []triggers.Ack
	svc := triggers.NewService(&mockstore.Store{
		NackEventsFn: func(_ context.Context, _ string, n []triggers.Nack, _, _ time.Time) ([]triggers.EventResult, error) {
			nacked = n
			return make([]triggers.EventResult, len(n)), nil
		},
		AckEventsFn: func(_ context.Context, _ string, a []triggers.Ack, _, _ time.Time) ([]triggers.EventResult, error) {
			acked = a
			return make([]triggers.EventResult, len(a)), nil
		},
	}, &triggers.Options{Now: func() time.Time { return tNanos }})
	items := []json.RawMessage{
		json.RawMessage(`{"event_id": "` + strings.ToUpper(id) + `", "lease_id": "` + lease + `", "delay_seconds": 60}`),
		json.RawMessage(`{"event_id": "` + id + `", "lease_id": "` + lease + `"}`),
		json.RawMessage(`{"event_id": "x", "lease_id": "y", "delay_seconds": -1, "extra": 1}`),
		json.RawMessage(`7`),
	}
	res, err := svc.NackEvents(context.Background(), "acme", items)
	if err != nil {
		t.Fatal(err)
	}
	if len(nacked) != 1 || nacked[0].ID != id || nacked[0].LeaseID != lease || !nacked[0].AvailableAt.Equal(tUTC.Add(time.Minute)) {
		t.Fatalf("store got nacks %+v, want one of %s available at now+60s", nacked, id)
	}
	if res[0].Err != nil || reasonOf(res[1].Err) != triggers.ReasonLeaseLost {
		t.Fatalf("results 0, 1 = %v, %v; want success, then lease_lost for the repeat", res[0].Err, res[1].Err)
	}
	mustNameFields(t, res[2].Err, []string{"items[2].event_id", "items[2].lease_id", "items[2].delay_seconds", "items[2].extra"})
	mustNameFields(t, res[3].Err, []string{"items[3]"})

	res, err = svc.AckItems(context.Background(), "acme", items[1:2])
	if err != nil || res[0].Err != nil || len(acked) != 1 || acked[0] != (triggers.Ack{ID: id, LeaseID: lease}) {
		t.Fatalf("AckItems() = %+v, %v; store got %+v", res, err, acked)
	}
	if _, err := svc.NackEvents(context.Background(), "acme", nil); triggers.ErrorCode(err) != triggers.EINVALID {
		t.Fatalf("NackEvents(no items) = %v, want VALIDATION_ERROR", err)
	}
}

func reasonOf(err error) string {
	var e *triggers.Error
	if errors.As(err, &e) && e.Code == triggers.ECONFLICT {
		r, _ := e.Details["reason"].(string)
		return r
	}
	return string(triggers.ErrorCode(err))
}

// TestService_HidesLeaseIDs checks that the events Service returns outside a
// receive carry no lease id, and a lease only while it is held.
func TestService_HidesLeaseIDs(t *testing.T) {
	lease := triggers.NewLeaseID()
	held := triggers.Event{ID: "held", Tenant: "acme", LeaseID: lease, LeaseExpiresAt: tUTC.Add(time.Second), Attempts: 1}
	expired := triggers.Event{ID: "expired", Tenant: "acme", LeaseID: lease, LeaseExpiresAt: tUTC, Attempts: 2,
		AvailableAt: tUTC.Add(-time.Second)}
	page := triggers.Page{Events: []triggers.Event{held, expired}}
	svc := triggers.NewService(&mockstore.Store{
		GetEventFn: func(context.Context, string, string, time.Time) (triggers.Event, error) { return held, nil },
		ListPendingFn: func(context.Context, triggers.InboxQuery) (triggers.Page, error) {
			return page, nil
		},
	}, &triggers.Options{Now: func() time.Time { return tNanos }})
	e, err := svc.GetEvent(context.Background(), "acme", "held")
	if err != nil || e.LeaseID != "" || !e.LeaseExpiresAt.Equal(held.LeaseExpiresAt) {
		t.Fatalf("GetEvent() = lease %q until %v, %v; want no id, the expiry", e.LeaseID, e.LeaseExpiresAt, err)
	}
	p, err := svc.Inbox(context.Background(), "acme", triggers.InboxRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p.Events[0].LeaseID != "" || p.Events[1].LeaseID != "" || !p.Events[1].LeaseExpiresAt.IsZero() || !p.Events[1].AvailableAt.IsZero() {
		t.Fatalf("inbox events = %+v, want no lease ids and no expired lease or past delay", p.Events)
	}
	if page.Events[0].LeaseID != lease {
		t.Fatal("Service changed the store's page (a store may share it with its cache)")
	}
}
