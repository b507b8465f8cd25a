// Command load is a closed-loop HTTP load generator for measuring a Triggers
// server on the loopback interface.
//
// Each of -c workers sends requests back to back over its own keep-alive
// connection. Requests started during the first -warmup are not measured;
// then requests started during the next -d are. Latency is measured from just
// before the request is sent until its response body has been read to the
// end, and recorded in per-worker log-linear histograms (relative error below
// 0.4%) merged at the end.
//
// Definitions used in the report:
//
//   - requests: measured requests that completed (any outcome).
//   - non_2xx: of those, answered with a status outside 200-299.
//   - errors: of those, failed without a usable response (connect, timeout,
//     reset, body read error).
//   - rps: 2xx responses per second of the measurement window.
//   - p50/p95/p99/max: latency of the 2xx responses only, so that fast
//     refusals (429, 503) cannot make a server look quick. Any non-2xx or
//     error makes the exit status 1.
//   - peak_rss_mb: with -pid, the server's VmHWM (MiB) at the end, after it was
//     reset at the start of the window (see /proc/PID/clear_refs), or the
//     largest VmRSS sampled each second, whichever is larger.
//
// Scenario bulk sends POST /v1/events/bulk with 25 create items per request
// (each like a create scenario body): multiply rps by 25 for events/s.
//
// Scenario inbox sends GET /v1/inbox?limit=-inbox-limit, plus the filters of
// -inbox-query (e.g. priority=high or source=bench) when given. Flag
// -priority gives the created events (create, bulk, seed) a
// metadata.priority: low, normal or high, or mixed (low, normal, high in
// turn, request by request), so that a seed leaves a third of the events
// for an inbox filtered on priority=high.
//
// Scenario seed sends exactly -n creates, without warm-up, and stops; its
// time limit is -d when given, else 5 minutes.
//
// With -json, stdout holds one JSON object and the human-readable line goes to
// stderr; without it, the line goes to stdout. Exit status: 0 when every
// measured request succeeded, 1 when any failed or the run could not be done,
// 2 for invalid flags or a non-loopback -url.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	defaultSeedLimit = 5 * time.Minute
	maxSamples       = 5   // distinct failures printed
	sampleBodyBytes  = 300 // failure body bytes kept
)

