package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Local is an in-process Limiter: the state of every key in memory. It is
// right for one server on the embedded store, and wrong wherever several
// processes serve one key (instances on DynamoDB, Lambda), since each would
// allow the whole limit. Its zero value is not usable; use NewLocal. It is
// safe for concurrent use; keys are spread over shards so that unrelated
// keys do not contend for one lock.
type Local struct {
	seed   maphash.Seed
	shards [64]localShard
}

type localShard struct {
	mu   sync.Mutex
	tats map[string]time.Time
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an empty in-process limiter.
func NewLocal() *Local {
	l := &Local{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].tats = map[string]time.Time{}
	}
	return l
}

// maxLocalKeys bounds one shard; past it, keys whose bucket is full again
// (TAT in the past: they carry no state worth keeping) are dropped.
const maxLocalKeys = 4096

// Take applies Decide to key under its shard's lock. It never fails.
func (l *Local) Take(_ context.Context, key string, limit int, now time.Time) (Decision, error) {
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	d, tat := Decide(s.tats[key], limit, now)
	if len(s.tats) >= maxLocalKeys {
		for k, t := range s.tats {
			if !t.After(now) {
				delete(s.tats, k)
			}
		}
	}
	s.tats[key] = tat
	return d, nil
}
