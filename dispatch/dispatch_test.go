package dispatch_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dispatch"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/webhook"
)

const tenant = "acme"

// t0 is the tests' start: the fake clock stands still unless moved.
var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// openStore returns the store under test (teststore.Open: SQLite by
// default, DynamoDB with TRIGGERS_TEST_STORE=dynamodb), which must
// implement triggers.WebhookStore.
func openStore(t *testing.T) triggers.Store {
	t.Helper()
	s := teststore.Open(t, "dispatch")
	if _, ok := s.(triggers.WebhookStore); !ok {
		t.Fatalf("the store under test (%T) does not implement triggers.WebhookStore", s)
	}
	return s
}

// harness is a dispatcher over a real store and service, on a fake clock,
// delivering to real loopback receivers.
type harness struct {
	t     *testing.T
	clock *teststore.Clock
	store triggers.Store
	ws    triggers.WebhookStore
	svc   *triggers.Service
	d     *dispatch.Dispatcher
	logs  *teststore.LogBuffer
	reg   *prometheus.Registry
}

func newHarness(t *testing.T, configure func(*dispatch.Config)) *harness {
	t.Helper()
	clock := teststore.NewClock(t0)
	store := openStore(t)
	svc := triggers.NewService(store, &triggers.Options{Now: clock.Now})
	logs := &teststore.LogBuffer{}
	reg := prometheus.NewRegistry()
	client := egress.NewClient(&egress.Guard{AllowPrivate: true}, "")
	cfg := dispatch.Config{Store: store.(triggers.WebhookStore), Events: svc, Client: client, Now: clock.Now,
		Rand:    func() float64 { return 0.5 }, // no jitter
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: dispatch.NewMetrics(reg), UserAgent: "Triggers/test"}
	if configure != nil {
		configure(&cfg)
	}
	t.Cleanup(client.CloseIdleConnections)
	return &harness{t: t, clock: clock, store: store, ws: cfg.Store, svc: svc, d: dispatch.New(cfg), logs: logs, reg: reg}
}

// subscribe creates an active subscription of tenant; extra is more of
// its JSON body, such as `,"ack_on_delivery":true`.
func (h *harness) subscribe(url, extra string) triggers.Subscription {
	h.t.Helper()
	sub, err := h.svc.CreateSubscription(context.Background(), tenant, []byte(`{"url":"`+url+`"`+extra+`}`))
	if err != nil {
		h.t.Fatalf("CreateSubscription() = %v", err)
	}
	return sub
}

// create creates an event of source src.
func (h *harness) create(src string) triggers.Event {
	h.t.Helper()
	ne, err := triggers.ParseNewEvent([]byte(`{"source":"`+src+`","event_type":"invoice.paid",`+
		`"payload":{"amount":12.50,"big":123456789012345678901234567890,"html":"<b>&</b>"}}`), "", "")
	if err != nil {
		h.t.Fatal(err)
	}
	res, err := h.svc.CreateEvent(context.Background(), tenant, ne)
	if err != nil {
		h.t.Fatalf("CreateEvent() = %v", err)
	}
	return res.Event
}

// runOnce runs one step of the dispatcher and checks how many deliveries
// it claimed.
func (h *harness) runOnce(want int) {
	h.t.Helper()
	n, err := h.d.RunOnce(context.Background())
	if err != nil || n != want {
		h.t.Fatalf("RunOnce() = %d, %v; want %d claimed", n, err, want)
	}
}

// delivery returns the delivery of event id to sub.
func (h *harness) delivery(sub triggers.Subscription, id string) triggers.Delivery {
	h.t.Helper()
	ds, _, err := h.ws.ListDeliveries(context.Background(), triggers.DeliveryQuery{Tenant: tenant, SubscriptionID: sub.ID, EventID: id, Limit: 10})
	if err != nil || len(ds) != 1 {
		h.t.Fatalf("ListDeliveries(%s) = %v, %v; want one", id, ds, err)
	}
	return ds[0]
}

