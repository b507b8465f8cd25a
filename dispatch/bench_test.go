package dispatch_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dispatch"
	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/sqlite"
)

const benchEventBody = `{"source":"billing","event_type":"invoice.paid","payload":{"invoice_id":"inv_1042","amount":129.5,"currency":"EUR"}}`

// benchSetup opens a SQLite store on a temporary file with one
// subscription to a loopback receiver that answers 204 at once and calls
// got, and a dispatcher on the real clock.
func benchSetup(b *testing.B, got func()) (*triggers.Service, *dispatch.Dispatcher) {
	b.Helper()
	store, err := sqlite.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	svc := triggers.NewService(store, nil)
	rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		got()
	}))
	b.Cleanup(rv.Close)
	if _, err := svc.CreateSubscription(context.Background(), tenant, []byte(`{"url":"`+rv.URL+`"}`)); err != nil {
		b.Fatal(err)
	}
	client := egress.NewClient(&egress.Guard{AllowPrivate: true}, "")
	b.Cleanup(client.CloseIdleConnections)
	d := dispatch.New(dispatch.Config{Store: store, Events: svc, Client: client, Logger: slog.New(slog.DiscardHandler)})
	return svc, d
}

// BenchmarkDispatcher_Deliveries measures deliveries per second to one
// subscription (at most 10 attempts at once) whose receiver answers at
// once, on the embedded store: b.N events are created first, then the
// dispatcher delivers them all.
func BenchmarkDispatcher_Deliveries(b *testing.B) {
	var n atomic.Int64
	done := make(chan struct{})
	svc, d := benchSetup(b, func() {
		if n.Add(1) == int64(b.N) {
			close(done)
		}
	})
	items := make([]json.RawMessage, triggers.BulkLimit)
	for i := range items {
		items[i] = json.RawMessage(benchEventBody)
	}
	for left := b.N; left > 0; left -= triggers.BulkLimit {
		if _, err := svc.CreateEvents(context.Background(), tenant, items[:min(left, triggers.BulkLimit)]); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	b.ResetTimer()
	go func() { d.Run(ctx); close(stopped) }()
	<-done
	b.StopTimer()
	cancel()
	<-stopped
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkDispatcher_CreateToDelivery measures, on an idle server, the
// time from a create's call to its delivery's arrival at the receiver:
// p50 and p95 over b.N events created one after the other.
func BenchmarkDispatcher_CreateToDelivery(b *testing.B) {
	arrived := make(chan time.Time, 1)
	svc, d := benchSetup(b, func() { arrived <- time.Now() })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	ne, err := triggers.ParseNewEvent([]byte(benchEventBody), "", "")
	if err != nil {
		b.Fatal(err)
	}
	// As a server wires it: a create wakes the dispatcher
	// (app.Open sets WebhookOptions.EventsStored); here by hand.
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := svc.CreateEvent(context.Background(), tenant, ne); err != nil {
			b.Fatal(err)
		}
		d.Wake()
		lat = append(lat, (<-arrived).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}
