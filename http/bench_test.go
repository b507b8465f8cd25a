package http_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	triggers "github.com/triggersapi/triggers"
)

// benchRequest sends one request and drains the response; it fails the
// benchmark on any status but want.
func benchRequest(b *testing.B, c *http.Client, method, url, body string, want int) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-API-Key", keyA)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s = %d, want %d", method, url, resp.StatusCode, want)
	}
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

// The HTTP benchmarks run the real server on loopback with parallel
// clients (GOMAXPROCS x 8 goroutines): they measure the whole request path,
// client included, so compare them as ratios within one run.

func BenchmarkHealth(b *testing.B) {
	s := MustStart(b, nil)
	c := benchClient()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchRequest(b, c, "GET", s.URL+"/v1/health", "", 200)
		}
	})
}

var benchEventBody = `{"source":"bench","event_type":"bench.created","payload":{"data":"` + strings.Repeat("x", 280) + `"}}`

func BenchmarkCreateEvent(b *testing.B) {
	s := MustStart(b, nil)
	c := benchClient()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchRequest(b, c, "POST", s.URL+"/v1/events", benchEventBody, 201)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkInbox(b *testing.B) {
	s := MustStart(b, nil)
	items := make([]json.RawMessage, triggers.BulkLimit)
	for i := range items {
		items[i] = json.RawMessage(benchEventBody)
	}
	for range 10_000 / triggers.BulkLimit { // 10,000 pending events
		if _, err := s.Service.CreateEvents(context.Background(), "tenant-a", items); err != nil {
			b.Fatal(err)
		}
	}
	c := benchClient()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchRequest(b, c, "GET", s.URL+"/v1/inbox?limit=50", "", 200)
		}
	})
}

var benchBulkBody = func() string {
	items := make([]string, triggers.BulkLimit)
	for i := range items {
		items[i] = benchEventBody
	}
	return `{"items":[` + strings.Join(items, ",") + `]}`
}()

// BenchmarkBulkCreate25 creates 25 events per request; compare its
// events/s metric with BenchmarkCreateEvent's ns/op (one event per op).
func BenchmarkBulkCreate25(b *testing.B) {
	s := MustStart(b, nil)
	c := benchClient()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchRequest(b, c, "POST", s.URL+"/v1/events/bulk", benchBulkBody, 200)
		}
	})
	b.ReportMetric(float64(b.N*triggers.BulkLimit)/b.Elapsed().Seconds(), "events/s")
}