func (h *harness) subscription(id string) triggers.Subscription {
	h.t.Helper()
	s, err := h.ws.GetSubscription(context.Background(), tenant, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// counter returns triggers_webhook_deliveries_total{outcome}.
func (h *harness) counter(outcome string) int {
	h.t.Helper()
	return int(h.metric("triggers_webhook_deliveries_total", outcome))
}

// metric returns the value of a counter of the dispatcher's registry, the
// one whose label (if any) is label.
func (h *harness) metric(name, label string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	h.t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
	path   string
}

// receiver is a real HTTP server on 127.0.0.1 that answers with answer
// (200 when nil) and records every request.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rv := &receiver{}
	rv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		rv.reqs = append(rv.reqs, request{header: r.Header.Clone(), body: body, path: r.URL.Path})
		n := len(rv.reqs)
		rv.mu.Unlock()
		if answer != nil {
			answer(w, r, n)
		}
	}))
	t.Cleanup(rv.Close)
	return rv
}

func (rv *receiver) requests() []request {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]request(nil), rv.reqs...)
}

// status answers code to every request.
func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

func TestDispatcher_Success(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, nil)
	sub := h.subscribe(rv.URL+"/hooks", "")
	ev := h.create("billing")
	h.runOnce(1)

	reqs := rv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	stored, err := h.svc.GetEvent(context.Background(), tenant, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := triggershttp.EventJSON(&stored)
	if string(r.body) != string(want) {
		t.Errorf("body = %s, want the event as GET shows it: %s", r.body, want)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "Triggers/test",
		"Webhook-Id": ev.ID, "Webhook-Timestamp": strconv.FormatInt(t0.Unix(), 10)} {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.path != "/hooks" {
		t.Errorf("path = %q", r.path)
	}
	if err := (webhook.Verifier{Now: h.clock.Now}).Verify(sub.Secret, r.header, r.body); err != nil {
		t.Errorf("webhook.Verify() = %v", err)
	}
	if sigs := strings.Fields(r.header.Get("Webhook-Signature")); len(sigs) != 1 {
		t.Errorf("signatures = %v, want one", sigs)
	}

	d := h.delivery(sub, ev.ID)
	if d.Status != triggers.DeliverySucceeded || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 ||
		d.Attempts[0].Error != "" || !d.Attempts[0].At.Equal(t0) {
		t.Fatalf("delivery = %+v, want succeeded with one 200 attempt at t0", d)
	}
	if e, _ := h.svc.GetEvent(context.Background(), tenant, ev.ID); e.Status() != triggers.StatusPending {
		t.Errorf("event status = %s: without ack_on_delivery a delivery leaves it pending", e.Status())
	}
	if got := h.counter("succeeded"); got != 1 {
		t.Errorf("deliveries_total{succeeded} = %d, want 1", got)
	}
	logs := h.logs.String()
	for _, want := range []string{`"msg":"webhook delivery attempt"`, `"subscription_id":"` + sub.ID, `"event_id":"` + ev.ID,
		`"tenant":"acme"`, `"status_code":200`, `"outcome":"succeeded"`, `"attempt":1`, `"latency_ms":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{sub.Secret, "123456789012345678901234567890", rv.URL} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q (the secret, the payload or the url):\n%s", secret, logs)
		}
	}
	h.runOnce(0) // done: nothing left to claim
}

func TestDispatcher_FailureThenSuccess(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "database\x00 down")
		}
	})
	sub := h.subscribe(rv.URL, "")
	ev := h.create("billing")
	h.runOnce(1)
	d := h.delivery(sub, ev.ID)
	if d.Status != triggers.DeliveryPending || !d.NextAttemptAt.Equal(t0.Add(5*time.Second)) ||
		d.Attempts[0].StatusCode != 500 || d.Attempts[0].Error != "HTTP 500: database  down" {
		t.Fatalf("after a 500: %+v; want pending, due at t0+5s, the 500 and its body in the log", d)
	}
	if s := h.subscription(sub.ID); !s.FailingSince.Equal(t0) {
		t.Errorf("FailingSince = %v, want t0 after a failure", s.FailingSince)
	}
	h.clock.Advance(5*time.Second - time.Microsecond)
	h.runOnce(0) // not due yet
	h.clock.Advance(time.Microsecond)
	h.runOnce(1)
	d = h.delivery(sub, ev.ID)
	if d.Status != triggers.DeliverySucceeded || len(d.Attempts) != 2 || d.Attempts[1].StatusCode != 200 {
		t.Fatalf("after the retry: %+v; want succeeded with two attempts", d)
	}
	if s := h.subscription(sub.ID); !s.FailingSince.IsZero() {
		t.Errorf("FailingSince = %v, want cleared by a success", s.FailingSince)
	}
	if len(rv.requests()) != 2 || h.counter("retry") != 1 || h.counter("succeeded") != 1 {
		t.Errorf("requests %d, retry %d, succeeded %d; want 2, 1, 1", len(rv.requests()), h.counter("retry"), h.counter("succeeded"))
	}
}

// TestDispatcher_RetrySchedule plays the whole schedule against a receiver
// that always fails: 8 attempts, each after the delay of DESIGN §11.2
// moved by the jitter source, then failed.
func TestDispatcher_RetrySchedule(t *testing.T) {
	nominal := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for _, c := range []struct {
		name   string
		rnd    float64
		factor float64
	}{{"Earliest", 0, 0.9}, {"Nominal", 0.5, 1}, {"Latest", 1, 1.1}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *dispatch.Config) { cfg.Rand = func() float64 { return c.rnd } })
			rv := newReceiver(t, status(http.StatusServiceUnavailable)) // no Retry-After: the schedule
			sub := h.subscribe(rv.URL, "")
			ev := h.create("billing")
			for i := range triggers.MaxDeliveryAttempts {
				at := h.clock.Now()
				h.runOnce(1)
				d := h.delivery(sub, ev.ID)
				if d.Tries != i+1 || len(d.Attempts) != i+1 || !d.Attempts[i].At.Equal(at) || d.Attempts[i].StatusCode != 503 {
					t.Fatalf("attempt %d: %+v", i+1, d)
				}
				if i == triggers.MaxDeliveryAttempts-1 {
					if d.Status != triggers.DeliveryFailed {
						t.Fatalf("after the last attempt: %s; want failed", d.Status)
					}
					break
				}
				want := time.Duration(float64(nominal[i]) * c.factor).Round(time.Millisecond)
				if d.Status != triggers.DeliveryPending || d.NextAttemptAt.Sub(at) != want {
					t.Fatalf("after attempt %d: %s, next in %v; want pending, next in %v", i+1, d.Status, d.NextAttemptAt.Sub(at), want)
				}
				h.clock.Set(d.NextAttemptAt)
			}
			h.clock.Advance(24 * time.Hour)
			h.runOnce(0)
			if n := len(rv.requests()); n != triggers.MaxDeliveryAttempts {
				t.Fatalf("receiver got %d requests, want %d", n, triggers.MaxDeliveryAttempts)
			}
			if h.counter("retry") != 7 || h.counter("failed") != 1 {
				t.Errorf("retry %d, failed %d; want 7, 1", h.counter("retry"), h.counter("failed"))
			}
		})
	}
}

func TestDispatcher_RetryAfter(t *testing.T) {
	for _, c := range []struct {
		name       string
		code       int
		retryAfter string
		want       time.Duration
	}{
		{"429Honoured", 429, "120", 120 * time.Second},
		{"503Honoured", 503, "3600", time.Hour},
		{"429OverAnHourIgnored", 429, "3601", 5 * time.Second},
		{"500Ignored", 500, "120", 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil)
			rv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", c.retryAfter)
				w.WriteHeader(c.code)
			})
			sub := h.subscribe(rv.URL, "")
			ev := h.create("billing")
			h.runOnce(1)
			if d := h.delivery(sub, ev.ID); d.Status != triggers.DeliveryPending || d.NextAttemptAt.Sub(t0) != c.want {
				t.Fatalf("next attempt in %v (%s), want %v", d.NextAttemptAt.Sub(t0), d.Status, c.want)
			}
		})
	}
}

func TestDispatcher_Timeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newHarness(t, func(cfg *dispatch.Config) { cfg.Client.Timeout = 100 * time.Millisecond })
	rv := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	sub := h.subscribe(rv.URL, "")
	ev := h.create("billing")
	h.runOnce(1)
	d := h.delivery(sub, ev.ID)
	a := d.Attempts[0]
	if d.Status != triggers.DeliveryPending || a.StatusCode != 0 || !strings.HasPrefix(a.Error, "timeout") || a.Latency <= 0 {
		t.Fatalf("delivery %s, attempt %+v; want pending after a timeout with no status code", d.Status, a)
	}
}

func TestDispatcher_ConnectionRefused(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, nil)
	url := rv.URL
	rv.Close() // nothing listens there any more
	sub := h.subscribe(url, "")
	ev := h.create("billing")
	h.runOnce(1)
	if a := h.delivery(sub, ev.ID).Attempts[0]; a.StatusCode != 0 || a.Error != "connection refused" {
		t.Fatalf("attempt %+v, want connection refused", a)
	}
}

func TestDispatcher_RedirectNotFollowed(t *testing.T) {
	h := newHarness(t, nil)
	var rv *receiver
	rv = newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/hooks" {
			http.Redirect(w, r, rv.URL+"/elsewhere", http.StatusFound)
		}
	})
	sub := h.subscribe(rv.URL+"/hooks", "")
	ev := h.create("billing")
	h.runOnce(1)
	d := h.delivery(sub, ev.ID)
	if reqs := rv.requests(); len(reqs) != 1 || reqs[0].path != "/hooks" {
		t.Fatalf("receiver got %v; want only the request to /hooks", reqs)
	}
	if d.Status != triggers.DeliveryPending || d.Attempts[0].StatusCode != 302 || d.Attempts[0].Error != "HTTP 302: redirects are not followed" {
		t.Fatalf("delivery %+v, want a failed attempt with 302", d)
	}
}

func TestDispatcher_SecretRotation(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, nil)
	sub := h.subscribe(rv.URL, "")
	rotated, err := h.svc.RotateSecret(context.Background(), tenant, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.create("billing")
	h.runOnce(1)
	r := rv.requests()[0]
	if sigs := strings.Fields(r.header.Get("Webhook-Signature")); len(sigs) != 2 {
		t.Fatalf("signatures during the rotation = %v, want two", sigs)
	}
	v := webhook.Verifier{Now: h.clock.Now}
	for name, secret := range map[string]string{"new": rotated.Secret, "old": sub.Secret} {
		if err := v.Verify(secret, r.header, r.body); err != nil {
			t.Errorf("Verify with the %s secret = %v", name, err)
		}
	}
	h.clock.Advance(triggers.SecretRotationOverlap)
	h.create("billing")
	h.runOnce(1)
	r = rv.requests()[1]
	if sigs := strings.Fields(r.header.Get("Webhook-Signature")); len(sigs) != 1 {
		t.Fatalf("signatures after the overlap = %v, want one", sigs)
	}
	v.Now = h.clock.Now
	if err := v.Verify(sub.Secret, r.header, r.body); err == nil {
		t.Error("the old secret verifies after the overlap")
	}
	if err := v.Verify(rotated.Secret, r.header, r.body); err != nil {
		t.Errorf("Verify with the new secret = %v", err)
	}
}

func TestDispatcher_AckOnDelivery(t *testing.T) {
	h := newHarness(t, nil)
	ok := newReceiver(t, nil)
	failing := newReceiver(t, status(500))
	h.subscribe(ok.URL, `,"ack_on_delivery":true,"filter":{"source":"ok"}`)
	h.subscribe(failing.URL, `,"ack_on_delivery":true,"filter":{"source":"failing"}`)
	delivered, notDelivered, acked := h.create("ok"), h.create("failing"), h.create("ok")
	if _, err := h.svc.AckEvent(context.Background(), tenant, acked.ID, ""); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second) // a store may move CreatedAt of events created together a little forward
	h.runOnce(3)
	for _, c := range []struct {
		id   string
		want triggers.Status
	}{{delivered.ID, triggers.StatusAcknowledged}, {notDelivered.ID, triggers.StatusPending}, {acked.ID, triggers.StatusAcknowledged}} {
		if e, err := h.svc.GetEvent(context.Background(), tenant, c.id); err != nil || e.Status() != c.want {
			t.Errorf("event %s: %s, %v; want %s", c.id, e.Status(), err, c.want)
		}
	}
	if strings.Contains(h.logs.String(), "acknowledging the event failed") {
		t.Errorf("an already acknowledged event was logged as a failure:\n%s", h.logs)
	}
}

// TestDispatcher_EventDeleted: a delivery whose event is gone fails
// without a request, and without counting against the endpoint. (The event
// is deleted after a first delivery, then the delivery is retried, so that
// it exists on every store: one that fans out at claim time may drop the
// deliveries of an event already gone.)
func TestDispatcher_EventDeleted(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, nil)
	sub := h.subscribe(rv.URL, "")
	ev := h.create("billing")
	h.runOnce(1)
	if _, err := h.svc.DeleteEvent(context.Background(), tenant, ev.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	if _, err := h.ws.RetryDelivery(context.Background(), triggers.DeliveryKey{Tenant: tenant, SubscriptionID: sub.ID, EventID: ev.ID}, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.runOnce(1)
	if n := len(rv.requests()); n != 1 {
		t.Fatalf("receiver got %d requests, want only the first delivery's", n)
	}
	d := h.delivery(sub, ev.ID)
	if a := d.Attempts[len(d.Attempts)-1]; d.Status != triggers.DeliveryFailed || a.Error != "event no longer exists" || a.StatusCode != 0 {
		t.Fatalf("delivery %s, last attempt %+v; want failed: event no longer exists", d.Status, a)
	}
	if s := h.subscription(sub.ID); !s.FailingSince.IsZero() {
		t.Errorf("FailingSince = %v: a deleted event is not the endpoint's failure", s.FailingSince)
	}
	if got := h.counter("failed"); got != 1 {
		t.Errorf("deliveries_total{failed} = %d, want 1", got)
	}
}

// TestDispatcher_DisabledAfterFiveDaysOfFailures: a subscription failing
// since t0 stays active until a failure SubscriptionDisableAfter later.
func TestDispatcher_DisabledAfterFiveDaysOfFailures(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, status(500))
	sub := h.subscribe(rv.URL, `,"filter":{"source":"a"}`)
	h.create("a")
	h.runOnce(1)
	if s := h.subscription(sub.ID); !s.FailingSince.Equal(t0) || s.Status != triggers.SubscriptionActive {
		t.Fatalf("after the first failure: %s, failing since %v", s.Status, s.FailingSince)
	}
	h.clock.Set(t0.Add(triggers.SubscriptionDisableAfter - time.Second))
	h.create("a")
	h.runOnce(2) // the first event's retry and the new one
	if s := h.subscription(sub.ID); s.Status != triggers.SubscriptionActive || !s.FailingSince.Equal(t0) {
		t.Fatalf("a second before 5 days: %s, failing since %v; want active since t0", s.Status, s.FailingSince)
	}
	h.clock.Advance(time.Second)
	last := h.create("a")
	h.runOnce(1)
	s := h.subscription(sub.ID)
	if s.Status != triggers.SubscriptionDisabled || !s.FailingSince.Equal(t0) {
		t.Fatalf("after 5 days of failures: %s, failing since %v; want disabled", s.Status, s.FailingSince)
	}
	if !strings.Contains(h.logs.String(), "webhook subscription disabled") {
		t.Errorf("no log of the disabling:\n%s", h.logs)
	}
	// A disabled subscription's deliveries wait: nothing is claimed.
	h.clock.Advance(24 * time.Hour)
	h.runOnce(0)
	if d := h.delivery(sub, last.ID); d.Status != triggers.DeliveryPending {
		t.Errorf("delivery of a disabled subscription: %s, want pending (held)", d.Status)
	}
}

// TestDispatcher_PerSubscriptionBound: a receiver that hangs takes at most
// MaxPerSubscription attempts at once, and the deliveries of another
// subscription, due behind its backlog, go through meanwhile.
func TestDispatcher_PerSubscriptionBound(t *testing.T) {
	const perSub = 2
	claims := make(chan int, 100)
	h := newHarness(t, func(cfg *dispatch.Config) {
		cfg.MaxPerSubscription, cfg.PollInterval = perSub, 5*time.Millisecond
		cfg.Store = claimSignal{cfg.Store, claims}
	})
	release := make(chan struct{})
	arrived := make(chan struct{}, 20)
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	slow := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	fastDone := make(chan struct{}, 10)
	fast := newReceiver(t, func(http.ResponseWriter, *http.Request, int) { fastDone <- struct{}{} })
	slowSub := h.subscribe(slow.URL, `,"filter":{"source":"slow"}`)
	h.subscribe(fast.URL, `,"filter":{"source":"fast"}`)
	const slowEvents = 8 // more than the 4 (2 × perSub) a dispatcher holds of one subscription
	for range slowEvents {
		h.create("slow")
	}
	h.clock.Advance(time.Millisecond) // the slow backlog is due first
	for range 3 {
		h.create("fast")
	}
	h.clock.Advance(time.Second) // a store may move CreatedAt of events created together a little forward
	go func() {
		for range claims { // drained for the whole test
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	for i := range 3 + perSub {
		select {
		case <-fastDone:
		case <-arrived:
		case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
			close(release)
			cancel()
			t.Fatalf("%d of the 3 fast deliveries and %d hanging slow ones arrived", i, perSub)
		}
	}
	// Both slow attempts hang, the fast subscription got all of its
	// deliveries, and the other slow ones wait in the dispatcher or were
	// abandoned to a later claim.
	if n := len(slow.requests()); n != perSub {
		t.Errorf("slow receiver got %d requests while %d hung, want %d", n, perSub, perSub)
	}
	if got := h.metric("triggers_webhook_deliveries_abandoned_total", ""); got < 1 {
		t.Errorf("abandoned = %v: the slow backlog beyond 4 held was reached past only by abandoning", got)
	}
	close(release)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if maxInFlight != perSub {
		t.Errorf("attempts to the slow subscription at once = %d, want %d", maxInFlight, perSub)
	}
	mu.Unlock()
	// The abandoned deliveries were released: they are claimed again a
	// few poll intervals later, long before their leases would expire.
	h.clock.Advance(time.Second)
	for range slowEvents {
		if n, err := h.d.RunOnce(context.Background()); err != nil || n == 0 {
			break
		}
	}
	ds, _, err := h.ws.ListDeliveries(context.Background(), triggers.DeliveryQuery{Tenant: tenant, SubscriptionID: slowSub.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Status != triggers.DeliverySucceeded {
			t.Errorf("slow delivery %s: %s, want succeeded in the end", d.EventID, d.Status)
		}
	}
}

// TestDispatcher_ClaimsNoMoreThanASubscriptionTakes: a claim asks for no
// more deliveries than the subscription holding the most may still take,
// so that one subscription's backlog is claimed without abandoning any.
func TestDispatcher_ClaimsNoMoreThanASubscriptionTakes(t *testing.T) {
	claims := make(chan int, 100)
	h := newHarness(t, func(cfg *dispatch.Config) {
		cfg.MaxPerSubscription = 1
		cfg.Store = claimSignal{cfg.Store, claims}
	})
	rv := newReceiver(t, nil)
	h.subscribe(rv.URL, "")
	for range 5 {
		h.create("billing")
	}
	h.clock.Advance(time.Second)
	for _, want := range []int{2, 2, 1, 0} { // 2 × MaxPerSubscription at most
		h.runOnce(want)
		<-claims
	}
	if n := len(rv.requests()); n != 5 {
		t.Fatalf("receiver got %d requests, want 5", n)
	}
	if got := h.metric("triggers_webhook_deliveries_abandoned_total", ""); got != 0 {
		t.Errorf("abandoned = %v, want 0", got)
	}
}

func TestDispatcher_Run(t *testing.T) {
	h := newHarness(t, func(cfg *dispatch.Config) { cfg.PollInterval = 10 * time.Millisecond })
	got := make(chan struct{}, 1)
	rv := newReceiver(t, func(http.ResponseWriter, *http.Request, int) { got <- struct{}{} })
	sub := h.subscribe(rv.URL, "")
	ev := h.create("billing")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	<-got
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if d := h.delivery(sub, ev.ID); d.Status != triggers.DeliverySucceeded {
		t.Fatalf("delivery %s after Run stopped, want succeeded (the attempt in flight finished)", d.Status)
	}
}

func TestDispatcher_RunUntil(t *testing.T) {
	h := newHarness(t, func(cfg *dispatch.Config) { cfg.PollInterval = 10 * time.Millisecond })
	rv := newReceiver(t, nil)
	sub := h.subscribe(rv.URL, "")
	ev := h.create("billing")
	// Claiming stops StopBeforeDeadline before the deadline: here, in 200 ms.
	deadline := time.Now().Add(dispatch.StopBeforeDeadline + 200*time.Millisecond)
	if err := h.d.RunUntil(context.Background(), deadline); err != nil {
		t.Fatalf("RunUntil() = %v", err)
	}
	if time.Now().After(deadline) {
		t.Error("RunUntil returned after its deadline")
	}
	if d := h.delivery(sub, ev.ID); d.Status != triggers.DeliverySucceeded {
		t.Fatalf("delivery %s, want succeeded", d.Status)
	}
}

func TestBacklogCollector(t *testing.T) {
	h := newHarness(t, func(cfg *dispatch.Config) {})
	b, ok := h.store.(dispatch.Backlog)
	if !ok {
		t.Skip("the store has no DeliveryBacklog")
	}
	rv := newReceiver(t, status(500))
	h.subscribe(rv.URL, "")
	h.create("billing")
	h.clock.Advance(time.Minute)
	h.create("billing")
	h.clock.Advance(30 * time.Second)
	reg := prometheus.NewRegistry()
	reg.MustRegister(dispatch.NewBacklogCollector(b, h.clock.Now, slog.New(slog.DiscardHandler)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	want := map[string]float64{"triggers_webhook_deliveries_pending": 2, "triggers_webhook_oldest_pending_delivery_age_seconds": 90}
	if !maps.Equal(got, want) {
		t.Fatalf("backlog gauges = %v, want %v", got, want)
	}
}

// TestDispatcher_HugeResponse: a receiver answering an endless error body
// costs one bounded read, and the log keeps a short excerpt of it.
func TestDispatcher_HugeResponse(t *testing.T) {
	h := newHarness(t, nil)
	rv := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusBadGateway)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1 << 10 { // 64 MiB unless the client goes away
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	sub := h.subscribe(rv.URL, "")
	ev := h.create("billing")
	h.runOnce(1)
	a := h.delivery(sub, ev.ID).Attempts[0]
	if a.StatusCode != 502 || !strings.HasPrefix(a.Error, "HTTP 502: xxx") || len(a.Error) > 220 {
		t.Fatalf("attempt %d %q (%d bytes), want 502 with a short excerpt", a.StatusCode, a.Error, len(a.Error))
	}
}

// TestDispatcher_Wake: Run waiting for its next poll (an hour away here)
// claims at once when woken, as a create wakes it in a server.
func TestDispatcher_Wake(t *testing.T) {
	claims := make(chan int, 10)
	h := newHarness(t, func(cfg *dispatch.Config) {
		cfg.PollInterval = time.Hour
		cfg.Store = claimSignal{cfg.Store, claims}
	})
	got := make(chan struct{}, 1)
	rv := newReceiver(t, func(http.ResponseWriter, *http.Request, int) { got <- struct{}{} })
	h.subscribe(rv.URL, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if n := <-claims; n != 0 { // Run's first claim found nothing: it waits an hour
		t.Fatalf("first claim got %d deliveries, want 0", n)
	}
	h.create("billing")
	h.d.Wake()
	select {
	case <-got:
	case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
		t.Fatal("the woken dispatcher did not deliver")
	}
}

// claimSignal sends how many deliveries each claim got.
type claimSignal struct {
	triggers.WebhookStore
	claims chan<- int
}

func (c claimSignal) ClaimDeliveries(ctx context.Context, q triggers.ClaimQuery) ([]triggers.Delivery, error) {
	ds, err := c.WebhookStore.ClaimDeliveries(ctx, q)
	c.claims <- len(ds)
	return ds, err
}
