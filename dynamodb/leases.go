package dynamodb

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	triggers "github.com/triggersapi/triggers"
)

// deadPrefix starts the inbox index partition of a tenant's dead events:
// "dead#" + tenant. A tenant name cannot hold '#', so no tenant's pending
// partition is ever a dead one.
const deadPrefix = "dead#"

// inboxPartition is the inbox index partition (inbox_tenant) that holds the
// tenant's events of status st: its dead events for StatusDead, else its
// pending events.
func inboxPartition(tenant string, st triggers.Status) string {
	if st == triggers.StatusDead {
		return deadPrefix + tenant
	}
	return tenant
}

// ReceivePollInterval implements triggers.ReceivePoller: a create in another
// process cannot wake a receive waiting in this one, so a waiting receive
// asks again after this interval (Service doubles it up to 4×, 800 ms, so
// that it sees another instance's create within 1 s, DESIGN §10.2).
func (s *Store) ReceivePollInterval() time.Duration { return receivePollInterval }

const receivePollInterval = 200 * time.Millisecond

// Tuning of ReceiveEvents (see the package doc, Leases).
const (
	// windowFactor × Max (or spread × Max, when larger) is the first page
	// of a receive's Query, and bounds the events it may lease, and those
	// it may dead-letter, from one read.
	windowFactor = 4
	// maxSpread bounds the spread factor of contended receives (see
	// contention): they read at most maxSpread × Max candidates.
	maxSpread = 16
	// maxWriteRounds bounds the rounds of lease writes of one receive, and
	// maxReads its reads of the inbox (each a Query, paged when needed).
	maxWriteRounds = 4
	maxReads       = 2
	// receiveConcurrency bounds the conditional writes a receive has in
	// flight at once.
	receiveConcurrency = 25
	// defaultReceiveScan bounds the events examined when the query sets
	// no MaxScan.
	defaultReceiveScan = 1000
)

// candidate is an available event as the receive's Query saw it: enough to
// write its lease conditionally.
type candidate struct {
	pk       string
	sk       string // created_at_id: inbox order
	attempts int64
	bytes    int // triggers.EventBytes of the event
}

