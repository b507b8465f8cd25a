package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	triggers "github.com/triggersapi/triggers"
)

func eventPK(tenant, id string) string { return tenant + "#" + id }

// sortKey is the inbox index's sort key: created_at as 20 zero-padded digits,
// "#", the id. Ids are 36-character lowercase UUIDs, so all sort keys have one
// length and string order is (created_at, id) order.
func sortKey(createdMicros int64, id string) string {
	return fmt.Sprintf("%020d#%s", createdMicros, id)
}

// parseSortKey is the inverse of sortKey.
func parseSortKey(sk string) (triggers.Position, error) {
	digits, id, ok := strings.Cut(sk, "#")
	var us int64
	if _, err := fmt.Sscanf(digits, "%d", &us); !ok || err != nil || len(digits) != 20 {
		return triggers.Position{}, fmt.Errorf("dynamodb: bad inbox sort key %q", sk)
	}
	return triggers.Position{CreatedAt: fromMicros(us), ID: id}, nil
}

// nextCreated returns the created_at to store for an event created at us:
// us, or one microsecond after the last one this process stored.
func (s *Store) nextCreated(us int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if us <= s.lastCreated {
		us = s.lastCreated + 1
	}
	s.lastCreated = us
	return us
}

func (s *Store) eventItem(e triggers.Event, created int64) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"pk":            str(eventPK(e.Tenant, e.ID)),
		"tenant":        str(e.Tenant),
		"id":            str(e.ID),
		"created_at":    num(created),
		"source":        str(e.Source),
		"event_type":    str(e.EventType),
		"priority":      str(string(e.Priority)),
		"payload":       str(string(e.Payload)),
		"metadata":      str(string(e.Metadata)),
		"inbox_tenant":  str(e.Tenant),
		"created_at_id": str(sortKey(created, e.ID)),
		// The outbox (see the package doc, Webhooks): the event's entry in
		// the timeline index is in its tenant's outbox partition until its
		// deliveries are written.
		"timeline_key": str(outboxKey(e.Tenant)),
		// What the event weighs against a receive's byte bound, for the
		// receive's Query, which does not read the payload.
		"nbytes": num(int64(triggers.EventBytes(&e))),
	}
	if terms := triggers.MetadataTerms(e.Metadata); len(terms) > 0 {
		// The metadata filters' view of the event (see ListPending).
		m := make(map[string]types.AttributeValue, len(terms))
		for _, t := range terms {
			m[t.Key] = str(t.Value)
		}
		item["md"] = &types.AttributeValueMemberM{Value: m}
	}
	if s.opts.EventTTL > 0 {
		item["ttl"] = num(fromMicros(created).Add(s.opts.EventTTL).Unix() + 1)
	}
	return item
}

func eventFromItem(item map[string]types.AttributeValue) (triggers.Event, error) {
	created, ok := getN(item, "created_at")
	if !ok {
		return triggers.Event{}, fmt.Errorf("dynamodb: event item %q has no created_at", getS(item, "pk"))
	}
	e := triggers.Event{
		ID: getS(item, "id"), Tenant: getS(item, "tenant"), Source: getS(item, "source"),
		EventType: getS(item, "event_type"), Priority: triggers.Priority(getS(item, "priority")),
		Payload: json.RawMessage(getS(item, "payload")), Metadata: json.RawMessage(getS(item, "metadata")),
		CreatedAt: fromMicros(created),
	}
	if acked, ok := getN(item, "acked_at"); ok {
		e.AcknowledgedAt = fromMicros(acked)
	}
	// The lease attributes (see the package doc, Leases); absent on events
	// never received, and on items written before leases existed.
	if n, ok := getN(item, "attempts"); ok {
		e.Attempts = int(n)
	}
	e.LeaseID = getS(item, "lease_id")
	if us, ok := getN(item, "lease_expires_at"); ok {
		e.LeaseExpiresAt = fromMicros(us)
	}
	if us, ok := getN(item, "available_at"); ok {
		e.AvailableAt = fromMicros(us)
	}
	if us, ok := getN(item, "dead_at"); ok {
		e.DeadAt = fromMicros(us)
	}
	return e, nil
}

