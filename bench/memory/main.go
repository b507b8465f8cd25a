// Command memory measures the peak memory of a Triggers server under the
// load of issue 14 (bounded memory per response): inbox pages of large
// events read by slow clients, and concurrent large bulk creates.
//
//	memory -url http://127.0.0.1:8080 -key KEY -pid PID
//
// It seeds -events events of -size payload bytes (unless -seed=false), then
// runs each phase (a row of a markdown table) on its own: "readers" (-readers raw TCP clients each
// asking GET /v1/inbox?limit=-limit and reading -chunk bytes every -every),
// "bulk" (-bulks concurrent POST /v1/events/bulk of 25 such events, about
// 10 MB each) and "both" at once. Before each phase it resets the server's
// peak RSS (writing 5 to /proc/PID/clear_refs) and reports VmHWM after it,
// with the highest VmRSS it sampled every 20 ms. A Go server keeps the heap
// a phase grew, so a phase after another starts high: bench/memory.sh runs
// each phase on a freshly started server with a fresh data directory.
//
// It only talks to loopback addresses, and only reads /proc of the -pid
// given, which must be the server's.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	url, key string
	pid      int
	seed     bool
	events   int
	size     int
	limit    int
	readers  int
	chunk    int
	every    time.Duration
	bulks    int
	phases   string
	header   bool
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	flag.StringVar(&c.key, "key", os.Getenv("TRIGGERS_KEY"), "API key (default $TRIGGERS_KEY)")
	flag.IntVar(&c.pid, "pid", 0, "the server's process id, for /proc/PID/status (required)")
	flag.BoolVar(&c.seed, "seed", true, "create -events events first")
	flag.IntVar(&c.events, "events", 200, "events to seed")
	flag.IntVar(&c.size, "size", 400_000, "payload bytes of each event")
	flag.IntVar(&c.limit, "limit", 100, "limit of each slow reader's inbox page")
	flag.IntVar(&c.readers, "readers", 8, "slow readers")
	flag.IntVar(&c.chunk, "chunk", 64<<10, "bytes a slow reader reads at a time")
	flag.DurationVar(&c.every, "every", 100*time.Millisecond, "how often a slow reader reads -chunk bytes")
	flag.IntVar(&c.bulks, "bulks", 8, "concurrent bulk creates of 25 events of -size bytes")
	flag.StringVar(&c.phases, "phases", "readers,bulk,both", "phases to run, comma-separated")
	flag.BoolVar(&c.header, "header", true, "print the table's header")
	flag.Parse()
	if err := checkLoopback(c.url); err != nil {
		fail(err)
	}
	if c.key == "" || c.pid <= 0 {
		fail(errors.New("-key and -pid are required"))
	}
	if err := run(c); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "memory:", err)
	os.Exit(1)
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

