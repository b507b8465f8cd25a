package dynamodb

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	triggers "github.com/triggersapi/triggers"
)

// Statistics (DESIGN §12; see the package doc, Statistics). The counters
// are items of the events table whose pk starts with '#', which no event's
// pk does (a tenant name is never empty and cannot hold '#'); they have no
// created_at, inbox_tenant or created_at_id, so no inbox read and no purge
// scan ever sees them.
const (
	// statsShards is how many items hold one tenant's counters, and one
	// tenant's counts of one minute: each write goes to one at random,
	// each stats call reads them all. One item takes about 1,000 writes a
	// second; four take a tenant's counter writes to about 4,000.
	statsShards = 4
	// statsMaxMinutes bounds the minute items one stats call reads.
	statsMaxMinutes = triggers.StatsMinutes
	// statsMinuteTTL is how long a minute item lives after its minute,
	// for DynamoDB's TTL to remove it.
	statsMinuteTTL = 2 * time.Hour
	// statsOldestScan bounds the index items the oldest-pending Query of a
	// filtered stats call examines.
	statsOldestScan = 100
	// maxAddsPerUpdate bounds the attributes one counter UpdateItem
	// changes (its expression stays far below DynamoDB's 4 KB).
	maxAddsPerUpdate = 100
	// staleLeaseAttrs is how many lease attributes of a shard must have
	// expired (more than leaseGrace ago) before a lease write removes them.
	staleLeaseAttrs = 16
	// leaseGrace keeps lease attributes a while after they expire, for
	// the clocks of other instances.
	leaseGrace = time.Minute
	// statsConcurrency bounds a stats call's, or a counter update's, calls
	// in flight.
	statsConcurrency = 10
	// batchGetSize is BatchGetItem's limit of keys per call.
	batchGetSize = 100
)

// tenantsPK is the registry of tenants that created events: one item, a
// string set "tenants", for TotalStats.
const tenantsPK = "#tenants"

func counterPK(tenant string, shard int) string {
	return "#stats#" + tenant + "#" + strconv.Itoa(shard)
}

func minutePK(tenant string, minute int64, shard int) string {
	return "#minute#" + tenant + "#" + strconv.FormatInt(minute, 10) + "#" + strconv.Itoa(shard)
}

// Counter attribute names: a kind, then the source and the event type,
// separated by attrSep, a control character that neither may hold
// (triggers.checkName). Kinds: on a tenant's counter shards, "o" (open:
// pending, leased or not), "d" (dead) and "l" + the lease's expiry in Unix
// microseconds (leases that expire then); on a minute item, "c" (created)
// and "a" (acknowledged).
const attrSep = "\x1f"

func pairAttr(kind, source, eventType string) string {
	return kind + attrSep + source + attrSep + eventType
}

func leaseAttr(expires int64, source, eventType string) string {
	return pairAttr("l"+strconv.FormatInt(expires, 10), source, eventType)
}

// parseAttr splits a counter attribute name; ok is false for the item's
// other attributes (pk, ttl).
func parseAttr(name string) (kind string, expires int64, source, eventType string, ok bool) {
	kind, rest, ok := strings.Cut(name, attrSep)
	if !ok {
		return "", 0, "", "", false
	}
	source, eventType, ok = strings.Cut(rest, attrSep)
	if !ok {
		return "", 0, "", "", false
	}
	if strings.HasPrefix(kind, "l") && len(kind) > 1 {
		us, err := strconv.ParseInt(kind[1:], 10, 64)
		if err != nil {
			return "", 0, "", "", false
		}
		return "l", us, source, eventType, true
	}
	return kind, 0, source, eventType, true
}

type minuteKey struct {
	tenant string
	minute int64 // Unix seconds of the minute's start
}

// statsDelta gathers the counter changes of one verb (all the items of a
// bulk call), to be written by applyStats once its event writes are done.
// It is safe for concurrent use.
type statsDelta struct {
	mu       sync.Mutex
	counters map[string]map[string]int64    // tenant → attribute → delta
	minutes  map[minuteKey]map[string]int64 // minute item → attribute → delta
	// pruneAt, when set, lets the counter writes remove the lease
	// attributes that expired before pruneAt − leaseGrace (Unix micros):
	// the verbs that add lease attributes set it to their now.
	pruneAt int64
}

