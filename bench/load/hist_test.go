package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	if q <= 0 {
		return sorted[0]
	}
	if q >= 1 {
		return sorted[len(sorted)-1]
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestHist_Quantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int, f func(i int) time.Duration) []time.Duration {
		v := make([]time.Duration, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	tests := []struct {
		name   string
		values []time.Duration
		relErr float64 // allowed relative error against the exact quantile
	}{
		{"OneValue", []time.Duration{1234567}, 0},
		{"SmallExact", gen(1000, func(i int) time.Duration { return time.Duration(i % 200) }), 0},
		{"Constant", gen(500, func(int) time.Duration { return 3 * time.Millisecond }), 0},
		{"UniformMicros", gen(100_000, func(int) time.Duration {
			return time.Duration(rng.Int64N(int64(10 * time.Millisecond)))
		}), 0.005},
		{"LogNormal", gen(200_000, func(int) time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*1.5 + math.Log(float64(800*time.Microsecond))))
		}), 0.005},
		{"Bimodal", gen(50_000, func(i int) time.Duration {
			if i%100 == 0 {
				return 2*time.Second + time.Duration(rng.Int64N(int64(time.Second)))
			}
			return 100*time.Microsecond + time.Duration(rng.Int64N(int64(50*time.Microsecond)))
		}), 0.005},
		{"Huge", []time.Duration{time.Hour, 24 * time.Hour, math.MaxInt64}, 0.005},
	}
	qs := []float64{0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Record into several histograms and merge, as the workers do.
			parts := []*hist{newHist(), newHist(), newHist()}
			for i, v := range tt.values {
				parts[i%len(parts)].Record(v)
			}
			h := newHist()
			for _, p := range parts {
				h.Merge(p)
			}
			sorted := slices.Clone(tt.values)
			slices.Sort(sorted)
			if got, want := h.Count(), uint64(len(sorted)); got != want {
				t.Fatalf("Count() = %d, want %d", got, want)
			}
			if got, want := h.Max(), sorted[len(sorted)-1]; got != want {
				t.Errorf("Max() = %v, want %v", got, want)
			}
			for _, q := range qs {
				got, want := h.Quantile(q), exactQuantile(sorted, q)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > tt.relErr {
					t.Errorf("Quantile(%v) = %v, want %v (relative error %.4f > %.4f)", q, got, want, rel, tt.relErr)
				}
			}
		})
	}
}

func TestHist_Empty(t *testing.T) {
	h := newHist()
	h.Merge(newHist())
	for _, q := range []float64{0, 0.5, 1} {
		if got := h.Quantile(q); got != 0 {
			t.Errorf("Quantile(%v) = %v, want 0", q, got)
		}
	}
	if h.Max() != 0 || h.Mean() != 0 {
		t.Errorf("Max(), Mean() = %v, %v, want 0, 0", h.Max(), h.Mean())
	}
}

func TestBucketRange(t *testing.T) {
	// Every value falls inside its bucket, buckets are at most 1/subCount of
	// their lower bound wide, and indexes stay in range.
	check := func(v int64) {
		t.Helper()
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		low, width := bucketRange(i)
		if v < low || v-low >= width {
			t.Fatalf("bucketOf(%d) = %d with range [%d, %d+%d)", v, i, low, low, width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/subCount {
			t.Fatalf("bucket %d: width %d too wide for low %d", i, width, low)
		}
	}
	for v := int64(0); v < 100_000; v++ {
		check(v)
	}
	for s := 17; s < 63; s++ {
		for _, d := range []int64{-1, 0, 1} {
			check(int64(1)<<s + d)
		}
	}
	check(math.MaxInt64)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		check(rng.Int64())
	}
}

func TestCreateBody(t *testing.T) {
	tests := []struct {
		payloadBytes int
	}{{minPayloadBytes}, {100}, {300}, {4096}}
	for _, tt := range tests {
		body, off := createBody(tt.payloadBytes)
		putSeq(body[off:], 7<<40|12345)
		var req struct {
			Source    string          `json:"source"`
			EventType string          `json:"event_type"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("createBody(%d): invalid JSON %s: %v", tt.payloadBytes, body, err)
		}
		if got := len(req.Payload); got != tt.payloadBytes {
			t.Errorf("createBody(%d): payload is %d bytes, want %d", tt.payloadBytes, got, tt.payloadBytes)
		}
		if req.Source != "bench" || req.EventType != "bench.created" {
			t.Errorf("createBody(%d): source, event_type = %q, %q", tt.payloadBytes, req.Source, req.EventType)
		}
		var p struct{ Seq string }
		if err := json.Unmarshal(req.Payload, &p); err != nil || p.Seq != "0000070000003039" {
			t.Errorf("createBody(%d): seq = %q, %v, want 0000070000003039", tt.payloadBytes, p.Seq, err)
		}
	}
}

func TestParseLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.0.0.1:8080/", true},
		{"http://127.1.2.3:80", true},
		{"http://localhost:8080", true},
		{"http://LOCALHOST:8080", true},
		{"http://[::1]:8080", true},
		{"https://[::ffff:127.0.0.1]:8443", true},
		{"http://10.0.0.1:8080", false},
		{"http://128.0.0.1:8080", false},
		{"http://0.0.0.0:8080", false},
		{"http://[::]:8080", false},
		{"http://example.com", false},
		{"http://localhost.example.com:8080", false},
		{"http://127.0.0.1.nip.io:8080", false},
		{"http://[fe80::1%25lo]:8080", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
		{"http://127.0.0.1:8080/v1", false},
		{"http://user:pw@127.0.0.1:8080", false},
		{"http://127.0.0.1:8080?x=1", false},
	}
	for _, tt := range tests {
		_, err := parseLoopbackURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("parseLoopbackURL(%q) error = %v, want ok=%t", tt.url, err, tt.ok)
		}
	}
}

func TestWithPriority(t *testing.T) {
	item, off := createBody(300)
	for _, p := range []string{"", "low", "normal", "high"} {
		for _, bulk := range []bool{false, true} {
			body, o := withPriority(item, p), off
			if bulk {
				body, o = bulkBody(body, o)
			}
			putSeq(body[o:], 7<<40|12345)
			var one struct {
				Payload  struct{ Seq string } `json:"payload"`
				Metadata *struct {
					Priority string `json:"priority"`
				} `json:"metadata"`
			}
			if bulk {
				var b struct{ Items []json.RawMessage }
				if err := json.Unmarshal(body, &b); err != nil || len(b.Items) != bulkItems {
					t.Fatalf("priority %q bulk: %v, %d items", p, err, len(b.Items))
				}
				body = b.Items[0]
			}
			if err := json.Unmarshal(body, &one); err != nil {
				t.Fatalf("priority %q: invalid JSON %s: %v", p, body, err)
			}
			if one.Payload.Seq != "0000070000003039" {
				t.Errorf("priority %q bulk %v: seq %q", p, bulk, one.Payload.Seq)
			}
			if got := ""; one.Metadata != nil {
				got = one.Metadata.Priority
				if got != p {
					t.Errorf("priority %q bulk %v: metadata.priority %q", p, bulk, got)
				}
			} else if p != "" {
				t.Errorf("priority %q bulk %v: no metadata", p, bulk)
			}
		}
	}
	if got := priorities("mixed"); len(got) != 3 {
		t.Fatalf("priorities(mixed) = %v", got)
	}
}
