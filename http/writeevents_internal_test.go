package http

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/mockstore"
)

// discardWriter is a ResponseWriter that keeps the headers and counts the
// body, holding none of it.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// TestInbox_BodyIsNotBuiltInMemory: answering a page of 10 events of 400 KB
// allocates a small part of the page (issue 14: a page's wire form was
// built whole beside its events, and held while a slow client read it),
// and the Content-Length it declares is the body it writes.
func TestInbox_BodyIsNotBuiltInMemory(t *testing.T) {
	const raw = "alloc-test-key"
	now := time.Now().UTC()
	events := make([]triggers.Event, 10)
	for i := range events {
		events[i] = triggers.Event{ID: triggers.NewEventID(now), Tenant: "t", Source: "s", EventType: "e",
			Payload:   json.RawMessage(`{"x":"` + strings.Repeat("p", 400_000) + `"}`),
			Metadata:  json.RawMessage(`{"priority":"normal"}`),
			Priority:  triggers.PriorityNormal,
			CreatedAt: now.Add(-time.Minute),
		}
	}
	store := &mockstore.Store{
		KeyByHashFn: func(ctx context.Context, hash string) (triggers.APIKey, error) {
			return triggers.APIKey{ID: "key_alloc", Hash: hash, Tenant: "t", Active: true}, nil
		},
		ListPendingFn: func(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
			// A fresh slice each time: the handler gives up the events it
			// was given (writeEvents).
			return triggers.Page{Events: append([]triggers.Event(nil), events...)}, nil
		},
		ReceiveEventsFn: func(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
			got := append([]triggers.Event(nil), events...)
			for i := range got {
				got[i].LeaseID, got[i].LeaseExpiresAt, got[i].Attempts = q.LeaseIDs[i], q.LeaseExpiresAt, 1
			}
			return triggers.Received{Events: got}, nil
		},
	}
	srv := NewServer(triggers.NewService(store, nil), &Options{Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"Inbox", "GET", "/v1/inbox?limit=100", ""},
		{"Receive", "POST", "/v1/inbox/receive", `{"max_events":25}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serve := func() *discardWriter {
				req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				req.Header.Set("X-API-Key", raw)
				req.Header.Set("Content-Type", "application/json")
				w := &discardWriter{header: http.Header{}}
				srv.Handler().ServeHTTP(w, req)
				return w
			}
			w := serve() // warm up: key cache, metrics
			if w.status != http.StatusOK || w.header.Get("Content-Length") != strconv.Itoa(w.n) {
				t.Fatalf("%s %s = %d, Content-Length %s, %d bytes written", tc.method, tc.path, w.status, w.header.Get("Content-Length"), w.n)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			serve()
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("%s %s of %d bytes allocated %d bytes, want at most 1 MiB", tc.method, tc.path, w.n, got)
			}
		})
	}
}