func newStatsDelta() *statsDelta {
	return &statsDelta{counters: map[string]map[string]int64{}, minutes: map[minuteKey]map[string]int64{}}
}

func (d *statsDelta) add(tenant, attr string, n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.counters[tenant]
	if m == nil {
		m = map[string]int64{}
		d.counters[tenant] = m
	}
	m[attr] += n
}

func (d *statsDelta) addMinute(tenant string, at time.Time, attr string, n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := minuteKey{tenant, at.UTC().Truncate(time.Minute).Unix()}
	m := d.minutes[k]
	if m == nil {
		m = map[string]int64{}
		d.minutes[k] = m
	}
	m[attr] += n
}

// created counts a new pending event.
func (d *statsDelta) created(e triggers.Event) {
	d.add(e.Tenant, pairAttr("o", e.Source, e.EventType), 1)
	d.addMinute(e.Tenant, e.CreatedAt, pairAttr("c", e.Source, e.EventType), 1)
}

// acked counts the acknowledgement at `at` of the event that was old.
func (d *statsDelta) acked(old map[string]types.AttributeValue, at time.Time) {
	d.left(old, micros(at))
	d.addMinute(getS(old, "tenant"), at, pairAttr("a", getS(old, "source"), getS(old, "event_type")), 1)
}

// left counts an event, as it was (old), leaving its state: pending or
// dead. Its lease, if it held one that expires after leaseNow (any, for
// leaseNow 0), stops counting; an expired lease counts nowhere already.
func (d *statsDelta) left(old map[string]types.AttributeValue, leaseNow int64) {
	tenant, source, eventType := getS(old, "tenant"), getS(old, "source"), getS(old, "event_type")
	switch getS(old, "inbox_tenant") {
	case "":
		return // acknowledged
	case inboxPartition(tenant, triggers.StatusDead):
		d.add(tenant, pairAttr("d", source, eventType), -1)
		return
	}
	d.add(tenant, pairAttr("o", source, eventType), -1)
	d.leaseEnded(old, leaseNow)
}

// leaseEnded uncounts old's lease when it expires after leaseNow (any, for
// leaseNow 0).
func (d *statsDelta) leaseEnded(old map[string]types.AttributeValue, leaseNow int64) {
	if exp, ok := getN(old, "lease_expires_at"); ok && exp > leaseNow {
		d.add(getS(old, "tenant"), leaseAttr(exp, getS(old, "source"), getS(old, "event_type")), -1)
	}
}

// leased counts e's lease, which expires at e.LeaseExpiresAt.
func (d *statsDelta) leased(e triggers.Event) {
	d.add(e.Tenant, leaseAttr(micros(e.LeaseExpiresAt), e.Source, e.EventType), 1)
}

// moved counts one event of tenant/source/eventType moving from one state
// kind ("o", "d") to another.
func (d *statsDelta) moved(tenant, source, eventType, from, to string) {
	d.add(tenant, pairAttr(from, source, eventType), -1)
	d.add(tenant, pairAttr(to, source, eventType), 1)
}

func (d *statsDelta) setPrune(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneAt = micros(now)
}

// applyStats writes the counter changes of d: per tenant, ADDs on one
// counter shard chosen at random, and per minute item touched, ADDs on one
// of its shards, in parallel. It is called once the verb's event writes
// are done, and returns when the counters are written, so that a caller
// that waits for its writes sees them counted. A counter write that fails
// (after the SDK's retries) is logged and dropped: the event writes it
// counts are done and must be reported, and the counts are approximate
// (see the package doc, Statistics). It runs on a context of its own, so
// that a client gone after its events were written still has them
// counted.
func (s *Store) applyStats(ctx context.Context, d *statsDelta) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(statsConcurrency)
	for _, tenant := range slices.Sorted(maps.Keys(d.counters)) {
		for chunk := range slices.Chunk(nonZero(d.counters[tenant]), maxAddsPerUpdate) {
			g.Go(func() error {
				s.addCounters(ctx, tenant, chunk, d.pruneAt)
				return nil
			})
		}
	}
	for k, m := range d.minutes {
		for chunk := range slices.Chunk(nonZero(m), maxAddsPerUpdate) {
			g.Go(func() error {
				s.addMinute(ctx, k, chunk)
				return nil
			})
		}
	}
	g.Wait() // failures are logged by each call
}

type attrDelta struct {
	name string
	n    int64
}