// ReceiveEvents leases events (see the package doc, Leases): a Query of
// the tenant's inbox partition, projected to the attributes that decide
// availability (paged on only while too few candidates were found, at most
// q.MaxScan items examined), then one conditional UpdateItem per event to
// lease or dead-letter, in parallel, in rounds until q.Max are leased, the
// candidates run out or maxWriteRounds rounds were written. A write whose
// condition fails lost a race (or acted on a stale index entry) and is
// skipped. When a round loses most of its writes the view is stale: the
// receive reads again, once, and spreads wider.
func (s *Store) ReceiveEvents(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	q.Max = min(q.Max, len(q.LeaseIDs))
	if q.Max <= 0 {
		return triggers.Received{}, nil
	}
	if q.MaxAttempts <= 0 {
		q.MaxAttempts = triggers.DefaultMaxAttempts
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()

	r := &receive{s: s, q: q, free: slices.Clone(q.LeaseIDs[:q.Max]), stats: newStatsDelta()}
	r.stats.setPrune(q.Now)
	// The counters of the leases and dead letters written, whatever the
	// outcome of the call.
	defer s.applyStats(ctx, r.stats)
	spread := s.contention.factor(q.Tenant)
	cands, err := r.read(ctx, spread)
	if err != nil {
		return triggers.Received{}, err
	}
	reads, rounds := 1, 0
	for len(r.got.Events) < q.Max && len(cands) > 0 && rounds < maxWriteRounds && !r.full {
		var tried, lost int
		tried, lost, cands, err = r.round(ctx, cands)
		rounds++
		if err != nil {
			break // the store is failing: report what was done
		}
		if lost == 0 {
			continue
		}
		r.lost = true
		if 2*lost > tried && reads < maxReads {
			// Most of what the Query saw was leased by others since: read
			// again, spreading wider.
			if !s.contention.off {
				spread = min(2*spread, maxSpread)
			}
			if cands, err = r.read(ctx, spread); err != nil {
				break
			}
			reads++
			continue
		}
		if spread == 1 && !s.contention.off {
			// Others are taking the oldest events too: try the rest in
			// random order.
			spread = 2
			shuffle(cands)
		}
	}
	s.contention.record(q.Tenant, r.lost)
	if err != nil && len(r.got.Events) == 0 && r.got.DeadLettered == 0 {
		return triggers.Received{}, err
	}
	// Leases written are reported even when some other call failed: they
	// are stored, and an event whose write failed stays available (or, if
	// the write was stored after all, is leased to nobody until it expires:
	// a redelivery, as DESIGN §10.5 allows).
	slices.SortFunc(r.got.Events, func(a, b triggers.Event) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return r.got, nil
}

// receive is the state of one ReceiveEvents call.
type receive struct {
	s    *Store
	q    triggers.ReceiveQuery
	got  triggers.Received
	free []string // lease ids not yet given, in order
	lost bool     // a write lost a race
	full bool     // the next candidate did not fit q.MaxBytes

	stats *statsDelta // the counter changes of the writes done
}

// read returns the candidates for the receive's leases: with spread 1 the
// oldest available events, in inbox order; with a larger spread, spread ×
// Max of them in random order, so that concurrent receivers that read the
// same events try them in different orders.
func (r *receive) read(ctx context.Context, spread int) ([]candidate, error) {
	cands, next, err := r.s.receiveCandidates(ctx, r.q, spread*r.q.Max, max(windowFactor, spread)*r.q.Max)
	if err != nil {
		return nil, err
	}
	r.got.NextAvailable = next
	if len(r.got.Events) > 0 {
		// A second read may still show, through the index's lag, the
		// events this receive just leased.
		mine := map[string]bool{}
		for _, e := range r.got.Events {
			mine[eventPK(e.Tenant, e.ID)] = true
		}
		cands = slices.DeleteFunc(cands, func(c candidate) bool { return mine[c.pk] })
	}
	if spread > 1 {
		shuffle(cands)
	}
	return cands, nil
}

func shuffle(cands []candidate) {
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
}

// round writes, in parallel, a lease on each of the next candidates until
// it has as many as are missing or the next does not fit q.MaxBytes beside
// the events leased (then, unless a lease was lost, r.full is set: the
// receive is done), and dead-letters the candidates
// among them whose attempts reached MaxAttempts. It returns how many writes
// it tried and lost, the candidates it did not try, and the first error of
// a write (the other writes' outcomes are kept).
func (r *receive) round(ctx context.Context, cands []candidate) (tried, lost int, rest []candidate, err error) {
	need := r.q.Max - len(r.got.Events)
	budget := triggers.ByteBudget{Max: r.q.MaxBytes}
	for i := range r.got.Events {
		budget.Take(triggers.EventBytes(&r.got.Events[i]))
	}
	var lease, dead []candidate
	full := false
	pos := 0
	for ; pos < len(cands) && len(lease) < need; pos++ {
		if c := cands[pos]; c.attempts >= int64(r.q.MaxAttempts) {
			dead = append(dead, c)
		} else if budget.Take(c.bytes) {
			lease = append(lease, c)
		} else {
			full = true
			break
		}
	}
	// Lease ids go to the round's events in inbox order, so that without
	// lost races the i-th event returned has q.LeaseIDs[i].
	slices.SortFunc(lease, func(a, b candidate) int { return cmp.Compare(a.sk, b.sk) })
	leased := make([]*triggers.Event, len(lease))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(receiveConcurrency)
	outcome := func(ok bool, werr error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case werr != nil:
			err = cmp.Or(err, werr)
		case ok:
		default:
			lost++
		}
	}
	for i, c := range lease {
		g.Go(func() error {
			e, ok, err := r.s.lease(ctx, r.q, c, r.free[i])
			if ok {
				leased[i] = &e
				r.stats.leased(e)
			}
			outcome(ok, err)
			return nil // the outcome is the event's, not the call's
		})
	}
	for _, c := range dead {
		g.Go(func() error {
			ok, err := r.s.deadLetter(ctx, r.q, c, r.stats)
			if ok {
				mu.Lock()
				r.got.DeadLettered++
				mu.Unlock()
			}
			outcome(ok, err)
			return nil
		})
	}
	g.Wait() // every call returns nil
	var unused []string
	for i, e := range leased {
		if e != nil {
			r.got.Events = append(r.got.Events, *e)
		} else {
			unused = append(unused, r.free[i])
		}
	}
	// A lease lost leaves room: the next round may fit the candidate.
	r.full = full && len(unused) == 0
	r.free = append(unused, r.free[len(lease):]...)
	return len(lease) + len(dead), lost, cands[pos:], err
}

// receiveCandidates queries the tenant's inbox partition for events
// available at q.Now that match q.Filter, oldest first, until it has target
// leasable ones, or the partition is exhausted, or q.MaxScan items were
// examined. It keeps at most window leasable candidates and window to be
// dead-lettered (attempts at q.MaxAttempts), which bounds a receive's
// writes; the others are dead-lettered by later receives. The first page
// reads window items; each further page twice as many as the one before.
// It also returns the earliest instant after q.Now at which an examined
// event that is leased or delayed becomes available (zero when none).
func (s *Store) receiveCandidates(ctx context.Context, q triggers.ReceiveQuery, target, window int) ([]candidate, time.Time, error) {
	q.Filter.Status = triggers.StatusPending
	in, _, ok := inboxQuery(s.events, triggers.InboxQuery{Tenant: q.Tenant, Filter: q.Filter, NotBefore: q.NotBefore})
	if !ok {
		return nil, time.Time{}, nil
	}
	// Only what availability and the lease condition need: the events
	// themselves come back from the lease writes (ALL_NEW).
	if in.ExpressionAttributeNames == nil {
		in.ExpressionAttributeNames = map[string]string{}
	}
	in.ExpressionAttributeNames["#att"] = "attempts"
	in.ProjectionExpression = aws.String("pk, created_at_id, #att, lease_expires_at, available_at, nbytes")
	maxScan := q.MaxScan
	if maxScan <= 0 {
		maxScan = defaultReceiveScan
	}
	now := micros(q.Now)
	var cands []candidate
	var next int64
	leasable, doomed, examined := 0, 0, 0
	for pageSize := window; ; pageSize *= 2 {
		in.Limit = aws.Int32(int32(min(pageSize, maxScan-examined)))
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, time.Time{}, s.formatError("receive events", s.events, err)
		}
		examined += int(out.ScannedCount)
		for _, item := range out.Items {
			leaseEnd, _ := getN(item, "lease_expires_at")
			delayEnd, _ := getN(item, "available_at")
			if at := max(leaseEnd, delayEnd); at > now {
				if next == 0 || at < next {
					next = at
				}
				continue
			}
			// Each kind up to window: beyond, the items are only looked at
			// for the next availability instant.
			attempts, _ := getN(item, "attempts")
			if attempts >= int64(q.MaxAttempts) {
				if doomed == window {
					continue
				}
				doomed++
			} else {
				if leasable == window {
					continue
				}
				leasable++
			}
			// An item written before nbytes was stored is taken to weigh
			// as much as an event can.
			size, ok := getN(item, "nbytes")
			if !ok {
				size = triggers.MaxEventBytes
			}
			cands = append(cands, candidate{pk: getS(item, "pk"), sk: getS(item, "created_at_id"), attempts: attempts, bytes: int(size)})
		}
		if leasable >= target || out.LastEvaluatedKey == nil || examined >= maxScan {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	var nextAt time.Time
	if next > 0 {
		nextAt = fromMicros(next)
	}
	return cands, nextAt, nil
}

// availableCondition is the condition of a lease or dead-letter write: the
// event is still pending in q.Tenant's inbox, visible, available at :now,
// and has the attempts the Query saw (so that a stale index entry, or a
// receive that leased it meanwhile, fails the write).
func availableCondition(c candidate, q triggers.ReceiveQuery) (string, map[string]types.AttributeValue) {
	cond := "inbox_tenant = :t AND created_at > :nb" +
		" AND (attribute_not_exists(lease_expires_at) OR lease_expires_at <= :now)" +
		" AND (attribute_not_exists(available_at) OR available_at <= :now)"
	if c.attempts == 0 {
		cond += " AND (attribute_not_exists(#att) OR #att = :seen)" // 0 after a redrive
	} else {
		cond += " AND #att = :seen"
	}
	return cond, map[string]types.AttributeValue{
		":t": str(q.Tenant), ":nb": num(micros(q.NotBefore)), ":now": num(micros(q.Now)), ":seen": num(c.attempts),
	}
}

// lease writes the lease leaseID on the candidate's event and returns the
// event as stored; ok is false when the condition failed (not available
// any more, or changed since the Query).
func (s *Store) lease(ctx context.Context, q triggers.ReceiveQuery, c candidate, leaseID string) (e triggers.Event, ok bool, err error) {
	cond, values := availableCondition(c, q)
	values[":next"] = num(c.attempts + 1)
	values[":lid"] = str(leaseID)
	values[":exp"] = num(micros(q.LeaseExpiresAt))
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.events,
		Key:                       map[string]types.AttributeValue{"pk": str(c.pk)},
		UpdateExpression:          aws.String("SET #att = :next, lease_id = :lid, lease_expires_at = :exp REMOVE available_at"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#att": "attempts"},
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	item := map[string]types.AttributeValue(nil)
	if failed, _ := conditionFailed(err); failed {
		// Lost to another receive, or this write retried by the SDK after
		// its answer was lost (a timeout, a bad checksum): the lease id,
		// fresh for this call, tells them apart, so that an event is never
		// left leased to nobody until its lease expires.
		if item, err = s.heldBy(ctx, s.events, map[string]types.AttributeValue{"pk": str(c.pk)}, leaseID); err != nil || item == nil {
			return triggers.Event{}, false, err
		}
	} else if err != nil {
		return triggers.Event{}, false, s.formatError("lease event", s.events, err)
	} else {
		item = out.Attributes
	}
	e, err = eventFromItem(item)
	return e, err == nil, err
}

// heldBy reads an item whose conditional lease write failed and returns it
// when it holds leaseID after all (nil when not): the write was this call's,
// retried by the SDK after its answer was lost.
func (s *Store) heldBy(ctx context.Context, table string, key map[string]types.AttributeValue, leaseID string) (map[string]types.AttributeValue, error) {
	got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, s.formatError("read a lease back", table, err)
	}
	if got.Item == nil || getS(got.Item, "lease_id") != leaseID {
		return nil, nil
	}
	return got.Item, nil
}

// deadLetter moves the candidate's event from the tenant's pending
// partition of the inbox index to its dead one, ending any lease (expired,
// by the condition), and counts it in d; ok is false when the condition
// failed.
func (s *Store) deadLetter(ctx context.Context, q triggers.ReceiveQuery, c candidate, d *statsDelta) (ok bool, err error) {
	cond, values := availableCondition(c, q)
	values[":dead"] = str(inboxPartition(q.Tenant, triggers.StatusDead))
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.events,
		Key:                       map[string]types.AttributeValue{"pk": str(c.pk)},
		UpdateExpression:          aws.String("SET dead_at = :now, inbox_tenant = :dead REMOVE lease_id, lease_expires_at, available_at"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#att": "attempts"},
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	if err != nil {
		return false, s.formatError("dead-letter event", s.events, err)
	}
	d.moved(q.Tenant, getS(out.Attributes, "source"), getS(out.Attributes, "event_type"), "o", "d")
	return true, nil
}

// contention keeps, per tenant, how widely this process's receives spread
// their leases: the spread factor f means a receive reads f × Max
// available events and tries them in random order. It starts at 1 (oldest
// first), doubles after each receive that lost a lease race (up to
// maxSpread) and halves after each receive that lost none. Only tenants
// whose factor is above 1 have an entry. It is a heuristic: its own races
// are harmless.
type contention struct {
	factors sync.Map // tenant → *atomic.Int32
	off     bool     // always 1: oldest first (tests compare)
}

// factor returns the tenant's spread factor.
func (c *contention) factor(tenant string) int {
	if v, ok := c.factors.Load(tenant); ok && !c.off {
		return int(v.(*atomic.Int32).Load())
	}
	return 1
}

// record notes the outcome of a receive of tenant: whether it lost a race.
func (c *contention) record(tenant string, lost bool) {
	if lost {
		v, _ := c.factors.LoadOrStore(tenant, new(atomic.Int32))
		f := v.(*atomic.Int32)
		for old := f.Load(); !f.CompareAndSwap(old, min(max(2*old, 2), maxSpread)); old = f.Load() {
		}
		return
	}
	if v, ok := c.factors.Load(tenant); ok {
		if f := v.(*atomic.Int32); f.Add(-f.Load()/2) <= 1 {
			c.factors.CompareAndDelete(tenant, v)
		}
	}
}

// NackEvents ends each lease with the conditional UpdateItem of nack,
// concurrently (at most bulkConcurrency at once), as AckEvents does.
func (s *Store) NackEvents(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error) {
	d := newStatsDelta()
	res := eachItem(nacks, func(n triggers.Nack) (triggers.Event, error) {
		update := "REMOVE lease_id, lease_expires_at, available_at"
		values := map[string]types.AttributeValue{}
		if !n.AvailableAt.IsZero() {
			update = "SET available_at = :av REMOVE lease_id, lease_expires_at"
			values[":av"] = num(micros(n.AvailableAt))
		}
		return s.updateLease(ctx, "nack event", tenant, triggers.Ack{ID: n.ID, LeaseID: n.LeaseID}, update, values, now, notBefore,
			d, func(e *triggers.Event) {
				e.LeaseID, e.LeaseExpiresAt, e.AvailableAt = "", time.Time{}, time.Time{}
				if !n.AvailableAt.IsZero() {
					e.AvailableAt = fromMicros(micros(n.AvailableAt))
				}
			})
	})
	s.applyStats(ctx, d)
	return res, nil
}

// ExtendLease sets the lease's expiry with one conditional UpdateItem.
func (s *Store) ExtendLease(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error) {
	d := newStatsDelta()
	d.setPrune(now)
	e, err := s.updateLease(ctx, "extend lease", tenant, a, "SET lease_expires_at = :exp",
		map[string]types.AttributeValue{":exp": num(micros(expiresAt))}, now, notBefore,
		d, func(e *triggers.Event) { e.LeaseExpiresAt = fromMicros(micros(expiresAt)) })
	if err == nil {
		d.leased(e)
	}
	s.applyStats(ctx, d)
	return e, err
}

// updateLease applies update to the event of a with one UpdateItem,
// conditional on a.LeaseID being its current lease, unexpired at now, and
// returns the event as stored: the item as it was (ALL_OLD, whose lease
// expiry leaves the counters, in d) with the update applied by apply. A
// failed condition is told apart from the item as it was (see
// leaseConflict).
func (s *Store) updateLease(ctx context.Context, op, tenant string, a triggers.Ack, update string, values map[string]types.AttributeValue, now, notBefore time.Time,
	d *statsDelta, apply func(*triggers.Event)) (triggers.Event, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	key := map[string]types.AttributeValue{"pk": str(eventPK(tenant, a.ID))}
	values[":t"] = str(tenant)
	values[":nb"] = num(micros(notBefore))
	values[":lid"] = str(a.LeaseID)
	values[":now"] = num(micros(now))
	old, err := s.updateItem(ctx, op, &dynamodb.UpdateItemInput{
		Key:                       key,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("inbox_tenant = :t AND created_at > :nb AND lease_id = :lid AND lease_expires_at > :now"),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
	}, func(old map[string]types.AttributeValue) error { return leaseConflict(old, a, now, notBefore) })
	if err != nil {
		return triggers.Event{}, err
	}
	e, err := eventFromItem(old)
	if err != nil {
		return triggers.Event{}, err
	}
	d.leaseEnded(old, micros(now))
	apply(&e)
	return e, nil
}

// leaseConflict says why a nack or extension of the lease a.LeaseID failed
// its condition, from the item as it was (nil: absent).
func leaseConflict(old map[string]types.AttributeValue, a triggers.Ack, now, notBefore time.Time) error {
	e, err := visibleEvent(old, notBefore)
	switch {
	case err != nil:
		return err
	case !e.AcknowledgedAt.IsZero():
		return triggers.AlreadyAcknowledged(a.ID)
	case !e.DeadAt.IsZero() || e.LeaseID != a.LeaseID:
		return triggers.LeaseLost(a.ID)
	case !e.LeaseExpiresAt.After(now):
		return triggers.LeaseExpired(a.ID)
	}
	// The item meets the condition now: read after the failure (a server
	// that does not return the item with it), it changed in between. A
	// lease id is never given twice, so the lease was lost meanwhile.
	return triggers.LeaseLost(a.ID)
}

// RedriveEvents makes each dead event pending with one conditional
// UpdateItem, concurrently (at most bulkConcurrency at once): it moves the
// event from the tenant's dead partition of the inbox index back to its
// pending one, at its place in inbox order (created_at_id is kept), with
// attempts 0.
func (s *Store) RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error) {
	d := newStatsDelta()
	res := eachItem(ids, func(id string) (triggers.Event, error) {
		ctx, cancel := s.ctx(ctx)
		defer cancel()
		key := map[string]types.AttributeValue{"pk": str(eventPK(tenant, id))}
		e, err := s.updateEvent(ctx, "redrive event", &dynamodb.UpdateItemInput{
			Key:                      key,
			UpdateExpression:         aws.String("SET inbox_tenant = :t, #att = :zero REMOVE dead_at, lease_id, lease_expires_at, available_at"),
			ConditionExpression:      aws.String("inbox_tenant = :dead AND created_at > :nb"),
			ExpressionAttributeNames: map[string]string{"#att": "attempts"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": str(tenant), ":dead": str(inboxPartition(tenant, triggers.StatusDead)),
				":zero": num(0), ":nb": num(micros(notBefore)),
			},
		}, func(old map[string]types.AttributeValue) error {
			if _, err := visibleEvent(old, notBefore); err != nil {
				return err
			}
			return triggers.NotDead(id)
		})
		if err == nil {
			d.moved(tenant, e.Source, e.EventType, "d", "o")
		}
		return e, err
	})
	s.applyStats(ctx, d)
	return res, nil
}

// eachItem runs do for each item concurrently (at most bulkConcurrency at
// once) and returns one result per item, in order: the items of one call
// are distinct events, so the order of the calls does not matter, and a
// failed call is that item's Err.
func eachItem[T any](items []T, do func(T) (triggers.Event, error)) []triggers.EventResult {
	results := make([]triggers.EventResult, len(items))
	var g errgroup.Group
	g.SetLimit(bulkConcurrency)
	for i, it := range items {
		g.Go(func() error {
			e, err := do(it)
			results[i] = triggers.EventResult{Event: e, Err: err}
			return nil // the outcome is the item's, not the call's
		})
	}
	g.Wait() // every call returns nil
	return results
}
