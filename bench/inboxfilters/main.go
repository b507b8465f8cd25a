// Command inboxfilters measures filtered inbox reads over HTTP on a large
// embedded store (issue 6): it loads N pending events of one tenant and N of
// other tenants through the store (not HTTP), starts a real server on a
// loopback port, and reports p50/p95 latencies of GET /v1/inbox for each
// filter, plus the cost of a selective filter no index serves.
//
//	go run ./bench/inboxfilters -n 1000000 -dir /tmp/inboxfilters
//
// The data directory is reused when it already holds the events, so that a
// second run measures without loading again.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/sqlite"
)

const (
	benchTenant = "bench"
	benchKey    = "bench-inbox-filters-key-0001"
	batch       = 2000
)

func main() {
	n := flag.Int("n", 1_000_000, "pending events of the measured tenant (as many again of other tenants)")
	dir := flag.String("dir", "", "data directory (default: a new temporary one)")
	requests := flag.Int("requests", 400, "requests per query kind")
	conc := flag.Int("c", 4, "concurrent clients")
	jsonOut := flag.String("json", "", "also write the results to this JSON file (for bench/all.sh)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "inboxfilters-")
		check(err)
		*dir = d
	}
	check(os.MkdirAll(*dir, 0o755))
	ctx := context.Background()
	db, err := sqlite.Open(*dir, nil)
	check(err)
	defer db.Close()
	svc := triggers.NewService(db, &triggers.Options{Retention: 30 * 24 * time.Hour})

	// A marker file records a finished load and its start instant.
	marker := filepath.Join(*dir, "inboxfilters.loaded")
	var start time.Time
	if b, err := os.ReadFile(marker); err == nil && strings.HasPrefix(string(b), strconv.Itoa(*n)+" ") {
		start, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(strings.SplitN(string(b), " ", 2)[1]))
		check(err)
		fmt.Fprintf(os.Stderr, "reusing %s\n", *dir)
	} else {
		start = time.Now().UTC().Add(-time.Duration(2**n+10) * time.Millisecond)
		load(ctx, db, *n, start)
		_, _, err := svc.CreateKey(ctx, triggers.KeySpec{Tenant: benchTenant, Raw: benchKey})
		check(err)
		check(os.WriteFile(marker, []byte(strconv.Itoa(*n)+" "+start.Format(time.RFC3339Nano)+"\n"), 0o644))
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := triggershttp.NewServer(svc, &triggershttp.Options{Logger: logger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String() + "/v1/inbox?"

	// The window holding 1 % of the tenant's events: 1 % of 2n events in
	// time, since the tenants' events alternate.
	first := start.Add(time.Millisecond)
	window := func(rng *rand.Rand) string {
		from := first.Add(time.Duration(rng.IntN(2**n*99/100)) * time.Millisecond)
		to := from.Add(time.Duration(2**n/100) * time.Millisecond)
		return "created_after=" + from.Format(time.RFC3339Nano) + "&created_before=" + to.Format(time.RFC3339Nano)
	}
	kinds := []struct {
		name  string
		query func(rng *rand.Rand) string
	}{
		{"no filter", func(*rand.Rand) string { return "limit=50" }},
		{"priority=high (10 %)", func(*rand.Rand) string { return "limit=50&priority=high" }},
		{"metadata.user_id=X (0.1 %)", func(rng *rand.Rand) string {
			return "limit=50&metadata.user_id=u" + strconv.Itoa(rng.IntN(1000))
		}},
		{"1 % created_after/before window", func(rng *rand.Rand) string { return "limit=50&" + window(rng) }},
		{"window + priority=high + source", func(rng *rand.Rand) string {
			return "limit=50&priority=high&source=src-" + strconv.Itoa(rng.IntN(5)) + "&" + window(rng)
		}},
		{"metadata.user_id + priority=high", func(rng *rand.Rand) string {
			return "limit=50&priority=high&metadata.user_id=u" + strconv.Itoa(rng.IntN(1000))
		}},
		{"unindexed: source + rare event_type (0.1 %)", func(*rand.Rand) string {
			return "limit=50&source=src-0&event_type=rare"
		}},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc}}
	fmt.Printf("# inbox filters: %d pending events of one tenant + %d of others, SQLite (%s), GOMAXPROCS %d, %d clients, %d requests each, limit 50, first pages\n\n",
		*n, *n, *dir, runtime.GOMAXPROCS(0), *conc, *requests)
	fmt.Println("| query | p50 | p95 | p99 | events/page (mean) | pages with next_cursor |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	res := results{N: *n, Clients: *conc, Requests: *requests}
	for _, k := range kinds {
		lat, events, withNext := measure(client, base, k.query, *requests, *conc)
		fmt.Printf("| %s | %s | %s | %s | %.1f | %d/%d |\n", k.name, pct(lat, 50), pct(lat, 95), pct(lat, 99), events, withNext, len(lat))
		res.Queries = append(res.Queries, queryResult{Name: k.name, P50: ms(lat, 50), P95: ms(lat, 95), P99: ms(lat, 99), EventsPerPage: events})
	}

	// The unindexed selective filter, followed to the end: how many pages
	// and requests it takes, and what each costs.
	fmt.Println()
	t0 := time.Now()
	pages, found, empty := 0, 0, 0
	var lat []time.Duration
	q := "limit=50&source=src-0&event_type=rare"
	cursor := ""
	for {
		u := base + q
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		s := time.Now()
		var body inboxBody
		get(client, u, &body)
		lat = append(lat, time.Since(s))
		pages++
		found += len(body.Events)
		if len(body.Events) == 0 {
			empty++
		}
		if body.Pagination.NextCursor == "" {
			break
		}
		cursor = body.Pagination.NextCursor
	}
	fmt.Printf("unindexed source=src-0&event_type=rare followed to the end: %d events in %d pages (%d empty, each with next_cursor), %s in all; per page p50 %s, p95 %s\n",
		found, pages, empty, time.Since(t0).Round(time.Millisecond), pct(lat, 50), pct(lat, 95))
	res.Unindexed = unindexedResult{Events: found, Pages: pages, TotalMS: float64(time.Since(t0).Microseconds()) / 1000, P50: ms(lat, 50), P95: ms(lat, 95)}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		check(err)
		check(os.WriteFile(*jsonOut, b, 0o644))
	}
}

// results is the -json output.
type results struct {
	N         int             `json:"n"`
	Clients   int             `json:"clients"`
	Requests  int             `json:"requests"`
	Queries   []queryResult   `json:"queries"`
	Unindexed unindexedResult `json:"unindexed_followed"`
}

type queryResult struct {
	Name          string  `json:"name"`
	P50           float64 `json:"p50_ms"`
	P95           float64 `json:"p95_ms"`
	P99           float64 `json:"p99_ms"`
	EventsPerPage float64 `json:"events_per_page"`
}

type unindexedResult struct {
	Events  int     `json:"events"`
	Pages   int     `json:"pages"`
	TotalMS float64 `json:"total_ms"`
	P50     float64 `json:"page_p50_ms"`
	P95     float64 `json:"page_p95_ms"`
}

func ms(lat []time.Duration, p int) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[min(len(s)-1, len(s)*p/100)].Microseconds()) / 1000
}