type config struct {
	base         *url.URL
	key          string
	conc         int
	dur          time.Duration
	warmup       time.Duration
	timeout      time.Duration
	scenario     string
	payloadBytes int
	n            int
	pid          int
	inboxLimit   int
	inboxQuery   string // encoded extra inbox query parameters, "" for none
	priority     string
	json         bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.scenario == "ready" {
		return waitReady(ctx, cfg, stderr)
	}

	r := newRunner(cfg)
	if err := r.preflight(ctx, stderr); err != nil {
		fmt.Fprintln(stderr, "load: preflight:", err)
		return 1
	}
	res := r.run(ctx)

	line := res.humanLine()
	if cfg.json {
		fmt.Fprintln(stderr, line)
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintln(stdout, line)
	}
	for _, n := range res.notes {
		fmt.Fprintln(stderr, "load: note:", n)
	}
	for _, s := range res.samples {
		fmt.Fprintln(stderr, "load: failure:", s)
	}
	if !res.success() {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	rawURL := fs.String("url", "http://127.0.0.1:8080", "base URL of the server (loopback only)")
	fs.StringVar(&cfg.key, "key", "", "API key, sent as X-API-Key (needed by create, inbox, seed)")
	fs.IntVar(&cfg.conc, "c", 16, "concurrency: workers, one keep-alive connection each")
	fs.DurationVar(&cfg.dur, "d", 10*time.Second, "measured duration (seed: time limit, default 5m)")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up before measuring, excluded from stats (not for seed)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&cfg.scenario, "scenario", "health", "health | create | bulk | inbox | seed | ready (wait up to -d for GET /v1/health = 200)")
	fs.IntVar(&cfg.payloadBytes, "payload-bytes", 300, "size of the create payload JSON object, bytes (minimum 35)")
	fs.IntVar(&cfg.n, "n", 10000, "seed: number of events to create")
	fs.IntVar(&cfg.pid, "pid", 0, "server pid: sample its RSS from /proc/PID/status and report the peak")
	fs.IntVar(&cfg.inboxLimit, "inbox-limit", 50, "inbox: the limit query parameter")
	fs.StringVar(&cfg.inboxQuery, "inbox-query", "", "inbox: extra query parameters (filters), e.g. priority=high or source=bench&event_type=bench.created")
	fs.StringVar(&cfg.priority, "priority", "", "create, bulk, seed: metadata.priority of the events: low, normal, high, or mixed (each in turn); default none")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object to stdout (the human line goes to stderr)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	durSet := false
	fs.Visit(func(f *flag.Flag) { durSet = durSet || f.Name == "d" })

	var err error
	if cfg.base, err = parseLoopbackURL(*rawURL); err != nil {
		return cfg, err
	}
	switch cfg.scenario {
	case "health", "ready":
	case "create", "bulk", "inbox", "seed":
		if cfg.key == "" {
			return cfg, fmt.Errorf("-scenario %s needs -key", cfg.scenario)
		}
	default:
		return cfg, fmt.Errorf("unknown -scenario %q (want health, create, bulk, inbox, seed or ready)", cfg.scenario)
	}
	switch {
	case cfg.conc < 1 || cfg.conc > 10000:
		return cfg, fmt.Errorf("-c must be in 1..10000, got %d", cfg.conc)
	case cfg.dur <= 0:
		return cfg, fmt.Errorf("-d must be positive, got %v", cfg.dur)
	case cfg.warmup < 0:
		return cfg, fmt.Errorf("-warmup must not be negative, got %v", cfg.warmup)
	case cfg.timeout <= 0:
		return cfg, fmt.Errorf("-timeout must be positive, got %v", cfg.timeout)
	case cfg.payloadBytes < minPayloadBytes || cfg.payloadBytes > 350*1024:
		return cfg, fmt.Errorf("-payload-bytes must be in %d..%d, got %d", minPayloadBytes, 350*1024, cfg.payloadBytes)
	case cfg.scenario == "seed" && (cfg.n < 1 || cfg.n > 100_000_000):
		return cfg, fmt.Errorf("-n must be in 1..100000000, got %d", cfg.n)
	case cfg.pid < 0:
		return cfg, fmt.Errorf("-pid must be positive, got %d", cfg.pid)
	case cfg.inboxLimit < 1:
		return cfg, fmt.Errorf("-inbox-limit must be positive, got %d", cfg.inboxLimit)
	}
	switch cfg.priority {
	case "", "low", "normal", "high", "mixed":
	default:
		return cfg, fmt.Errorf("-priority must be low, normal, high or mixed, got %q", cfg.priority)
	}
	if cfg.inboxQuery != "" {
		q, err := url.ParseQuery(strings.TrimPrefix(cfg.inboxQuery, "?"))
		if err != nil {
			return cfg, fmt.Errorf("-inbox-query %q: %v", cfg.inboxQuery, err)
		}
		if q.Has("limit") || q.Has("cursor") {
			return cfg, fmt.Errorf("-inbox-query %q: use -inbox-limit for the limit; a cursor is not a filter", cfg.inboxQuery)
		}
		cfg.inboxQuery = q.Encode()
	}
	if cfg.scenario == "seed" {
		cfg.warmup = 0
		if !durSet {
			cfg.dur = defaultSeedLimit
		}
	}
	if cfg.pid > 0 {
		if _, err := readProcMem(cfg.pid); err != nil {
			return cfg, fmt.Errorf("-pid %d: %v", cfg.pid, err)
		}
	}
	return cfg, nil
}

