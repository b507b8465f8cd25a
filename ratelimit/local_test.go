package ratelimit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triggersapi/triggers/ratelimit"
)

// TestLocal_sameAsDecide plays random requests over a few keys through a
// Local and through Decide with a map, and wants the same decisions.
func TestLocal_sameAsDecide(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	l := ratelimit.NewLocal()
	want := map[string]time.Time{}
	keys := []string{"a", "b", "c", "key_0123456789", ""}
	limits := map[string]int{"a": 1, "b": 3, "c": 10, "key_0123456789": 100, "": 7}
	now := t0
	for i := range 20000 {
		now = now.Add(time.Duration(r.Int64N(int64(2 * time.Second))))
		k := keys[r.IntN(len(keys))]
		got, err := l.Take(ctx, k, limits[k], now)
		if err != nil {
			t.Fatalf("step %d: Take: %v", i, err)
		}
		d, tat := ratelimit.Decide(want[k], limits[k], now)
		want[k] = tat
		if got != d {
			t.Fatalf("step %d: key %q at %s: Take = %+v, Decide = %+v", i, k, rel(now), got, d)
		}
	}
}

func TestLocal_keysIndependent(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.NewLocal()
	take := func(key string, limit int) ratelimit.Decision {
		t.Helper()
		d, err := l.Take(ctx, key, limit, t0)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for range 3 {
		take("a", 3)
	}
	if d := take("a", 3); d.Allowed {
		t.Fatalf("a: 4th of 3 admitted")
	}
	// Exhausting a leaves b (and 999 others) untouched.
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i)
		if d := take(k, 3); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("%s after a is exhausted: %+v, want a fresh key", k, d)
		}
	}
	if d := take("a", 3); d.Allowed {
		t.Fatalf("a admitted after other keys were used")
	}
}

// TestLocal_concurrentOneKey: from an idle key with limit L, 3L concurrent
// requests at one instant admit exactly L. Run with -race.
func TestLocal_concurrentOneKey(t *testing.T) {
	ctx := context.Background()
	for _, L := range []int{1, 10, 100, 1000} {
		l := ratelimit.NewLocal()
		var admitted, refused atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 3 * L {
			wg.Go(func() {
				<-start
				d, err := l.Take(ctx, "hot", L, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				} else {
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if admitted.Load() != int64(L) || refused.Load() != int64(2*L) {
			t.Errorf("limit %d: %d concurrent requests: %d admitted, %d refused; want %d admitted",
				L, 3*L, admitted.Load(), refused.Load(), L)
		}
	}
}

// TestLocal_concurrentManyKeys: many goroutines on many keys, each key
// admits exactly its limit.
func TestLocal_concurrentManyKeys(t *testing.T) {
	ctx := context.Background()
	const keys, L, workers = 200, 5, 16
	l := ratelimit.NewLocal()
	var admitted [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range keys * 2 * L / workers * 2 {
				k := (i*7 + w) % keys
				if d, _ := l.Take(ctx, fmt.Sprint("key", k), L, t0); d.Allowed {
					admitted[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range admitted {
		if n := admitted[k].Load(); n != L {
			t.Errorf("key%d: %d admitted, want %d", k, n, L)
		}
	}
}

// TestLocal_pruning drives every shard well past 4096 keys (400k keys over
// 64 shards) of which all but a few have a bucket full again, and checks that
// the keys whose TAT is in the future keep their state throughout.
func TestLocal_pruning(t *testing.T) {
	if testing.Short() {
		t.Skip("400k keys")
	}
	ctx := context.Background()
	l := ratelimit.NewLocal()
	take := func(key string, limit int, now time.Time) ratelimit.Decision {
		d, err := l.Take(ctx, key, limit, now)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// 200 hot keys, exhausted at t0 under limit 1: refused until t0+1m.
	const hot = 200
	for i := range hot {
		if d := take(fmt.Sprint("hot", i), 1, t0); !d.Allowed {
			t.Fatalf("hot%d: first request refused", i)
		}
	}
	// 400k cold keys, one request each every 100µs under a limit of
	// 1,000,000: each is full again 60µs later, before the next one comes.
	// 400k × 100µs = 40s, all within the hot keys' minute.
	const cold = 400_000
	now := t0
	for i := range cold {
		now = now.Add(100 * time.Microsecond)
		if d := take(fmt.Sprint("cold", i), 1_000_000, now); !d.Allowed || d.Remaining != 999_999 {
			t.Fatalf("cold%d: %+v, want a fresh key", i, d)
		}
		if i%20_000 == 0 { // the hot keys are still exhausted, along the way
			k := fmt.Sprint("hot", i/20_000)
			if d := take(k, 1, now); d.Allowed {
				t.Fatalf("%s admitted at %s after %d other keys: its state was lost", k, rel(now), i)
			}
		}
	}
	for i := range hot {
		d := take(fmt.Sprint("hot", i), 1, now)
		if d.Allowed || d.RetryAfter != t0.Add(time.Minute).Sub(now) {
			t.Fatalf("hot%d at %s after %d other keys: %+v, want refused until t0+1m", i, rel(now), cold, d)
		}
	}
	// A cold key seen again, long after its bucket refilled: fresh.
	if d := take("cold7", 1_000_000, now); !d.Allowed || d.Remaining != 999_999 {
		t.Fatalf("cold7 again: %+v", d)
	}
	// And once their minute is over the hot keys are admitted again.
	for i := range hot {
		if d := take(fmt.Sprint("hot", i), 1, t0.Add(time.Minute)); !d.Allowed {
			t.Fatalf("hot%d at t0+1m: %+v, want admitted", i, d)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	b.ReportAllocs()
	tat := time.Time{}
	now := t0
	var d ratelimit.Decision
	for b.Loop() {
		now = now.Add(time.Millisecond)
		d, tat = ratelimit.Decide(tat, 1000, now)
	}
	_ = d
}

func BenchmarkLocalTake_OneHotKey(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	l := ratelimit.NewLocal()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Take(ctx, "key_hot", 1_000_000, time.Now())
		}
	})
}

func BenchmarkLocalTake_ManyKeys(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	const n = 10_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key_%08d", i)
	}
	l := ratelimit.NewLocal()
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seed.Add(1), 0))
		i := r.IntN(n)
		for pb.Next() {
			l.Take(ctx, keys[i], 1000, time.Now())
			i = (i + 7919) % n
		}
	})
}