// load inserts n events of the bench tenant and n of ten other tenants,
// alternating, created 1 ms apart from start.
func load(ctx context.Context, db *sqlite.DB, n int, start time.Time) {
	t0 := time.Now()
	var ins []triggers.Insert
	flush := func() {
		if len(ins) == 0 {
			return
		}
		res, err := db.InsertEvents(ctx, ins)
		check(err)
		for _, r := range res {
			check(r.Err)
		}
		ins = ins[:0]
	}
	for i := range 2 * n {
		at := start.Add(time.Duration(i+1) * time.Millisecond)
		j := i / 2
		tenant := benchTenant
		if i%2 == 1 {
			tenant = "other-" + strconv.Itoa(j%10)
		}
		// Independent attributes from a hash of j: priority (10 % high,
		// 10 % low), source (1 of 5), user_id (1 of 1000); one in a
		// thousand events of source src-0 is of type "rare".
		r := mix(uint64(j))
		priority := triggers.PriorityNormal
		switch r % 10 {
		case 3:
			priority = triggers.PriorityHigh
		case 7:
			priority = triggers.PriorityLow
		}
		source := "src-" + strconv.Itoa(int(r/10%5))
		eventType := "order.created"
		if source == "src-0" && r/50%1000 == 0 {
			eventType = "rare"
		}
		md, _ := json.Marshal(map[string]any{"priority": priority, "user_id": "u" + strconv.Itoa(int(r/50000%1000))})
		payload := fmt.Sprintf(`{"order_id":"o-%d","amount":%d,"currency":"EUR","lines":[{"sku":"sku-%d","qty":%d}],"note":"a typical order payload of a few hundred bytes"}`, j, j%997, j%113, 1+j%4)
		ins = append(ins, triggers.Insert{Event: triggers.Event{
			ID: triggers.NewEventID(at), Tenant: tenant, Source: source, EventType: eventType,
			Payload: json.RawMessage(payload), Metadata: md, Priority: priority, CreatedAt: at,
		}})
		if len(ins) == batch {
			flush()
		}
		if i%200_000 == 0 && i > 0 {
			fmt.Fprintf(os.Stderr, "loaded %d events (%.0f/s)\n", i, float64(i)/time.Since(t0).Seconds())
		}
	}
	flush()
	fmt.Fprintf(os.Stderr, "loaded %d events in %s (%.0f/s)\n", 2*n, time.Since(t0).Round(time.Second), float64(2*n)/time.Since(t0).Seconds())
}

// mix is SplitMix64's finalizer: a well-spread hash of i.
func mix(i uint64) uint64 {
	i += 0x9e3779b97f4a7c15
	i = (i ^ i>>30) * 0xbf58476d1ce4e5b9
	i = (i ^ i>>27) * 0x94d049bb133111eb
	return i ^ i>>31
}

type inboxBody struct {
	Events     []json.RawMessage `json:"events"`
	Pagination struct {
		NextCursor string `json:"next_cursor"`
	} `json:"pagination"`
}

func get(client *http.Client, u string, body *inboxBody) {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("X-API-Key", benchKey)
	resp, err := client.Do(req)
	check(err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		check(fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b))
	}
	check(json.NewDecoder(resp.Body).Decode(body))
}

// measure sends requests GETs of query from conc clients and returns the
// latencies, the mean events per page and how many pages had a next_cursor.
func measure(client *http.Client, base string, query func(*rand.Rand) string, requests, conc int) ([]time.Duration, float64, int) {
	var mu sync.Mutex
	var lat []time.Duration
	events, withNext := 0, 0
	var wg sync.WaitGroup
	per := requests / conc
	for c := range conc {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for range per {
				u := base + query(rng)
				s := time.Now()
				var body inboxBody
				get(client, u, &body)
				d := time.Since(s)
				mu.Lock()
				lat = append(lat, d)
				events += len(body.Events)
				if body.Pagination.NextCursor != "" {
					withNext++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat, float64(events) / float64(len(lat)), withNext
}

func pct(lat []time.Duration, p int) string { return fmt.Sprintf("%.2f ms", ms(lat, p)) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "inboxfilters:", err)
		os.Exit(1)
	}
}
