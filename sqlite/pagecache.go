package sqlite

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	triggers "github.com/triggersapi/triggers"
)

// pageCache keeps recent inbox pages that no later create can change, so
// that consumers polling the head of a busy inbox are answered from memory
// instead of re-reading pages SQLite discarded at the last commit.
//
// Why creates cannot change a cached page: the writer gives every new event
// a created_at after every event already stored (see InsertEvents), so a
// new event sorts after the end of every existing page, in every index
// (each is ordered by created_at after its equality columns). Only pages
// with a Next position are cached, so the new event lands beyond Next.
//
// What can change a page is an event leaving it (an ack, a delete, a
// dead-lettering), an older event coming back to it (a redrive), or a change
// to what it shows of an event (a lease, a nack, an extension). Each tenant
// has a generation, bumped after such a write commits and before it is
// answered; a page is cached with the generation read before its query
// began and served only while that is still the tenant's generation. A
// lease that merely expires changes nothing stored: Service decides at read
// time whether it is still shown. Dead lists are never cached
// (ListPending).
// Expiry is checked on use: a page is served only while its first (oldest)
// event is still visible.
type pageCache struct {
	hits, misses atomic.Uint64

	mu sync.Mutex
	// gens holds each tenant's generation; a tenant without an entry has
	// generation base. Generations come from one counter (last), so a
	// value is never given twice: forgetting the entries (a reset) cannot
	// make an old generation match again.
	gens  map[string]uint64
	base  uint64
	last  uint64
	pages map[string]cachedPage
	max   int
	bytes int // the event bytes of the cached pages, at most pageCacheBytes
}

// pageCacheBytes bounds the event bytes (triggers.EventBytes) the cache
// holds, whatever its page count: pages of large events would otherwise
// keep up to max × triggers.MaxPageBytes in memory.
const pageCacheBytes = 64 << 20

type cachedPage struct {
	gen   uint64
	page  triggers.Page
	bytes int
}

func newPageCache(max int) *pageCache {
	return &pageCache{gens: map[string]uint64{}, pages: map[string]cachedPage{}, max: max}
}

// gen returns the tenant's generation; read it before querying.
func (c *pageCache) gen(tenant string) uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.genLocked(tenant)
}

func (c *pageCache) genLocked(tenant string) uint64 {
	if g, ok := c.gens[tenant]; ok {
		return g
	}
	return c.base
}

// reset forgets every generation and page: every tenant's generation
// becomes a value never given before.
func (c *pageCache) reset() {
	c.last++
	c.base = c.last
	clear(c.gens)
	clear(c.pages)
	c.bytes = 0
}

// get returns a copy of the cached page for q, if it is still valid.
func (c *pageCache) get(key string, q triggers.InboxQuery) (triggers.Page, bool) {
	if c == nil {
		return triggers.Page{}, false
	}
	c.mu.Lock()
	p, ok := c.pages[key]
	ok = ok && p.gen == c.genLocked(q.Tenant)
	c.mu.Unlock()
	if !ok || !p.page.Events[0].CreatedAt.After(q.NotBefore) {
		c.misses.Add(1)
		return triggers.Page{}, false
	}
	c.hits.Add(1)
	next := *p.page.Next
	return triggers.Page{Events: append([]triggers.Event(nil), p.page.Events...), Next: &next}, true
}

// put caches page for key if it can be cached, tagged with gen (read before
// the query that produced the page).
func (c *pageCache) put(key, tenant string, gen uint64, page triggers.Page) {
	if c == nil || page.Next == nil || len(page.Events) == 0 {
		return
	}
	size := 0
	for i := range page.Events {
		size += triggers.EventBytes(&page.Events[i])
	}
	if size > pageCacheBytes/8 {
		return // a few such pages would fill the cache
	}
	next := *page.Next
	stored := cachedPage{gen: gen, page: triggers.Page{Events: append([]triggers.Event(nil), page.Events...), Next: &next}, bytes: size}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.genLocked(tenant) != gen {
		return // an event left the inbox meanwhile: the page may be stale already
	}
	if old, ok := c.pages[key]; ok {
		c.bytes -= old.bytes
	}
	if len(c.pages) >= c.max || c.bytes+size > pageCacheBytes {
		clear(c.pages)
		c.bytes = 0
	}
	c.pages[key] = stored
	c.bytes += size
}

// invalidate bumps the tenant's generation: call it after a write that may
// have taken a pending event out of the inbox commits, before answering it.
func (c *pageCache) invalidate(tenant string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.gens) >= 100_000 {
		c.reset() // bounds the map; the tenant's generation changes with it
		return
	}
	c.last++
	c.gens[tenant] = c.last
}

// invalidateAll drops every cached page (the expiry purge).
func (c *pageCache) invalidateAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset()
}

// pageKey identifies an inbox query of pending events apart from its expiry
// bound (checked on use): the tenant, every filter, the position, the limit,
// the scan bound and the byte bound.
func pageKey(q triggers.InboxQuery) string {
	var b strings.Builder
	f := q.Filter
	for _, s := range []string{q.Tenant, f.Source, f.EventType, string(f.Priority)} {
		b.WriteString(strconv.Quote(s))
	}
	for _, n := range []int64{triggers.UnixMicros(f.CreatedAfter), triggers.UnixMicros(f.CreatedBefore), int64(q.Limit), int64(q.MaxScan), int64(q.MaxBytes)} {
		b.WriteByte(';')
		b.WriteString(strconv.FormatInt(n, 10))
	}
	for _, m := range f.Metadata {
		b.WriteString(strconv.Quote(m.Key))
		b.WriteString(strconv.Quote(m.Value))
	}
	if q.After != nil {
		b.WriteByte('@')
		b.WriteString(strconv.FormatInt(triggers.UnixMicros(q.After.CreatedAt), 10))
		b.WriteString(q.After.ID)
	}
	return b.String()
}
