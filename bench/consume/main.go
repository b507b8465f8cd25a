// Command consume measures Triggers as a work queue (issue 13): producers
// create single events at full speed while consumers receive up to 25 under
// a lease with long polling and bulk-acknowledge them by lease. It reports
// whether consumption keeps up (the backlog over time, and how long the
// consumers take to drain it once producers stop) and the latency from an
// event's created_at to the moment a receive returned it.
//
//	consume -url http://127.0.0.1:8080 -key tk_... -d 10s
//
// It only talks to loopback addresses. The JSON result goes to stdout
// (-json) or a markdown line per figure (default).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	url, key   string
	duration   time.Duration
	drain      time.Duration
	producers  int
	consumers  int
	maxEvents  int
	waitSecs   int
	leaseSecs  int
	jsonOutput bool
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	flag.StringVar(&c.key, "key", os.Getenv("TRIGGERS_KEY"), "API key (default $TRIGGERS_KEY)")
	flag.DurationVar(&c.duration, "d", 10*time.Second, "how long producers create events")
	flag.DurationVar(&c.drain, "drain", 10*time.Second, "how long consumers may take to drain the backlog after producers stop")
	flag.IntVar(&c.producers, "producers", 1, "connections creating single events at full speed (0: consume a preloaded backlog for -d)")
	flag.IntVar(&c.consumers, "consumers", 4, "consumers, each receiving and bulk-acking in a loop")
	flag.IntVar(&c.maxEvents, "max", 25, "max_events of each receive")
	flag.IntVar(&c.waitSecs, "wait", 1, "wait_seconds of each receive (long polling)")
	flag.IntVar(&c.leaseSecs, "lease", 30, "lease_seconds of each receive")
	flag.BoolVar(&c.jsonOutput, "json", false, "print the result as JSON")
	flag.Parse()
	if err := checkLoopback(c.url); err != nil {
		fmt.Fprintln(os.Stderr, "consume:", err)
		os.Exit(2)
	}
	if c.key == "" {
		fmt.Fprintln(os.Stderr, "consume: -key (or TRIGGERS_KEY) is required")
		os.Exit(2)
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consume:", err)
		os.Exit(1)
	}
	if c.jsonOutput {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
		return
	}
	res.print(os.Stdout)
}

func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("-url %q: want http://127.0.0.1:PORT", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %q: only loopback addresses", raw)
	}
	return nil
}

// result is what one run measured.
type result struct {
	Config struct {
		Producers, Consumers, MaxEvents, WaitSeconds, LeaseSeconds int
		Seconds                                                    float64
	}
	Created, Acked, Receives, EmptyReceives, Errors int64
	CreatesPerSec, AcksPerSec, ReceivesPerSec       float64
	EventsPerReceive                                float64
	// BacklogMax is the largest created − acked seen at a 100 ms sample;
	// BacklogAtStop when producers stopped; DrainSeconds how long the
	// consumers then took to ack everything (-1: not within -drain). All
	// three are 0, 0 and -1 without producers: a preloaded backlog is not
	// counted.
	BacklogMax, BacklogAtStop int64
	DrainSeconds              float64
	// LatencyMs: created_at to the receive's answer, per event received.
	LatencyMs struct{ P50, P95, P99, Max float64 }
	// ReceiveMs: the receive request's own latency (long polls included).
	ReceiveMs  struct{ P50, P95, P99 float64 }
	FirstError string `json:",omitempty"`
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "| producers | consumers | created/s | acked/s | receives/s | events/receive | backlog max | backlog at stop | drain s | create→receive p50 ms | p95 ms | p99 ms | receive p95 ms | errors |\n")
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	// Without producers the backlog is a preload this program did not
	// count: its columns are left empty rather than created − acked < 0.
	backlogMax, backlogAtStop, drain := "—", "—", "—"
	if r.Config.Producers > 0 {
		backlogMax, backlogAtStop = strconv.FormatInt(r.BacklogMax, 10), strconv.FormatInt(r.BacklogAtStop, 10)
		drain = strconv.FormatFloat(r.DrainSeconds, 'f', 2, 64)
	}
	fmt.Fprintf(w, "| %d | %d | %.0f | %.0f | %.0f | %.1f | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %d |\n",
		r.Config.Producers, r.Config.Consumers, r.CreatesPerSec, r.AcksPerSec, r.ReceivesPerSec, r.EventsPerReceive,
		backlogMax, backlogAtStop, drain, r.LatencyMs.P50, r.LatencyMs.P95, r.LatencyMs.P99, r.ReceiveMs.P95, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintln(w, "first error:", r.FirstError)
	}
}

type client struct {
	http *http.Client
	base string
	key  string
}

func (c *client) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type received struct {
	Events []struct {
		EventID   string    `json:"event_id"`
		CreatedAt time.Time `json:"created_at"`
		Lease     struct {
			LeaseID string `json:"lease_id"`
		} `json:"lease"`
	} `json:"events"`
}