// InsertEvents stores the inserts in two steps (see the package doc,
// Idempotency): first the idempotency records of the inserts that have a
// key, claimed in parallel; then the events that were not replays, with one
// conditional PutItem for a single event or BatchWriteItem in chunks of 25
// (in parallel, retrying UnprocessedItems with backoff). A failure of one
// insert is its InsertResult.Err; its idempotency record is then removed.
func (s *Store) InsertEvents(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error) {
	results := make([]triggers.InsertResult, len(inserts))
	events := make([]triggers.Event, len(inserts))
	for i, in := range inserts {
		events[i] = in.Event
		events[i].CreatedAt = fromMicros(s.nextCreated(in.Event.CreatedAt.UnixMicro()))
	}

	// Step 1: idempotency records. The keys of one call are distinct (see
	// triggers.Store), so the claims are independent.
	var wg sync.WaitGroup
	for i, in := range inserts {
		if in.IdempotencyKey == "" {
			continue
		}
		wg.Go(func() {
			r, err := s.claimIdempotency(ctx, in, events[i])
			if err != nil {
				r = triggers.InsertResult{Err: err}
			}
			results[i] = r
		})
	}
	wg.Wait()

	// Step 2: the events of the inserts that claimed their key or had none.
	var todo []int
	for i := range inserts {
		if results[i].Replayed || results[i].Err != nil {
			continue
		}
		todo = append(todo, i)
	}
	errs := s.putEvents(ctx, events, todo)
	for _, i := range todo {
		if err := errs[i]; err != nil {
			results[i] = triggers.InsertResult{Err: err}
			if inserts[i].IdempotencyKey != "" {
				s.undoIdempotency(ctx, inserts[i], events[i].ID)
			}
			continue
		}
		results[i] = triggers.InsertResult{Event: events[i], Outbox: true}
		s.webhooks.dirty.Store(true) // an outbox entry: fan out at the next claim
	}
	// The counters of the events stored (see the package doc, Statistics).
	d := newStatsDelta()
	var tenants []string
	for _, r := range results {
		if r.Err == nil && !r.Replayed {
			d.created(r.Event)
			if !slices.Contains(tenants, r.Event.Tenant) {
				tenants = append(tenants, r.Event.Tenant)
			}
		}
	}
	var registered sync.WaitGroup
	registered.Go(func() { s.registerTenants(ctx, tenants) })
	s.applyStats(ctx, d)
	registered.Wait()
	return results, nil
}

// maxIdemAttempts bounds the put-or-read loop of an idempotency record (a
// record may expire or be removed between the failed put and the read).
const maxIdemAttempts = 3

// claimIdempotency puts the idempotency record of in (for event e), or
// reports the replay of a live record.
func (s *Store) claimIdempotency(ctx context.Context, in triggers.Insert, e triggers.Event) (triggers.InsertResult, error) {
	for attempt := 0; ; attempt++ {
		replay, err := s.putIdempotency(ctx, in, e)
		if err != nil {
			return triggers.InsertResult{}, err
		}
		if replay == nil {
			return triggers.InsertResult{}, nil
		}
		if replay.Replayed {
			return *replay, nil
		}
		if attempt+1 >= maxIdemAttempts {
			return triggers.InsertResult{}, triggers.Unavailable(fmt.Errorf("dynamodb: idempotency record of %q keeps changing", in.IdempotencyKey))
		}
	}
}

// batchSize is BatchWriteItem's limit of items per call.
const batchSize = 25