func nonZero(m map[string]int64) []attrDelta {
	out := make([]attrDelta, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if n := m[name]; n != 0 {
			out = append(out, attrDelta{name, n})
		}
	}
	return out
}

// addExpression builds "ADD #a0 :a0, ..." with its placeholders.
func addExpression(adds []attrDelta) (string, map[string]string, map[string]types.AttributeValue) {
	names := make(map[string]string, len(adds))
	values := make(map[string]types.AttributeValue, len(adds))
	terms := make([]string, len(adds))
	for i, a := range adds {
		p := strconv.Itoa(i)
		terms[i] = "#a" + p + " :a" + p
		names["#a"+p] = a.name
		values[":a"+p] = num(a.n)
	}
	return "ADD " + strings.Join(terms, ", "), names, values
}

// addCounters applies adds to one of the tenant's counter shards, at
// random. With pruneAt set it reads the shard back (ALL_NEW) and, when it
// holds staleLeaseAttrs lease attributes expired before pruneAt −
// leaseGrace, removes them: lease attributes are the only ones that keep
// coming (one per receive or extension), and an expired one counts
// nowhere.
func (s *Store) addCounters(ctx context.Context, tenant string, adds []attrDelta, pruneAt int64) {
	expr, names, values := addExpression(adds)
	key := map[string]types.AttributeValue{"pk": str(counterPK(tenant, rand.IntN(statsShards)))}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.events, Key: key, UpdateExpression: &expr,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}
	if pruneAt > 0 {
		in.ReturnValues = types.ReturnValueAllNew
	}
	out, err := s.client.UpdateItem(ctx, in)
	if err != nil {
		s.statsWriteFailed(ctx, "add counters", tenant, err)
		return
	}
	if pruneAt == 0 {
		return
	}
	before := pruneAt - leaseGrace.Microseconds()
	var stale []string
	for name := range out.Attributes {
		if kind, exp, _, _, ok := parseAttr(name); ok && kind == "l" && exp < before {
			stale = append(stale, name)
		}
	}
	if len(stale) < staleLeaseAttrs {
		return
	}
	slices.Sort(stale)
	for chunk := range slices.Chunk(stale, maxAddsPerUpdate) {
		names := make(map[string]string, len(chunk))
		terms := make([]string, len(chunk))
		for i, name := range chunk {
			p := "#r" + strconv.Itoa(i)
			terms[i] = p
			names[p] = name
		}
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.events, Key: key, UpdateExpression: aws.String("REMOVE " + strings.Join(terms, ", ")),
			ExpressionAttributeNames: names,
		})
		if err != nil {
			s.statsWriteFailed(ctx, "remove expired lease counters", tenant, err)
			return
		}
	}
}

// addMinute applies adds to one shard of a minute item, at random, and
// sets its ttl.
func (s *Store) addMinute(ctx context.Context, k minuteKey, adds []attrDelta) {
	expr, names, values := addExpression(adds)
	names["#ttl"] = "ttl"
	values[":ttl"] = num(time.Unix(k.minute, 0).Add(statsMinuteTTL).Unix())
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.events,
		Key:                       map[string]types.AttributeValue{"pk": str(minutePK(k.tenant, k.minute, rand.IntN(statsShards)))},
		UpdateExpression:          aws.String("SET #ttl = :ttl " + expr),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		s.statsWriteFailed(ctx, "add minute counts", k.tenant, err)
	}
}

func (s *Store) statsWriteFailed(ctx context.Context, op, tenant string, err error) {
	s.statsFailures.Add(1)
	s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "dynamodb: statistics counter write failed; the counts are off until the events concerned change or expire",
		slog.String("op", op), slog.String("tenant", tenant), slog.Any("error", err))
}

// StatsWriteFailures returns how many counter writes failed since Open
// (each logged): the counts are off by what they held.
func (s *Store) StatsWriteFailures() int64 { return s.statsFailures.Load() }