// runner holds what the workers share.
type runner struct {
	cfg    config
	client *http.Client
	dials  atomic.Int64
	target string // full URL of the scenario's request
	method string

	claimed atomic.Int64 // seed: requests handed out

	failMu   sync.Mutex
	failSeen map[string]bool
	samples  []string
}

func newRunner(cfg config) *runner {
	r := &runner{cfg: cfg, failSeen: map[string]bool{}}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // never send load through a proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if !isLoopbackAddr(c.RemoteAddr()) {
				c.Close()
				return nil, fmt.Errorf("refusing non-loopback peer %s", c.RemoteAddr())
			}
			r.dials.Add(1)
			return c, nil
		},
		MaxIdleConns:        cfg.conc,
		MaxIdleConnsPerHost: cfg.conc,
		MaxConnsPerHost:     cfg.conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	r.client = &http.Client{
		Transport: tr,
		Timeout:   cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is a non-2xx answer, never followed
		},
	}
	base := cfg.base.String()
	switch cfg.scenario {
	case "health":
		r.method, r.target = http.MethodGet, base+"/v1/health"
	case "create", "seed":
		r.method, r.target = http.MethodPost, base+"/v1/events"
	case "bulk":
		r.method, r.target = http.MethodPost, base+"/v1/events/bulk"
	case "inbox":
		r.method, r.target = http.MethodGet, inboxURL(cfg)
	}
	return r
}

// inboxURL is the inbox request of the configuration: its limit and filters.
func inboxURL(cfg config) string {
	u := cfg.base.String() + "/v1/inbox?limit=" + strconv.Itoa(cfg.inboxLimit)
	if cfg.inboxQuery != "" {
		u += "&" + cfg.inboxQuery
	}
	return u
}

// outcome of one request.
type outcome struct {
	status int    // 0 when err != nil
	err    error  // transport error or body read error
	body   []byte // first bytes of a non-2xx body
}