func run(c config) error {
	client := &http.Client{Timeout: 5 * time.Minute}
	item := eventJSON(c.size)
	if c.seed {
		for i := 0; i < c.events; i++ {
			status, body, err := post(client, c, "/v1/events", item)
			if err != nil || status != http.StatusCreated {
				return fmt.Errorf("seed event %d: status %d, %v: %.200s", i, status, err, body)
			}
		}
	}
	if c.header {
		fmt.Println("| phase | peak RSS (VmHWM) | max sampled VmRSS | RSS before | outcome |")
		fmt.Println("|---|---:|---:|---:|---|")
	}
	for _, phase := range strings.Split(c.phases, ",") {
		var readers, bulks bool
		switch phase {
		case "readers":
			readers = true
		case "bulk":
			bulks = true
		case "both":
			readers, bulks = true, true
		default:
			return fmt.Errorf("unknown phase %q", phase)
		}
		time.Sleep(2 * time.Second) // let the server's heap settle
		before, _ := procStatus(c.pid, "VmRSS")
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.pid), []byte("5"), 0); err != nil {
			return fmt.Errorf("reset the peak RSS: %w", err)
		}
		stop := make(chan struct{})
		var maxRSS atomic.Int64
		var sampled sync.WaitGroup
		sampled.Go(func() {
			for {
				if v, err := procStatus(c.pid, "VmRSS"); err == nil && v > maxRSS.Load() {
					maxRSS.Store(v)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
		var outcome []string
		var mu sync.Mutex
		note := func(s string) { mu.Lock(); outcome = append(outcome, s); mu.Unlock() }
		var wg sync.WaitGroup
		if readers {
			wg.Go(func() { note(slowReaders(c)) })
		}
		if bulks {
			wg.Go(func() { note(bulkCreates(client, c, item)) })
		}
		wg.Wait()
		close(stop)
		sampled.Wait()
		hwm, err := procStatus(c.pid, "VmHWM")
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", phase, mib(hwm), mib(maxRSS.Load()), mib(before), strings.Join(outcome, "; "))
	}
	return nil
}

// eventJSON is one create body with a payload of about size bytes.
func eventJSON(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"source":"bench","event_type":"big","payload":{"blob":"`)
	b.WriteString(strings.Repeat("x", max(size-12, 1)))
	b.WriteString(`"}}`)
	return b.Bytes()
}

func post(client *http.Client, c config, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest("POST", c.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// slowReaders runs c.readers raw TCP clients, each asking for one inbox
// page and reading it c.chunk bytes at a time, and describes the outcome.
func slowReaders(c config) string {
	u, _ := url.Parse(c.url)
	type result struct {
		status        int
		contentLength int64
		body          int64
		events        int
		cursor        bool
		err           error
		took          time.Duration
	}
	results := make([]result, c.readers)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			start := time.Now()
			r := &results[i]
			defer func() { r.took = time.Since(start) }()
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				r.err = err
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET /v1/inbox?limit=%d HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\nConnection: close\r\n\r\n", c.limit, u.Host, c.key)
			br := bufio.NewReaderSize(conn, c.chunk)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				r.err = err
				return
			}
			r.status, r.contentLength = resp.StatusCode, resp.ContentLength
			var body bytes.Buffer
			buf := make([]byte, c.chunk)
			for {
				conn.SetReadDeadline(time.Now().Add(time.Minute))
				n, err := io.ReadFull(resp.Body, buf)
				body.Write(buf[:n])
				r.body += int64(n)
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						r.err = err
					}
					break
				}
				time.Sleep(c.every)
			}
			var page struct {
				Events     []json.RawMessage `json:"events"`
				Pagination struct {
					NextCursor string `json:"next_cursor"`
				} `json:"pagination"`
			}
			if r.body == r.contentLength && json.Unmarshal(body.Bytes(), &page) == nil {
				r.events, r.cursor = len(page.Events), page.Pagination.NextCursor != ""
			}
		})
	}
	wg.Wait()
	complete, cut := 0, 0
	var events, bodyBytes int64
	var longest time.Duration
	var errs []string
	for _, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err.Error())
		case r.status == http.StatusOK && r.body == r.contentLength:
			complete++
			events += int64(r.events)
		default:
			cut++
		}
		bodyBytes = max(bodyBytes, r.contentLength)
		longest = max(longest, r.took)
	}
	s := fmt.Sprintf("%d readers: %d complete, %d cut off; body %s; %d events per page; longest %.1f s",
		c.readers, complete, cut, mib(bodyBytes), events/int64(max(complete, 1)), longest.Seconds())
	if len(errs) > 0 {
		s += "; errors: " + strings.Join(errs, ", ")
	}
	return s
}

// bulkCreates sends c.bulks bulk creates of 25 events at once and counts
// the statuses.
func bulkCreates(client *http.Client, c config, item []byte) string {
	var body bytes.Buffer
	body.WriteString(`{"items":[`)
	for i := 0; i < 25; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(item)
	}
	body.WriteString(`]}`)
	statuses := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range c.bulks {
		wg.Go(func() {
			status, _, err := post(client, c, "/v1/events/bulk", body.Bytes())
			k := strconv.Itoa(status)
			if err != nil {
				k = "error"
			}
			mu.Lock()
			statuses[k]++
			mu.Unlock()
		})
	}
	wg.Wait()
	var parts []string
	for k, n := range statuses {
		parts = append(parts, fmt.Sprintf("%d× %s", n, k))
	}
	return fmt.Sprintf("%d bulk creates of %s: %s in %.1f s", c.bulks, mib(int64(body.Len())),
		strings.Join(parts, ", "), time.Since(start).Seconds())
}

// procStatus returns a "kB" field of /proc/PID/status in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