// registerTenants adds the tenants to the registry item that TotalStats
// reads, once per tenant and process.
func (s *Store) registerTenants(ctx context.Context, tenants []string) {
	var todo []string
	for _, t := range tenants {
		if _, ok := s.tenants.Load(t); !ok {
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.events,
		Key:                       map[string]types.AttributeValue{"pk": str(tenantsPK)},
		UpdateExpression:          aws.String("ADD tenants :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberSS{Value: todo}},
	})
	if err != nil {
		s.statsWriteFailed(ctx, "register tenants", strings.Join(todo, ","), err)
		return
	}
	for _, t := range todo {
		s.tenants.Store(t, true)
	}
}

// Stats reads the tenant's counter shards and the minute items from
// q.Since to q.Now (at most statsMaxMinutes) with BatchGetItem (100 keys a
// call, the calls in parallel: 3 calls for the 244 keys of an hour), and
// the oldest pending event with one Query of the inbox index, in
// parallel. Counts are from the counters (see the package doc,
// Statistics), so Approximate is set.
func (s *Store) Stats(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	match := func(source, eventType string) bool {
		return (q.Source == "" || source == q.Source) && (q.EventType == "" || eventType == q.EventType)
	}
	var keys []string
	for i := range statsShards {
		keys = append(keys, counterPK(q.Tenant, i))
	}
	first := q.Since.UTC().Truncate(time.Minute)
	last := q.Now.UTC().Truncate(time.Minute)
	if n := last.Sub(first) / time.Minute; n >= statsMaxMinutes {
		first = last.Add(-(statsMaxMinutes - 1) * time.Minute)
	}
	for m := first; !m.After(last); m = m.Add(time.Minute) {
		for i := range statsShards {
			keys = append(keys, minutePK(q.Tenant, m.Unix(), i))
		}
	}
	var items []map[string]types.AttributeValue
	var oldest time.Time
	var g errgroup.Group
	g.Go(func() (err error) {
		items, err = s.batchGet(ctx, keys)
		return err
	})
	g.Go(func() (err error) {
		oldest, err = s.oldestPending(ctx, q.Tenant, q.Source, q.EventType, q.NotBefore)
		return err
	})
	if err := g.Wait(); err != nil {
		return triggers.Stats{}, err
	}

	st := triggers.Stats{OldestPending: oldest, Approximate: true}
	bySource := map[string]int64{}
	perMinute := map[int64]*triggers.MinuteStats{}
	now := micros(q.Now)
	for _, item := range items {
		pk := getS(item, "pk")
		var minute *triggers.MinuteStats
		if strings.HasPrefix(pk, "#minute#") {
			parts := strings.Split(pk, "#")
			sec, err := strconv.ParseInt(parts[len(parts)-2], 10, 64)
			if err != nil {
				return triggers.Stats{}, fmt.Errorf("dynamodb: bad minute item %q", pk)
			}
			if minute = perMinute[sec]; minute == nil {
				minute = &triggers.MinuteStats{Minute: time.Unix(sec, 0).UTC()}
				perMinute[sec] = minute
			}
		}
		for name := range item {
			kind, exp, source, eventType, ok := parseAttr(name)
			if !ok || !match(source, eventType) {
				continue
			}
			n, _ := getN(item, name)
			switch {
			case minute != nil && kind == "c":
				minute.Created += n
			case minute != nil && kind == "a":
				minute.Acknowledged += n
			case minute != nil:
			case kind == "o":
				st.Pending += n
				bySource[source] += n
			case kind == "d":
				st.Dead += n
			case kind == "l" && exp > now:
				st.Leased += n
			}
		}
	}
	// Counters that lost writes may go below zero, or leased above pending.
	st.Pending, st.Dead = max(st.Pending, 0), max(st.Dead, 0)
	st.Leased = min(max(st.Leased, 0), st.Pending)
	for _, sec := range slices.Sorted(maps.Keys(perMinute)) {
		if m := perMinute[sec]; m.Created != 0 || m.Acknowledged != 0 {
			st.PerMinute = append(st.PerMinute, *m)
		}
	}
	counts := make([]triggers.SourceCount, 0, len(bySource))
	for source, n := range bySource {
		counts = append(counts, triggers.SourceCount{Source: source, Pending: n})
	}
	st.BySource = triggers.SortSourceCounts(counts, q.TopSources)
	return st, nil
}

// oldestPending returns the creation time of the tenant's oldest pending
// event created after notBefore that matches source and eventType (""
// for any): one Query of the inbox index with Limit 1, or, filtered,
// with Limit statsOldestScan (DynamoDB filters after the limit), so zero
// when no match is among the statsOldestScan oldest pending events.
func (s *Store) oldestPending(ctx context.Context, tenant, source, eventType string, notBefore time.Time) (time.Time, error) {
	in, filtered, ok := inboxQuery(s.events, triggers.InboxQuery{Tenant: tenant, NotBefore: notBefore,
		Filter: triggers.InboxFilter{Source: source, EventType: eventType}})
	if !ok {
		return time.Time{}, nil
	}
	in.ProjectionExpression = aws.String("created_at_id")
	in.Limit = aws.Int32(1)
	if filtered {
		in.Limit = aws.Int32(statsOldestScan)
	}
	out, err := s.client.Query(ctx, in)
	if err != nil {
		return time.Time{}, s.formatError("stats: oldest pending", s.events, err)
	}
	if len(out.Items) == 0 {
		return time.Time{}, nil
	}
	p, err := parseSortKey(getS(out.Items[0], "created_at_id"))
	return p.CreatedAt, err
}

// batchGet reads the items of the events table with these keys (those
// that exist), batchGetSize keys a call, the calls in parallel, retrying
// unprocessed keys at most maxBatchAttempts times a call. Eventually
// consistent reads, at half the price: the counts are approximate anyway.
func (s *Store) batchGet(ctx context.Context, pks []string) ([]map[string]types.AttributeValue, error) {
	var mu sync.Mutex
	var items []map[string]types.AttributeValue
	var g errgroup.Group
	g.SetLimit(statsConcurrency)
	for chunk := range slices.Chunk(pks, batchGetSize) {
		g.Go(func() error {
			keys := make([]map[string]types.AttributeValue, len(chunk))
			for i, pk := range chunk {
				keys[i] = map[string]types.AttributeValue{"pk": str(pk)}
			}
			pending := map[string]types.KeysAndAttributes{s.events: {Keys: keys}}
			delay := 25 * time.Millisecond
			for attempt := 1; ; attempt++ {
				out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
				if err != nil {
					return s.formatError("stats: read counters", s.events, err)
				}
				mu.Lock()
				items = append(items, out.Responses[s.events]...)
				mu.Unlock()
				pending = out.UnprocessedKeys
				if len(pending[s.events].Keys) == 0 {
					return nil
				}
				if attempt >= maxBatchAttempts {
					return triggers.Unavailable(fmt.Errorf("dynamodb: stats: %d counter items still unread after %d attempts", len(pending[s.events].Keys), attempt))
				}
				if err := s.opts.Sleep(ctx, delay+time.Duration(rand.Int64N(int64(delay)))); err != nil {
					return s.formatError("stats: read counters", s.events, err)
				}
				delay = min(2*delay, time.Second)
			}
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return items, nil
}

var _ triggers.StatsTotaler = (*Store)(nil)

// TotalStats sums the pending counters of every tenant in the registry
// (one GetItem, then BatchGetItem of statsShards items per tenant) and
// takes the oldest of their oldest pending events (one Query with Limit 1
// per tenant, statsConcurrency at once): its cost grows with the number
// of tenants, never with the backlog.
func (s *Store) TotalStats(ctx context.Context, now, notBefore time.Time) (triggers.TotalStats, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.events, Key: map[string]types.AttributeValue{"pk": str(tenantsPK)},
	})
	if err != nil {
		return triggers.TotalStats{}, s.formatError("total stats: read tenants", s.events, err)
	}
	var tenants []string
	if ss, ok := out.Item["tenants"].(*types.AttributeValueMemberSS); ok {
		tenants = slices.Sorted(slices.Values(ss.Value))
	}
	var keys []string
	for _, t := range tenants {
		for i := range statsShards {
			keys = append(keys, counterPK(t, i))
		}
	}
	var tot triggers.TotalStats
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(statsConcurrency)
	g.Go(func() error {
		items, err := s.batchGet(ctx, keys)
		if err != nil {
			return err
		}
		var pending int64
		for _, item := range items {
			for name := range item {
				if kind, _, _, _, ok := parseAttr(name); ok && kind == "o" {
					n, _ := getN(item, name)
					pending += n
				}
			}
		}
		mu.Lock()
		tot.Pending = max(pending, 0)
		mu.Unlock()
		return nil
	})
	for _, t := range tenants {
		g.Go(func() error {
			oldest, err := s.oldestPending(ctx, t, "", "", notBefore)
			if err != nil || oldest.IsZero() {
				return err
			}
			mu.Lock()
			if tot.OldestPending.IsZero() || oldest.Before(tot.OldestPending) {
				tot.OldestPending = oldest
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return triggers.TotalStats{}, err
	}
	return tot, nil
}