// do sends one request and reads the whole response body.
func (r *runner) do(ctx context.Context, method, target string, body []byte, withKey bool) outcome {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return outcome{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if withKey && r.cfg.key != "" {
		req.Header.Set("X-API-Key", r.cfg.key)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	o := outcome{status: resp.StatusCode}
	if resp.StatusCode/100 != 2 {
		o.body, _ = io.ReadAll(io.LimitReader(resp.Body, sampleBodyBytes))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return outcome{err: fmt.Errorf("reading body of %d response: %w", resp.StatusCode, err)}
	}
	return o
}

// preflight checks that the server answers and, for the scenarios that need
// one, that the key is accepted, and reports the key's rate limit and, for
// inbox, how full the page is. Creates nothing.
func (r *runner) preflight(ctx context.Context, stderr io.Writer) error {
	base := r.cfg.base.String()
	o := r.do(ctx, http.MethodGet, base+"/v1/health", nil, false)
	if err := o.failure(); err != nil {
		return fmt.Errorf("GET /v1/health: %v", err)
	}
	if r.cfg.scenario == "health" {
		return nil
	}
	target := inboxURL(r.cfg)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", r.cfg.key)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET /v1/inbox: %v", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("GET /v1/inbox: reading body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/inbox with the key: status %d: %s", resp.StatusCode, truncate(body))
	}
	if lim := resp.Header.Get("X-RateLimit-Limit"); lim != "" {
		fmt.Fprintf(stderr, "load: key rate limit: %s requests/min, remaining %s\n", lim, resp.Header.Get("X-RateLimit-Remaining"))
		// What the limiter can admit during the run: a full burst plus the
		// refill. Below what a fast server answers, the run measures 429s.
		n, _ := strconv.ParseFloat(lim, 64)
		allowance := n + n*(r.cfg.warmup+r.cfg.dur).Minutes()
		want := 100_000.0
		if r.cfg.scenario == "seed" {
			want = float64(r.cfg.n)
		}
		if n > 0 && allowance < want {
			fmt.Fprintf(stderr, "load: warning: a limit of %s/min admits about %.0f requests in this run: expect 429s; "+
				"start the server with TRIGGERS_DEFAULT_RATE_LIMIT large, or use a key with a larger --rate-limit\n", lim, allowance)
		}
	}
	if r.cfg.scenario == "inbox" {
		var page struct {
			Events     []json.RawMessage `json:"events"`
			Pagination struct {
				NextCursor string `json:"next_cursor"`
			} `json:"pagination"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("GET /v1/inbox: body is not an inbox page: %v", err)
		}
		fmt.Fprintf(stderr, "load: inbox page: %d events (%d bytes), next_cursor present: %t\n",
			len(page.Events), len(body), page.Pagination.NextCursor != "")
		if len(page.Events) < r.cfg.inboxLimit {
			fmt.Fprintf(stderr, "load: warning: the inbox page is not full (%d < %d): seed events first to measure a realistic page\n",
				len(page.Events), r.cfg.inboxLimit)
		}
	}
	return nil
}

func (o outcome) failure() error {
	if o.err != nil {
		return o.err
	}
	if o.status/100 != 2 {
		return fmt.Errorf("status %d: %s", o.status, truncate(o.body))
	}
	return nil
}

// waitReady polls GET /v1/health until it answers 200 or -d has passed.
func waitReady(ctx context.Context, cfg config, stderr io.Writer) int {
	r := newRunner(cfg)
	deadline := time.Now().Add(cfg.dur)
	var last error
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		o := r.do(c, http.MethodGet, cfg.base.String()+"/v1/health", nil, false)
		cancel()
		if last = o.failure(); last == nil && o.status == http.StatusOK {
			return 0
		} else if last == nil {
			last = fmt.Errorf("status %d", o.status)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			fmt.Fprintf(stderr, "load: %s/v1/health not ready after %v: %v\n", cfg.base, cfg.dur, last)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// workerStats is owned by one worker until the run ends.
type workerStats struct {
	ok   *hist // latency of 2xx responses
	errs uint64
	// status counts every measured response by status code (index 0 unused).
	status [600]uint64
	other  uint64 // statuses outside 100..599
	seen   map[string]bool
}

// run runs the workers for the configured scenario and returns its result:
// the counts and latencies of the measured window, the server's memory and
// CPU when -pid is given, and notes on anything that makes the figures
// doubtful.
func (r *runner) run(ctx context.Context) *result {
	cfg := r.cfg
	var watch *procWatch
	if cfg.pid > 0 {
		watch = startProcWatch(cfg.pid)
	}

	// A run is bounded: by -d (plus warm-up) and the drain of the requests in
	// flight, each bounded by -timeout. The watchdog is a last resort.
	watchdog := time.AfterFunc(cfg.warmup+cfg.dur+cfg.timeout+15*time.Second, func() {
		fmt.Fprintln(os.Stderr, "load: watchdog: the run did not stop in time; exiting")
		os.Exit(1)
	})
	defer watchdog.Stop()

	times, stats := r.drive(ctx, watch)
	res := r.newResult()
	res.addCounts(stats)
	window := res.addTimes(cfg, times)
	if watch != nil {
		res.addServer(watch.finish(), cfg.pid, times.ws, window)
	}
	res.addNotes(ctx, cfg)
	r.failMu.Lock()
	res.samples = r.samples
	r.failMu.Unlock()
	return res
}

// runTimes are the instants of one run that its figures are computed from.
type runTimes struct {
	start time.Time // the workers started
	// ws and we bound the measured window: the requests started in it are
	// measured, and none starts at or after we.
	ws, we    time.Time
	end       time.Time // the last worker returned
	lastDone  int64     // UnixNano of the last measured completion, 0 if none
	clientCPU *float64  // this process's CPU use over the run, in CPUs; nil if unknown
}

// drive runs cfg.conc workers until the window ends (or ctx is done) and
// their requests in flight complete, starting the server's measured window
// after the warm-up, and returns the run's instants and each worker's
// counts.
func (r *runner) drive(ctx context.Context, watch *procWatch) (runTimes, []*workerStats) {
	cfg := r.cfg
	stats := make([]*workerStats, cfg.conc)
	for i := range stats {
		stats[i] = &workerStats{ok: newHist(), seen: map[string]bool{}}
	}

	start := time.Now()
	ws := start.Add(cfg.warmup) // window start
	we := ws.Add(cfg.dur)       // window end: no request starts at or after it
	var windowTimer *time.Timer
	if watch != nil {
		if cfg.warmup > 0 {
			windowTimer = time.AfterFunc(cfg.warmup, watch.beginWindow)
		} else {
			watch.beginWindow()
		}
	}
	selfCPU0, selfErr0 := readProcCPU(os.Getpid())

	var lastDone atomic.Int64 // UnixNano of the last measured completion
	var wg sync.WaitGroup
	for i := range cfg.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, i, ws, we, stats[i], &lastDone)
		}()
	}
	wg.Wait()
	end := time.Now()
	if windowTimer != nil {
		windowTimer.Stop()
	}
	selfCPU1, selfErr1 := readProcCPU(os.Getpid())

	t := runTimes{start: start, ws: ws, we: we, end: end, lastDone: lastDone.Load()}
	if selfErr0 == nil && selfErr1 == nil && end.After(start) {
		t.clientCPU = ptr(round((selfCPU1-selfCPU0).Seconds()/end.Sub(start).Seconds(), 2))
	}
	return t, stats
}

// newResult is the result of a run before its figures: what was run and
// on how many connections and CPUs.
func (r *runner) newResult() *result {
	cfg := r.cfg
	res := &result{
		Scenario:    cfg.scenario,
		Concurrency: cfg.conc,
		WarmupS:     cfg.warmup.Seconds(),
		Conns:       r.dials.Load(),
		Statuses:    map[string]uint64{},
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		CPUs:        runtime.NumCPU(),
	}
	if cfg.scenario == "create" || cfg.scenario == "bulk" || cfg.scenario == "seed" {
		res.PayloadBytes = cfg.payloadBytes
		res.Priority = cfg.priority
	}
	if cfg.scenario == "inbox" {
		res.InboxQuery = cfg.inboxQuery
	}
	return res
}

// addCounts adds the workers' counts: the statuses, the requests by
// outcome, and the latencies of the 2xx responses.
func (res *result) addCounts(stats []*workerStats) {
	all := newHist()
	var errs, non2xx, ok, other uint64
	for _, st := range stats {
		all.Merge(st.ok)
		errs += st.errs
		other += st.other
		for code, c := range st.status {
			if c == 0 {
				continue
			}
			res.Statuses[strconv.Itoa(code)] += c
			if code/100 == 2 {
				ok += c
			} else {
				non2xx += c
			}
		}
	}
	non2xx += other
	if other > 0 {
		res.Statuses["other"] = other
	}
	res.Requests = ok + non2xx + errs
	res.Errors = errs
	res.Non2xx = non2xx
	res.OK = ok
	res.P50 = ms(all.Quantile(0.50))
	res.P95 = ms(all.Quantile(0.95))
	res.P99 = ms(all.Quantile(0.99))
	res.Max = ms(all.Max())
	res.Mean = ms(all.Mean())
}

// addTimes adds the measured window and the rates over it, the drain and
// the client's CPU use, and returns the window.
//
// The window: for timed runs, from ws to we (requests started in it are
// measured; in steady state, starts per second = completions per second).
// For seed, from the start to the last completion.
func (res *result) addTimes(cfg config, t runTimes) time.Duration {
	window := cfg.dur
	if cfg.scenario == "seed" {
		window = t.end.Sub(t.start)
		if t.lastDone > 0 {
			window = time.Unix(0, t.lastDone).Sub(t.start)
		}
	} else if t.end.Before(t.we) { // interrupted
		window = max(t.end.Sub(t.ws), 0)
	}
	res.DurationS = round(window.Seconds(), 3)
	if window > 0 {
		res.RPS = round(float64(res.OK)/window.Seconds(), 1)
	}
	if t.lastDone > 0 && cfg.scenario != "seed" {
		if drain := time.Unix(0, t.lastDone).Sub(t.we); drain > 0 {
			res.DrainS = round(drain.Seconds(), 3)
		}
	}
	res.ClientCPU = t.clientCPU
	return window
}

// addServer adds the memory and CPU use of the server process pid, watched
// during the run; ws is the window's start.
func (res *result) addServer(pr procReport, pid int, ws time.Time, window time.Duration) {
	res.PeakRSSMB = ptr(round(float64(pr.PeakKB)/1024, 1))
	res.RSSEndMB = ptr(round(float64(pr.EndKB)/1024, 1))
	if pr.CPU >= 0 && window > 0 {
		// CPU time from the window start to now, over that wall time.
		res.ServerCPU = ptr(round(pr.CPU.Seconds()/time.Since(ws).Seconds(), 2))
	}
	if pr.PeakIsLife {
		res.notes = append(res.notes, "could not reset the server's VmHWM; peak_rss_mb is its lifetime peak")
	}
	if pr.Gone != nil {
		res.ServerGone = true
		res.notes = append(res.notes, fmt.Sprintf("server pid %d could not be read during the run (exited?): %v", pid, pr.Gone))
	}
}

// addNotes adds the notes on what makes the figures partial or doubtful: an
// interrupted run, a seed short of its target, reconnects, rate limiting, a
// load generator competing with the server for CPU.
func (res *result) addNotes(ctx context.Context, cfg config) {
	if ctx.Err() != nil {
		res.Interrupted = true
		res.notes = append(res.notes, "interrupted: partial results")
	}
	if cfg.scenario == "seed" {
		res.SeedTarget = cfg.n
		if res.OK != uint64(cfg.n) {
			res.notes = append(res.notes, fmt.Sprintf("seed created %d of %d events", res.OK, cfg.n))
		}
	}
	if res.Conns > int64(cfg.conc) {
		res.notes = append(res.notes, fmt.Sprintf("%d connections were opened for %d workers: the server (or errors) closed keep-alive connections, and reconnects are inside the latencies", res.Conns, cfg.conc))
	}
	if res.Statuses["429"] > 0 {
		res.notes = append(res.notes, "429 responses: the key's rate limit was reached; raise it (TRIGGERS_DEFAULT_RATE_LIMIT or keys update --rate-limit)")
	}
	if res.ClientCPU != nil && *res.ClientCPU > 0.5*float64(res.CPUs) {
		res.notes = append(res.notes, fmt.Sprintf("the load generator used %.2f of %d CPUs: on loopback it competes with the server; results are a lower bound", *res.ClientCPU, res.CPUs))
	}
}

func (r *runner) worker(ctx context.Context, id int, ws, we time.Time, st *workerStats, lastDone *atomic.Int64) {
	seed := r.cfg.scenario == "seed"
	// One body per priority in turn (one without -priority), each with
	// its sequence digits at seqOff, rewritten before each request.
	var bodies [][]byte
	var seqOff int
	if r.method == http.MethodPost {
		item, off := createBody(r.cfg.payloadBytes)
		for _, p := range priorities(r.cfg.priority) {
			b, o := withPriority(item, p), off
			if r.cfg.scenario == "bulk" {
				b, o = bulkBody(b, o)
			}
			bodies, seqOff = append(bodies, b), o
		}
	}
	var body []byte
	var seq uint64
	for ctx.Err() == nil {
		if seed {
			if r.claimed.Add(1) > int64(r.cfg.n) || !time.Now().Before(we) {
				return
			}
		}
		if bodies != nil {
			body = bodies[seq%uint64(len(bodies))]
			seq++
			putSeq(body[seqOff:], uint64(id)<<40|seq)
		}
		t0 := time.Now()
		if !t0.Before(we) {
			return
		}
		o := r.do(ctx, r.method, r.target, body, true)
		t1 := time.Now()
		if ctx.Err() != nil {
			return // interrupted: the request was cancelled, not failed
		}
		if t0.Before(ws) {
			if o.err != nil {
				time.Sleep(time.Millisecond)
			}
			continue // warm-up
		}
		// Completion times only grow within a worker; keep the largest overall.
		for {
			cur := lastDone.Load()
			if t1.UnixNano() <= cur || lastDone.CompareAndSwap(cur, t1.UnixNano()) {
				break
			}
		}
		switch {
		case o.err != nil:
			st.errs++
			r.noteFailure(st, "error: "+errClass(o.err), o.err.Error())
			time.Sleep(time.Millisecond) // do not spin on a refused connection
		case o.status >= 100 && o.status < 600:
			st.status[o.status]++
			if o.status/100 == 2 {
				st.ok.Record(t1.Sub(t0))
			} else {
				r.noteFailure(st, "status "+strconv.Itoa(o.status), truncate(o.body))
			}
		default:
			st.other++
			r.noteFailure(st, "status "+strconv.Itoa(o.status), truncate(o.body))
		}
	}
}

// noteFailure keeps the first few distinct failures for the report. Each
// worker reports a kind once, so a storm of failures takes the lock rarely.
func (r *runner) noteFailure(st *workerStats, kind, detail string) {
	if st.seen[kind] || len(st.seen) > 2*maxSamples {
		return
	}
	st.seen[kind] = true
	r.failMu.Lock()
	defer r.failMu.Unlock()
	if r.failSeen[kind] || len(r.samples) >= maxSamples {
		return
	}
	r.failSeen[kind] = true
	r.samples = append(r.samples, kind+": "+detail)
}

// errClass reduces a transport error to a kind without addresses and ports.
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed early (EOF)"
	}
	return "transport"
}

// minPayloadBytes is the size of the payload object with an empty pad.
const minPayloadBytes = len(payloadHead) + seqDigits + len(payloadMid) + len(payloadTail)

const (
	bodyHead    = `{"source":"bench","event_type":"bench.created","payload":`
	payloadHead = `{"seq":"`
	seqDigits   = 16
	payloadMid  = `","pad":"`
	payloadTail = `"}`
	bodyTail    = `}`
)

// createBody returns a create request body whose payload object is exactly
// payloadBytes long, and the offset of the 16 hex digits of its sequence
// number, which each request rewrites in place (the body keeps its size).
func createBody(payloadBytes int) ([]byte, int) {
	pad := max(payloadBytes-minPayloadBytes, 0)
	var b []byte
	b = append(b, bodyHead...)
	b = append(b, payloadHead...)
	off := len(b)
	b = append(b, strings.Repeat("0", seqDigits)...)
	b = append(b, payloadMid...)
	b = append(b, strings.Repeat("x", pad)...)
	b = append(b, payloadTail...)
	b = append(b, bodyTail...)
	return b, off
}

// priorities lists the priorities that the bodies of -priority p take in
// turn; "" is a body without metadata.
func priorities(p string) []string {
	if p == "mixed" {
		return []string{"low", "normal", "high"}
	}
	return []string{p}
}

// withPriority returns a copy of the create body with metadata.priority p
// added at its end (the payload, and so the sequence digits' offset, are
// unchanged); "" leaves the body as it is.
func withPriority(body []byte, p string) []byte {
	out := append([]byte(nil), body...)
	if p == "" {
		return out
	}
	out = out[:len(out)-len(bodyTail)]
	out = append(out, `,"metadata":{"priority":"`+p+`"}`...)
	return append(out, bodyTail...)
}

// bulkItems is the number of create items in one bulk scenario request.
const bulkItems = 25

// bulkBody wraps bulkItems copies of a create body in {"items":[...]}; the
// returned offset is the first item's sequence digits.
func bulkBody(item []byte, seqOff int) ([]byte, int) {
	b := []byte(`{"items":[`)
	off := len(b) + seqOff
	for i := range bulkItems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, item...)
	}
	return append(b, "]}"...), off
}

// putSeq writes v as 16 lower-case hex digits into b.
func putSeq(b []byte, v uint64) {
	const hexd = "0123456789abcdef"
	for i := seqDigits - 1; i >= 0; i-- {
		b[i] = hexd[v&0xf]
		v >>= 4
	}
}

// result is the report of one run. The first fields are the stable summary
// the scripts read; the rest are diagnostics.
type result struct {
	Scenario    string   `json:"scenario"`
	Concurrency int      `json:"concurrency"`
	DurationS   float64  `json:"duration_s"`
	Requests    uint64   `json:"requests"`
	Errors      uint64   `json:"errors"`
	Non2xx      uint64   `json:"non_2xx"`
	RPS         float64  `json:"rps"`
	P50         float64  `json:"p50_ms"`
	P95         float64  `json:"p95_ms"`
	P99         float64  `json:"p99_ms"`
	Max         float64  `json:"max_ms"`
	PeakRSSMB   *float64 `json:"peak_rss_mb"`

	OK           uint64            `json:"ok"`
	Mean         float64           `json:"mean_ms"`
	Statuses     map[string]uint64 `json:"statuses"`
	WarmupS      float64           `json:"warmup_s"`
	DrainS       float64           `json:"drain_s"`
	Conns        int64             `json:"conns_opened"`
	RSSEndMB     *float64          `json:"rss_end_mb"`
	ServerCPU    *float64          `json:"server_cpu_cores"`
	ClientCPU    *float64          `json:"client_cpu_cores"`
	CPUs         int               `json:"cpus"`
	GOMAXPROCS   int               `json:"gomaxprocs"`
	PayloadBytes int               `json:"payload_bytes,omitempty"`
	Priority     string            `json:"priority,omitempty"`
	InboxQuery   string            `json:"inbox_query,omitempty"`
	SeedTarget   int               `json:"seed_target,omitempty"`
	ServerGone   bool              `json:"server_gone,omitempty"`
	Interrupted  bool              `json:"interrupted,omitempty"`

	notes   []string
	samples []string
}

func (r *result) success() bool {
	return r.Errors == 0 && r.Non2xx == 0 && !r.ServerGone && !r.Interrupted &&
		(r.SeedTarget == 0 || r.OK == uint64(r.SeedTarget))
}

func (r *result) humanLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: c=%d window=%.2fs requests=%d ok=%d non2xx=%d errors=%d rps(2xx)=%.1f",
		r.Scenario, r.Concurrency, r.DurationS, r.Requests, r.OK, r.Non2xx, r.Errors, r.RPS)
	fmt.Fprintf(&b, " latency(2xx) p50=%.3fms p95=%.3fms p99=%.3fms max=%.3fms", r.P50, r.P95, r.P99, r.Max)
	if r.PeakRSSMB != nil {
		fmt.Fprintf(&b, " peak_rss=%.1fMiB", *r.PeakRSSMB)
	}
	if r.ServerCPU != nil {
		fmt.Fprintf(&b, " server_cpu=%.2f", *r.ServerCPU)
	}
	if r.ClientCPU != nil {
		fmt.Fprintf(&b, " client_cpu=%.2f", *r.ClientCPU)
	}
	fmt.Fprintf(&b, " conns=%d", r.Conns)
	if r.Non2xx > 0 {
		codes := make([]string, 0, len(r.Statuses))
		for c := range r.Statuses {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%s×%d", c, r.Statuses[c]))
		}
		fmt.Fprintf(&b, " statuses=[%s]", strings.Join(parts, " "))
	}
	if !r.success() {
		b.WriteString(" FAILED")
	}
	return b.String()
}

func truncate(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return strconv.Quote(s)
}

func ms(d time.Duration) float64 { return round(float64(d)/1e6, 3) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func ptr[T any](v T) *T { return &v }