// putEvents writes events[i] for each i in todo and returns the error of
// each that failed, by index.
func (s *Store) putEvents(ctx context.Context, events []triggers.Event, todo []int) map[int]error {
	errs := map[int]error{}
	if len(todo) == 0 {
		return errs
	}
	if len(todo) == 1 {
		// One event: a conditional put, which also guards against an id
		// that exists already.
		i := todo[0]
		cctx, cancel := s.ctx(ctx)
		defer cancel()
		_, err := s.client.PutItem(cctx, &dynamodb.PutItemInput{
			TableName:           &s.events,
			Item:                s.eventItem(events[i], micros(events[i].CreatedAt)),
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if failed, _ := conditionFailed(err); failed {
			err = fmt.Errorf("dynamodb: event id %s exists already", events[i].ID)
		}
		if err != nil {
			errs[i] = s.formatError("put event", s.events, err)
		}
		return errs
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for chunk := range slices.Chunk(todo, batchSize) {
		wg.Go(func() {
			failed, err := s.batchPut(ctx, events, chunk)
			mu.Lock()
			defer mu.Unlock()
			for _, i := range failed {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errs
}

// maxBatchAttempts bounds the calls of one BatchWriteItem chunk, retries of
// UnprocessedItems included.
const maxBatchAttempts = 6

// batchPut writes one chunk of at most 25 events and returns the indexes it
// could not write, with the reason.
func (s *Store) batchPut(ctx context.Context, events []triggers.Event, chunk []int) ([]int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	byPK := make(map[string]int, len(chunk))
	reqs := make([]types.WriteRequest, len(chunk))
	for n, i := range chunk {
		byPK[eventPK(events[i].Tenant, events[i].ID)] = i
		reqs[n] = types.WriteRequest{PutRequest: &types.PutRequest{Item: s.eventItem(events[i], micros(events[i].CreatedAt))}}
	}
	pending := map[string][]types.WriteRequest{s.events: reqs}
	delay := 25 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return unwritten(pending[s.events], byPK), s.formatError("put events", s.events, err)
		}
		pending = out.UnprocessedItems
		if len(pending[s.events]) == 0 {
			return nil, nil
		}
		if attempt >= maxBatchAttempts {
			return unwritten(pending[s.events], byPK), triggers.Unavailable(fmt.Errorf("dynamodb: put events: %d items still unprocessed after %d attempts", len(pending[s.events]), attempt))
		}
		select {
		case <-ctx.Done():
			return unwritten(pending[s.events], byPK), triggers.Unavailable(fmt.Errorf("dynamodb: put events: %w", ctx.Err()))
		case <-time.After(delay + time.Duration(rand.Int64N(int64(delay)))):
		}
		delay = min(2*delay, time.Second)
	}
}

// unwritten maps the put requests of a batch back to event indexes.
func unwritten(reqs []types.WriteRequest, byPK map[string]int) []int {
	out := make([]int, 0, len(reqs))
	for _, r := range reqs {
		if r.PutRequest != nil {
			out = append(out, byPK[getS(r.PutRequest.Item, "pk")])
		}
	}
	return out
}

// putIdempotency claims the idempotency key for e. It returns nil when the
// claim succeeded; a Replayed result when a live record exists; a result
// that is not Replayed when the record vanished before it could be read (the
// caller tries again).
func (s *Store) putIdempotency(ctx context.Context, in triggers.Insert, e triggers.Event) (*triggers.InsertResult, error) {
	created := micros(e.CreatedAt)
	pk := eventPK(e.Tenant, in.IdempotencyKey)
	item := map[string]types.AttributeValue{
		"pk":               str(pk),
		"request_hash":     str(in.RequestHash),
		"event_id":         str(e.ID),
		"event_created_at": num(created),
		"created_at":       num(created),
	}
	if nb := micros(in.IdempotencyNotBefore); nb > 0 && created > nb {
		// Kept as long as the window the service asked for: created + (created - notBefore).
		item["ttl"] = num(fromMicros(created+(created-nb)).Unix() + 1)
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.PutItem(cctx, &dynamodb.PutItemInput{
		TableName:                           &s.idem,
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR created_at <= :nb"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":nb": num(micros(in.IdempotencyNotBefore))},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil, nil
	}
	failed, old := conditionFailed(err)
	if !failed {
		return nil, s.formatError("put idempotency record", s.idem, err)
	}
	if old == nil {
		out, err := s.client.GetItem(cctx, &dynamodb.GetItemInput{
			TableName: &s.idem, Key: map[string]types.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, s.formatError("get idempotency record", s.idem, err)
		}
		old = out.Item
	}
	recCreated, _ := getN(old, "created_at")
	if old == nil || recCreated <= micros(in.IdempotencyNotBefore) {
		return &triggers.InsertResult{}, nil // gone or expired meanwhile: try again
	}
	evCreated, _ := getN(old, "event_created_at")
	return &triggers.InsertResult{
		Event:       triggers.Event{ID: getS(old, "event_id"), Tenant: e.Tenant, CreatedAt: fromMicros(evCreated)},
		Replayed:    true,
		RequestHash: getS(old, "request_hash"),
	}, nil
}

// undoIdempotency removes the record claimed for eventID after the event put
// failed, so that a retry of the request can succeed. Best effort: it runs
// on a fresh context, since the caller's may be what failed.
func (s *Store) undoIdempotency(ctx context.Context, in triggers.Insert, eventID string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	s.client.DeleteItem(cctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.idem,
		Key:                       map[string]types.AttributeValue{"pk": str(eventPK(in.Event.Tenant, in.IdempotencyKey))},
		ConditionExpression:       aws.String("event_id = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(eventID)},
	})
}

// GetEvent reads the event with a consistent read.
func (s *Store) GetEvent(ctx context.Context, tenant, id string, notBefore time.Time) (triggers.Event, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.events,
		Key:            map[string]types.AttributeValue{"pk": str(eventPK(tenant, id))},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return triggers.Event{}, s.formatError("get event", s.events, err)
	}
	return visibleEvent(out.Item, notBefore)
}

// visibleEvent decodes item, ENOTFOUND when it is absent or expired.
func visibleEvent(item map[string]types.AttributeValue, notBefore time.Time) (triggers.Event, error) {
	if item == nil {
		return triggers.Event{}, triggers.EventNotFound()
	}
	e, err := eventFromItem(item)
	if err != nil {
		return triggers.Event{}, err
	}
	if micros(e.CreatedAt) <= micros(notBefore) {
		return triggers.Event{}, triggers.EventNotFound()
	}
	return e, nil
}

// AckEvent acknowledges with one conditional UpdateItem that also takes the
// event out of the inbox index (its pending or its dead partition) and ends
// its lease; with a.LeaseID it is conditional on that lease being the
// event's recorded one.
func (s *Store) AckEvent(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error) {
	d := newStatsDelta()
	e, err := s.ackEvent(ctx, tenant, a, at, notBefore, d)
	s.applyStats(ctx, d)
	return e, err
}

// ackEvent is AckEvent, with the counter changes of a successful ack added
// to d. The update returns the item as it was (ALL_OLD), which says what
// the ack ended (pending or dead, a lease); the event returned is that item
// with the update applied.
func (s *Store) ackEvent(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time, d *statsDelta) (triggers.Event, error) {
	id := a.ID
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	key := map[string]types.AttributeValue{"pk": str(eventPK(tenant, id))}
	cond := "attribute_exists(inbox_tenant) AND created_at > :nb"
	values := map[string]types.AttributeValue{":at": num(micros(at)), ":nb": num(micros(notBefore))}
	if a.LeaseID != "" {
		cond += " AND lease_id = :lid"
		values[":lid"] = str(a.LeaseID)
	}
	old, err := s.updateItem(ctx, "ack event", &dynamodb.UpdateItemInput{
		Key:                       key,
		UpdateExpression:          aws.String("SET acked_at = :at REMOVE inbox_tenant, created_at_id, lease_id, lease_expires_at, available_at, dead_at"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
	}, func(old map[string]types.AttributeValue) error {
		e, err := visibleEvent(old, notBefore)
		switch {
		case err != nil:
			return err
		case a.LeaseID != "" && e.AcknowledgedAt.IsZero():
			return triggers.LeaseLost(id)
		}
		return triggers.AlreadyAcknowledged(id)
	})
	if err != nil {
		return triggers.Event{}, err
	}
	e, err := eventFromItem(old)
	if err != nil {
		return triggers.Event{}, err
	}
	d.acked(old, at)
	e.AcknowledgedAt = fromMicros(micros(at))
	e.LeaseID, e.LeaseExpiresAt, e.AvailableAt, e.DeadAt = "", time.Time{}, time.Time{}, time.Time{}
	return e, nil
}

// updateEvent runs one conditional UpdateItem on the events table (in's
// table and return values are set here) and returns the event as stored.
// When the condition fails, conflict says why from the item as it was
// (nil: absent), read from the failure or, on servers that do not return
// it (dynalite), with a consistent GetItem.
func (s *Store) updateEvent(ctx context.Context, op string, in *dynamodb.UpdateItemInput,
	conflict func(old map[string]types.AttributeValue) error) (triggers.Event, error) {
	in.ReturnValues = types.ReturnValueAllNew
	item, err := s.updateItem(ctx, op, in, conflict)
	if err != nil {
		return triggers.Event{}, err
	}
	return eventFromItem(item)
}

// updateItem runs one conditional UpdateItem on the events table and
// returns the item its in.ReturnValues asks for (ALL_NEW or ALL_OLD); a
// failed condition is told apart by conflict, as for updateEvent.
func (s *Store) updateItem(ctx context.Context, op string, in *dynamodb.UpdateItemInput,
	conflict func(old map[string]types.AttributeValue) error) (map[string]types.AttributeValue, error) {
	in.TableName = &s.events
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	out, err := s.client.UpdateItem(ctx, in)
	if err == nil {
		return out.Attributes, nil
	}
	failed, old := conditionFailed(err)
	if !failed {
		return nil, s.formatError(op, s.events, err)
	}
	old, err = s.itemAfterFailure(ctx, op, in.Key, old)
	if err != nil {
		return nil, err
	}
	return nil, conflict(old)
}

// itemAfterFailure returns the item as a failed condition saw it: old, the
// item the server returned with the failure (ReturnValuesOnConditionCheckFailure),
// or, from a server that returns none (dynalite), a consistent read of it
// now. It is nil when the item does not exist.
func (s *Store) itemAfterFailure(ctx context.Context, op string, key, old map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	if old != nil {
		return old, nil
	}
	got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.events, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, s.formatError(op, s.events, err)
	}
	return got.Item, nil
}

// DeleteEvent deletes with one conditional DeleteItem.
func (s *Store) DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error) {
	d := newStatsDelta()
	ok, err := s.deleteEvent(ctx, tenant, id, notBefore, d)
	s.applyStats(ctx, d)
	return ok, err
}

// deleteEvent is DeleteEvent, with the counter changes of a deletion added
// to d, from the item as it was (ALL_OLD).
func (s *Store) deleteEvent(ctx context.Context, tenant, id string, notBefore time.Time, d *statsDelta) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.events,
		Key:                       map[string]types.AttributeValue{"pk": str(eventPK(tenant, id))},
		ConditionExpression:       aws.String("attribute_exists(pk) AND created_at > :nb"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":nb": num(micros(notBefore))},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	if err != nil {
		return false, s.formatError("delete event", s.events, err)
	}
	d.left(out.Attributes, 0)
	return true, nil
}

// bulkConcurrency bounds the calls AckEvents and DeleteEvents have in
// flight at once: 25 items take 3 rounds of at most 10 concurrent calls.
const bulkConcurrency = 10

// AckEvents acknowledges each id with the conditional UpdateItem of
// AckEvent, concurrently (see eachItem). The whole call never fails.
func (s *Store) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error) {
	d := newStatsDelta()
	res := eachItem(acks, func(a triggers.Ack) (triggers.Event, error) {
		return s.ackEvent(ctx, tenant, a, at, notBefore, d)
	})
	s.applyStats(ctx, d)
	return res, nil
}

// DeleteEvents deletes each id with the conditional DeleteItem of
// DeleteEvent, concurrently (at most bulkConcurrency at once), the ids being
// distinct as for AckEvents. An id that deleted nothing is ENOTFOUND.
func (s *Store) DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error) {
	results := make([]triggers.DeleteResult, len(ids))
	d := newStatsDelta()
	defer s.applyStats(ctx, d)
	var g errgroup.Group
	g.SetLimit(bulkConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			ok, err := s.deleteEvent(ctx, tenant, id, notBefore, d)
			if err == nil && !ok {
				err = triggers.EventNotFound()
			}
			results[i] = triggers.DeleteResult{Err: err}
			return nil // as in AckEvents
		})
	}
	g.Wait() // as in AckEvents
	return results, nil
}

// ListPending reads one inbox page from the inbox index (see the package
// doc, The inbox). With InboxSettle, a page with a next position is only
// answered from a read that started at least InboxSettle after its last
// event was created: after a read that started earlier, ListPending waits
// until then (never past the first read + InboxSettle) and reads the page
// again; where waiting cannot help it cuts the page instead (settlePage).
func (s *Store) ListPending(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	if q.Limit <= 0 {
		q.Limit = triggers.DefaultInboxLimit
	}
	in, filtered, ok := inboxQuery(s.events, q)
	if !ok {
		return triggers.Page{}, nil
	}
	// Without a filter every item examined matches: no scan bound is needed.
	maxScan := 0
	if filtered && q.MaxScan > 0 {
		maxScan = max(q.MaxScan, q.Limit+1)
	}
	settle := s.opts.InboxSettle
	var latest time.Time // no wait ends after this: the first read + InboxSettle
	for reads := 1; ; reads++ {
		readAt := s.opts.Now()
		if reads == 1 {
			latest = readAt.Add(settle)
		}
		page, err := s.readPage(ctx, *in, q.Limit, maxScan, q.MaxBytes)
		if err != nil || settle <= 0 || page.Next == nil {
			// A last page is returned whole: the reader's next pass starts
			// from the beginning.
			return page, err
		}
		// The read must start once the page's last position has settled.
		wake := page.Next.CreatedAt.Add(settle)
		if !wake.After(readAt) {
			return page, nil
		}
		if reads >= maxSettleReads || wake.After(latest) || !roomToWait(ctx, wake.Sub(readAt)+s.timeout) {
			return settlePage(page, q, readAt.Add(-settle)), nil
		}
		if d := wake.Sub(s.opts.Now()); d > 0 {
			if err := s.opts.Sleep(ctx, d); err != nil {
				return triggers.Page{}, s.formatError("list pending: wait for the settle window", s.events, err)
			}
		}
	}
}

// maxSettleReads bounds the reads of one ListPending: the first, and the
// reads after waiting for the settle window. One wait normally suffices; a
// second is needed only when acknowledgements during the first moved the
// page's end onto a younger event.
const maxSettleReads = 3

// roomToWait reports whether ctx leaves d before its deadline.
func roomToWait(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= d
}

// readPage runs the inbox Query in until it has limit+1 matches (then Next
// is the limit-th), a match that does not fit maxBytes (then Next is the
// last event of the page), the index is exhausted (Next is nil) or maxScan
// items were examined (then the page may be short and Next is the last
// position examined). Each read has the store's timeout.
func (s *Store) readPage(ctx context.Context, in dynamodb.QueryInput, limit, maxScan, maxBytes int) (triggers.Page, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var events []triggers.Event
	budget := triggers.ByteBudget{Max: maxBytes}
	examined := 0
	for {
		want := limit + 1 - len(events)
		if maxScan > 0 {
			want = maxScan - examined
		}
		in.Limit = aws.Int32(int32(want))
		out, err := s.client.Query(ctx, &in)
		if err != nil {
			return triggers.Page{}, s.formatError("list pending", s.events, err)
		}
		examined += int(out.ScannedCount)
		for _, item := range out.Items {
			e, err := eventFromItem(item)
			if err != nil {
				return triggers.Page{}, err
			}
			if len(events) < limit && !budget.Take(triggers.EventBytes(&e)) {
				last := events[len(events)-1]
				return triggers.Page{Events: events, Next: &triggers.Position{CreatedAt: last.CreatedAt, ID: last.ID}}, nil
			}
			events = append(events, e)
		}
		if len(events) > limit {
			events = events[:limit]
			last := events[limit-1]
			return triggers.Page{Events: events, Next: &triggers.Position{CreatedAt: last.CreatedAt, ID: last.ID}}, nil
		}
		if out.LastEvaluatedKey == nil {
			return triggers.Page{Events: events}, nil
		}
		if maxScan > 0 && examined >= maxScan {
			next, err := parseSortKey(getS(out.LastEvaluatedKey, "created_at_id"))
			if err != nil {
				return triggers.Page{}, err
			}
			return triggers.Page{Events: events, Next: &next}, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// maxID sorts after every event id: a position at (t, maxID) is after every
// event created at t and before every event created later.
const maxID = "ffffffff-ffff-ffff-ffff-ffffffffffff"

// settlePage cuts a page with a next position at bound (the read's start
// minus InboxSettle), for when waiting cannot help (see ListPending): the
// events created after bound are left for the next page, which starts just
// before them. The page may then be short, even empty, with a next position.
func settlePage(page triggers.Page, q triggers.InboxQuery, bound time.Time) triggers.Page {
	bound = bound.Truncate(time.Microsecond)
	keep := 0
	for keep < len(page.Events) && !page.Events[keep].CreatedAt.After(bound) {
		keep++
	}
	page.Events = page.Events[:keep]
	switch {
	case keep > 0:
		last := page.Events[keep-1]
		page.Next = &triggers.Position{CreatedAt: last.CreatedAt, ID: last.ID}
	case q.After != nil && !q.After.CreatedAt.Before(bound):
		// Already at the bound: stay where the reader is.
		page.Next = q.After
	default:
		// Nothing on this page is old enough, and nothing before its first
		// event matched: carry on from the bound.
		page.Next = &triggers.Position{CreatedAt: bound, ID: maxID}
	}
	return page
}

// DeleteExpired scans the events, idempotency and webhooks tables for expired items and deletes them, each
// with a DeleteItem conditional on it still being expired. In production
// DynamoDB's TTL does this work; this is for servers without TTL and tests.
//
// The events it deletes leave the statistics counters (the counter
// changes of each scanned page are written after the page's deletions);
// DynamoDB's TTL, which removes events without this store knowing, does
// not (see the package doc, Statistics).
func (s *Store) DeleteExpired(ctx context.Context, eventsBefore, idemBefore time.Time) (int, error) {
	n, err := s.deleteScanned(ctx, s.events, micros(eventsBefore), true)
	if err != nil {
		return n, err
	}
	if _, err = s.deleteScanned(ctx, s.idem, micros(idemBefore), false); err != nil {
		return n, err
	}
	// The deliveries of the events expired (see the package doc, Webhooks).
	return n, s.deleteExpiredDeliveries(ctx, micros(eventsBefore))
}

// deleteScanned deletes the items of table created at or before before;
// for events (counted), the deletions are taken out of the counters.
func (s *Store) deleteScanned(ctx context.Context, table string, before int64, counted bool) (int, error) {
	deleted := 0
	bound := map[string]types.AttributeValue{":b": num(before)}
	err := s.scanPages(ctx, &dynamodb.ScanInput{
		TableName:                 &table,
		FilterExpression:          aws.String("created_at <= :b"),
		ProjectionExpression:      aws.String("pk"),
		ExpressionAttributeValues: bound,
	}, func(items []map[string]types.AttributeValue) error {
		d := newStatsDelta()
		defer s.applyStats(ctx, d)
		for _, item := range items {
			cctx, cancel := s.ctx(ctx)
			in := &dynamodb.DeleteItemInput{
				TableName:                 &table,
				Key:                       map[string]types.AttributeValue{"pk": item["pk"]},
				ConditionExpression:       aws.String("created_at <= :b"),
				ExpressionAttributeValues: bound,
			}
			if counted {
				in.ReturnValues = types.ReturnValueAllOld
			}
			del, err := s.client.DeleteItem(cctx, in)
			cancel()
			if failed, _ := conditionFailed(err); failed {
				continue
			}
			if err != nil {
				return s.formatError("delete expired", table, err)
			}
			if counted {
				d.left(del.Attributes, 0)
			}
			deleted++
		}
		return nil
	})
	return deleted, err
}

// scanPages runs a Scan to its end, giving each page's items to each; an
// error of each ends it.
func (s *Store) scanPages(ctx context.Context, in *dynamodb.ScanInput, each func(items []map[string]types.AttributeValue) error) error {
	for {
		cctx, cancel := s.ctx(ctx)
		out, err := s.client.Scan(cctx, in)
		cancel()
		if err != nil {
			return s.formatError("scan expired", *in.TableName, err)
		}
		if err := each(out.Items); err != nil {
			return err
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// inboxQuery builds the inbox Query of q: the date range, retention and
// cursor as one key condition on the inbox index, every other condition as
// a filter expression whose names and values are all placeholders. filtered
// reports a filter expression; ok is false when the range is empty.
func inboxQuery(table string, q triggers.InboxQuery) (in *dynamodb.QueryInput, filtered, ok bool) {
	// The key condition: one inclusive range of sort keys. Sort keys all have
	// one length, so "sk > P" is "sk >= P + any character".
	lowerMicros := max(micros(q.NotBefore), micros(q.Filter.CreatedAfter), 0) + 1
	lo := sortKey(lowerMicros, "")
	if q.After != nil {
		if p := sortKey(micros(q.After.CreatedAt), q.After.ID) + "!"; p > lo {
			lo = p
		}
	}
	values := map[string]types.AttributeValue{":t": str(inboxPartition(q.Tenant, q.Filter.Status)), ":lo": str(lo)}
	keyCond := "inbox_tenant = :t AND created_at_id >= :lo"
	if !q.Filter.CreatedBefore.IsZero() {
		// created_at < B: every sort key of B-1 microseconds sorts before this.
		// ('$' sorts after the '#' that follows the digits).
		hi := fmt.Sprintf("%020d$", micros(q.Filter.CreatedBefore)-1)
		if hi < lo {
			return nil, false, false
		}
		values[":hi"] = str(hi)
		keyCond = "inbox_tenant = :t AND created_at_id BETWEEN :lo AND :hi"
	}
	var filters []string
	names := map[string]string{}
	for _, f := range []struct{ attr, value string }{
		{"source", q.Filter.Source}, {"event_type", q.Filter.EventType}, {"priority", string(q.Filter.Priority)},
	} {
		if f.value != "" {
			filters = append(filters, "#"+f.attr+" = :"+f.attr)
			names["#"+f.attr] = f.attr
			values[":"+f.attr] = str(f.value)
		}
	}
	// Metadata keys and values are never written into the expression:
	// both go through placeholders (#mN, :mN).
	for i, m := range q.Filter.Metadata {
		filters = append(filters, fmt.Sprintf("#md.#m%d = :m%d", i, i))
		names["#md"] = "md"
		names[fmt.Sprintf("#m%d", i)] = m.Key
		values[fmt.Sprintf(":m%d", i)] = str(m.Value)
	}
	in = &dynamodb.QueryInput{
		TableName:                 &table,
		IndexName:                 aws.String(InboxIndex),
		KeyConditionExpression:    aws.String(keyCond),
		ExpressionAttributeValues: values,
	}
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
		in.ExpressionAttributeNames = names
	}
	return in, len(filters) > 0, true
}