func run(ctx context.Context, c config) (*result, error) {
	cl := &client{base: c.url, key: c.key, http: &http.Client{
		Timeout:   time.Duration(c.waitSecs+10) * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: c.producers + c.consumers},
	}}
	var created, acked, receives, empty, errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if errs.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
	}
	var mu sync.Mutex
	var latencies, receiveTimes []time.Duration

	produceCtx, stopProducing := context.WithTimeout(ctx, c.duration)
	defer stopProducing()
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	start := time.Now()

	var producers, consumers sync.WaitGroup
	body := []byte(`{"source":"bench","event_type":"consume","payload":{"order":42,"note":"a payload of a typical size, about a hundred bytes long"}}`)
	for range c.producers {
		producers.Go(func() {
			for produceCtx.Err() == nil {
				if err := cl.post(produceCtx, "/v1/events", body, nil); err != nil {
					if produceCtx.Err() == nil {
						fail(err)
					}
					continue
				}
				created.Add(1)
			}
		})
	}
	recvBody := fmt.Appendf(nil, `{"max_events":%d,"wait_seconds":%d,"lease_seconds":%d}`, c.maxEvents, c.waitSecs, c.leaseSecs)
	for range c.consumers {
		consumers.Go(func() {
			for consumeCtx.Err() == nil {
				var got received
				t0 := time.Now()
				if err := cl.post(consumeCtx, "/v1/inbox/receive", recvBody, &got); err != nil {
					if consumeCtx.Err() == nil {
						fail(err)
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				now := time.Now()
				receives.Add(1)
				if len(got.Events) == 0 {
					empty.Add(1)
					continue
				}
				items := make([]map[string]string, len(got.Events))
				mu.Lock()
				receiveTimes = append(receiveTimes, now.Sub(t0))
				for i, e := range got.Events {
					latencies = append(latencies, now.Sub(e.CreatedAt))
					items[i] = map[string]string{"event_id": e.EventID, "lease_id": e.Lease.LeaseID}
				}
				mu.Unlock()
				ack, _ := json.Marshal(map[string]any{"items": items})
				var out struct {
					Successful []json.RawMessage `json:"successful"`
					Failed     []json.RawMessage `json:"failed"`
				}
				// Acks run to completion even while stopping: a lost ack
				// would only redeliver, but it would distort the counts.
				if err := cl.post(context.WithoutCancel(consumeCtx), "/v1/events/bulk/ack", ack, &out); err != nil {
					fail(err)
					continue
				}
				acked.Add(int64(len(out.Successful)))
				if len(out.Failed) > 0 {
					fail(errors.New("bulk ack failed items: " + string(out.Failed[0])))
				}
			}
		})
	}

	res := &result{}
	sample := time.NewTicker(100 * time.Millisecond)
	defer sample.Stop()
	backlog := func() int64 {
		if c.producers == 0 {
			return 0 // a preload, not counted here
		}
		return created.Load() - acked.Load()
	}
	for produceCtx.Err() == nil {
		select {
		case <-sample.C:
			res.BacklogMax = max(res.BacklogMax, backlog())
		case <-produceCtx.Done():
		}
	}
	producers.Wait()
	produced := time.Since(start)
	res.BacklogAtStop = backlog()
	res.DrainSeconds = -1
	drainStart := time.Now()
	for c.producers > 0 && time.Since(drainStart) < c.drain {
		if backlog() <= 0 {
			res.DrainSeconds = time.Since(drainStart).Seconds()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopConsuming()
	consumers.Wait()

	secs := produced.Seconds()
	res.Config.Producers, res.Config.Consumers, res.Config.MaxEvents = c.producers, c.consumers, c.maxEvents
	res.Config.WaitSeconds, res.Config.LeaseSeconds, res.Config.Seconds = c.waitSecs, c.leaseSecs, secs
	res.Created, res.Acked, res.Receives, res.EmptyReceives, res.Errors = created.Load(), acked.Load(), receives.Load(), empty.Load(), errs.Load()
	res.CreatesPerSec = float64(res.Created) / secs
	elapsed := time.Since(start).Seconds()
	res.AcksPerSec = float64(res.Acked) / elapsed
	res.ReceivesPerSec = float64(res.Receives) / elapsed
	if n := res.Receives - res.EmptyReceives; n > 0 {
		res.EventsPerReceive = float64(len(latencies)) / float64(n)
	}
	p := percentiles(latencies, 50, 95, 99, 100)
	res.LatencyMs.P50, res.LatencyMs.P95, res.LatencyMs.P99, res.LatencyMs.Max = p[0], p[1], p[2], p[3]
	p = percentiles(receiveTimes, 50, 95, 99)
	res.ReceiveMs.P50, res.ReceiveMs.P95, res.ReceiveMs.P99 = p[0], p[1], p[2]
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res, nil
}

// percentiles returns the given percentiles of ds in milliseconds.
func percentiles(ds []time.Duration, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(ds) == 0 {
		return out
	}
	slices.Sort(ds)
	for i, p := range ps {
		k := int(p / 100 * float64(len(ds)-1))
		out[i] = float64(ds[k].Microseconds()) / 1000
	}
	return out
}
