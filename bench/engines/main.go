// Command engines measures what one event costs to write, durably, on the
// project's SQLite store and on an LSM (Pebble) given the same work: the
// event row and one key per SQLite index, so that the two can be compared
// on this machine (issue 17: "another embedded engine, chosen by
// measurement"). Writers call the engine concurrently, each waiting for its
// own write to be fsync'd, as HTTP handlers do; both engines group the
// concurrent writes into shared commits.
//
// It is a module of its own so that Pebble is not a dependency of the
// server. Run from this directory:
//
//	go run . -engine sqlite -c 16 -n 1
//	go run . -engine pebble -c 16 -n 25 -keys min
//
// It prints events per second and the process's CPU time (user + system,
// background compactions included) per event.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/sqlite"
)

// payload is the shared harness's event payload (../shared/load/run.sh).
var payload = json.RawMessage(`{"order_id":"ord-000001","customer":{"id":"cus-00001","email":"customer00001@example.com","name":"Jane Q. Customer"},"items":[{"sku":"SKU-1001","qty":2,"price_cents":1999},{"sku":"SKU-2002","qty":1,"price_cents":4999}],"total_cents":8997,"currency":"USD","note":"benchmark payload padding 0123456789abcdefghijklmnopqrstuvwxyz"}`)

var (
	priorities = []triggers.Priority{"low", "normal", "high"}
	eventTypes = []string{"order.created", "user.signup", "invoice.paid"}
)

// event returns the i-th event of the harness's bulk body: 4 sources, 3
// types, 3 priorities and a correlation id in its metadata.
func event(i int) triggers.Event {
	now := time.Now().UTC()
	return triggers.Event{ID: triggers.NewEventID(now), Tenant: "dev", Source: fmt.Sprintf("bench-src-%d", i%4),
		EventType: eventTypes[i%3], Priority: priorities[i%3], Payload: payload,
		Metadata:  json.RawMessage(fmt.Sprintf(`{"priority":%q,"correlation_id":"corr-%06d"}`, priorities[i%3], i)),
		CreatedAt: now}
}

// writeFunc stores evs durably, as one write.
type writeFunc func(evs []triggers.Event) error

func openSQLite(dir string) (writeFunc, func() error, error) {
	db, err := sqlite.Open(dir, nil)
	if err != nil {
		return nil, nil, err
	}
	write := func(evs []triggers.Event) error {
		ins := make([]triggers.Insert, len(evs))
		for i := range evs {
			ins[i] = triggers.Insert{Event: evs[i]}
		}
		res, err := db.InsertEvents(context.Background(), ins)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	}
	return write, db.Close, nil
}

// openPebble writes each event as the SQLite store lays it out: the row
// under its sequence number, and a key for each of the ten indexes an
// insert writes (by id, the four inbox indexes, idle, two by age, the
// metadata term and its by-event index), plus the three statistics
// counters per commit. With minKeys, only the row, by id and the inbox:
// what an LSM store that filters in memory would write.
func openPebble(dir string, minKeys bool) (writeFunc, func() error, error) {
	db, err := pebble.Open(dir, &pebble.Options{MemTableSize: 64 << 20})
	if err != nil {
		return nil, nil, err
	}
	var seq atomic.Uint64
	key := func(parts ...string) []byte {
		var k []byte
		for _, p := range parts {
			k = append(append(k, p...), 0)
		}
		return k
	}
	write := func(evs []triggers.Event) error {
		b := db.NewBatch()
		defer b.Close()
		for _, e := range evs {
			var sb, cb [8]byte
			binary.BigEndian.PutUint64(sb[:], seq.Add(1))
			binary.BigEndian.PutUint64(cb[:], uint64(e.CreatedAt.UnixMicro()))
			s, c, p := string(sb[:]), string(cb[:]), string(e.Priority)
			row, err := json.Marshal(e)
			if err != nil {
				return err
			}
			b.Set(key("e", e.Tenant, s), row, nil)
			b.Set(key("id", e.Tenant, e.ID), sb[:], nil)
			b.Set(key("inbox", e.Tenant, c, e.ID), []byte(p), nil)
			if minKeys {
				continue
			}
			b.Set(key("source", e.Tenant, e.Source, c, e.ID), []byte(e.EventType+p), nil)
			b.Set(key("type", e.Tenant, e.EventType, c, e.ID), []byte(e.Source+p), nil)
			b.Set(key("priority", e.Tenant, p, c, e.ID), []byte(e.Source+e.EventType), nil)
			b.Set(key("idle", e.Tenant, c, e.ID), []byte(p), nil)
			b.Set(key("age", c, s), nil, nil)
			b.Set(key("tenant_age", e.Tenant, c, s), nil, nil)
			b.Set(key("meta", e.Tenant, "correlation_id", "corr", c, e.ID), nil, nil)
			b.Set(key("meta_by_event", e.Tenant, e.ID, "correlation_id"), nil, nil)
		}
		if !minKeys {
			for _, k := range []string{"counts", "minutes", "detail"} {
				b.Set(key("stats", "dev", k), []byte("12345678"), nil)
			}
		}
		return b.Commit(pebble.Sync)
	}
	return write, db.Close, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	engine := flag.String("engine", "sqlite", "sqlite or pebble")
	keys := flag.String("keys", "all", "pebble: all (a key per SQLite index) or min (row, by id, inbox)")
	conns := flag.Int("c", 16, "concurrent writers, each waiting for its write to be durable")
	per := flag.Int("n", 1, "events per write (1: single creates; 25: bulk creates)")
	dur := flag.Duration("d", 5*time.Second, "how long to write")
	flag.Parse()
	log.SetFlags(0)

	dir, err := os.MkdirTemp("", "engines-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var write writeFunc
	var closeDB func() error
	switch *engine {
	case "sqlite":
		write, closeDB, err = openSQLite(dir)
	case "pebble":
		write, closeDB, err = openPebble(dir, *keys == "min")
	default:
		err = fmt.Errorf("unknown engine %q", *engine)
	}
	if err != nil {
		log.Fatal(err)
	}

	var written atomic.Int64
	var failed atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	cpu0, t0 := cpuTime(), time.Now()
	for w := range *conns {
		wg.Go(func() {
			for i := w; ; {
				select {
				case <-stop:
					return
				default:
				}
				evs := make([]triggers.Event, *per)
				for j := range evs {
					evs[j] = event(i)
					i++
				}
				if err := write(evs); err != nil {
					failed.Store(err)
					return
				}
				written.Add(int64(*per))
			}
		})
	}
	time.Sleep(*dur)
	close(stop)
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	if err := closeDB(); err != nil {
		log.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		log.Fatal(err)
	}
	n := written.Load()
	name := *engine
	if *engine == "pebble" {
		name += " (" + *keys + " keys)"
	}
	fmt.Printf("%-19s c=%d n=%-2d %8.0f events/s  %5.1f µs CPU/event\n", name, *conns, *per,
		float64(n)/elapsed.Seconds(), float64(cpu.Microseconds())/float64(n))
}
