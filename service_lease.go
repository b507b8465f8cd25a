package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// present returns e as clients may see it at now: the lease id is known only
// to the receive that granted it, and a lease is shown only while it is held.
// It returns a copy, so that events shared with a store's cache are never
// changed.
func present(e Event, now time.Time) Event {
	e.LeaseID = ""
	if !e.Leased(now) {
		e.LeaseExpiresAt = time.Time{}
	}
	if !e.AvailableAt.After(now) {
		e.AvailableAt = time.Time{}
	}
	return e
}

// presentAll applies present to events, copying the slice first when any
// event changes (a store may share its slice with a cache).
func presentAll(events []Event, now time.Time) []Event {
	for i := range events {
		if p := present(events[i], now); p.LeaseID != events[i].LeaseID ||
			!p.LeaseExpiresAt.Equal(events[i].LeaseExpiresAt) || !p.AvailableAt.Equal(events[i].AvailableAt) {
			out := make([]Event, len(events))
			for j := range events {
				out[j] = present(events[j], now)
			}
			return out
		}
	}
	return events
}

func presentResults(res []EventResult, now time.Time) {
	for i := range res {
		if res[i].Err == nil {
			res[i].Event = present(res[i].Event, now)
		}
	}
}

// ReceiveResult is the outcome of one receive.
type ReceiveResult struct {
	// Events are the leased events, each with its LeaseID and LeaseExpiresAt.
	Events []Event
	// DeadLettered counts the events dead-lettered by this receive.
	DeadLettered int
	// Waited is how long the receive waited for events (0 without a wait).
	Waited time.Duration
	// Attempts counts the store calls the receive made.
	Attempts int
}

// Receive leases up to req.MaxEvents available events of tenant matching
// req.Filter (DESIGN §10.2). With req.Wait > 0 and nothing available, it
// waits until a matching event may have become available (a create, nack
// or redrive in this process wakes it at once; a lease or nack delay ending
// wakes it at that instant; on a ReceivePoller store it also asks again
// periodically) and answers as soon as it has events, or with none when the
// wait ends, the context is done, its deadline is near (Lambda), or
// StopWaiting was called.
func (s *Service) Receive(ctx context.Context, tenant string, req ReceiveRequest) (ReceiveResult, error) {
	start := s.Now()
	end := start.Add(req.Wait)
	if dl, ok := ctx.Deadline(); ok && req.Wait > 0 {
		// Answer before the caller's deadline (API Gateway's timeout on
		// Lambda), leaving time to write the answer.
		if limit := dl.Add(-time.Second); limit.Before(end) {
			end = limit
		}
	}
	var out ReceiveResult
	poll := s.pollInterval
	for {
		var woken <-chan struct{}
		if req.Wait > 0 {
			woken = s.waiters.wait(tenant) // before the store call: a create after it wakes us
		}
		now := s.Now()
		q := ReceiveQuery{Tenant: tenant, Filter: req.Filter, NotBefore: s.notBefore(now), Now: now,
			Max: req.MaxEvents, LeaseExpiresAt: now.Add(req.Lease), MaxAttempts: req.MaxAttempts,
			MaxScan: s.maxInboxScan, MaxBytes: s.maxPageBytes, LeaseIDs: make([]string, req.MaxEvents)}
		for i := range q.LeaseIDs {
			q.LeaseIDs[i] = NewLeaseID()
		}
		got, err := s.store.ReceiveEvents(ctx, q)
		out.Attempts++
		if err != nil {
			s.waiters.done(tenant, woken)
			return ReceiveResult{}, err
		}
		out.DeadLettered += got.DeadLettered
		if got.DeadLettered > 0 {
			s.waiters.signal(tenant) // the statistics of dead events changed; cheap for waiters
		}
		now = s.Now() // the store call may have taken a while (retries)
		if len(got.Events) > 0 || req.Wait <= 0 || !now.Before(end) {
			s.waiters.done(tenant, woken)
			out.Events = got.Events
			out.Waited = now.Sub(start)
			return out, nil
		}
		sleep := end.Sub(now)
		if !got.NextAvailable.IsZero() && got.NextAvailable.Sub(now) < sleep {
			sleep = max(got.NextAvailable.Sub(now), time.Millisecond)
		}
		if poll > 0 && poll < sleep {
			sleep = poll
			poll = min(2*poll, 4*s.pollInterval)
		}
		s.waitingReceives.Add(1)
		stop := false
		select {
		case <-woken:
		case <-s.after(sleep):
		case <-ctx.Done():
			stop = true
		case <-s.stopping:
			stop = true
		}
		s.waitingReceives.Add(-1)
		if stop {
			s.waiters.done(tenant, woken)
			out.Waited = s.Now().Sub(start)
			return out, nil
		}
	}
}

// WaitingReceives reports how many receives are waiting now (a gauge).
func (s *Service) WaitingReceives() int64 { return s.waitingReceives.Load() }

// StopWaiting makes every waiting receive answer at once, and later ones not
// wait: the server is shutting down.
func (s *Service) StopWaiting() { s.stopOnce.Do(func() { close(s.stopping) }) }

// eventsAvailable wakes the receives of tenant waiting in this process.
func (s *Service) eventsAvailable(tenant string) { s.waiters.signal(tenant) }

// waiters wakes receives waiting for a tenant's events. A waiter takes the
// tenant's channel before it asks the store, and signal closes it: whatever
// becomes available after the store call wakes the waiter, and nothing is
// missed between the call and the wait.
type waiters struct {
	mu sync.Mutex
	ch map[string]*waitChannel
}

type waitChannel struct {
	c     chan struct{}
	users int
}

func (w *waiters) wait(tenant string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = map[string]*waitChannel{}
	}
	wc := w.ch[tenant]
	if wc == nil {
		wc = &waitChannel{c: make(chan struct{})}
		w.ch[tenant] = wc
	}
	wc.users++
	return wc.c
}

// done releases a channel taken by wait (nil: none was taken).
func (w *waiters) done(tenant string, c <-chan struct{}) {
	if c == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if wc := w.ch[tenant]; wc != nil && wc.c == c {
		if wc.users--; wc.users == 0 {
			delete(w.ch, tenant)
		}
	}
}

func (w *waiters) signal(tenant string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wc := w.ch[tenant]; wc != nil {
		close(wc.c)
		delete(w.ch, tenant)
	}
}

// NackEvent ends the lease req.LeaseID of the event; it is available again
// after req.Seconds (DESIGN §10.3). ENOTFOUND, ECONFLICT with a reason.
func (s *Service) NackEvent(ctx context.Context, tenant, id string, req LeaseRequest) (Event, error) {
	res, err := s.nackEvents(ctx, tenant, []Nack{{ID: id, LeaseID: req.LeaseID}}, []int{req.Seconds})
	if err != nil {
		return Event{}, err
	}
	return res[0].Event, res[0].Err
}

// NackEvents parses and applies the items of a bulk nack, each a JSON object
// {"event_id", "lease_id", "delay_seconds"}, in one store call, applied as if
// in order: one result per item (EINVALID naming items[i].field, and
// otherwise as for NackEvent; a repeated event ends a lease the first
// occurrence already ended: lease_lost). The error is for the whole request.
func (s *Service) NackEvents(ctx context.Context, tenant string, items []json.RawMessage) ([]EventResult, error) {
	if err := checkBulkSize("items", "items", len(items)); err != nil {
		return nil, err
	}
	type nackItem struct {
		Nack
		delay int
	}
	return eachItemOnce(len(items),
		func(i int) (string, string, nackItem, error) {
			var delay int
			id, lease, err := parseLeaseItem(i, items[i], "delay_seconds",
				func(raw json.RawMessage, fail func(field, msg string)) {
					delay = intField(raw, itemField(i, "delay_seconds"), 0, MaxNackDelaySeconds, fail)
				})
			return id, lease, nackItem{Nack: Nack{ID: id, LeaseID: lease}, delay: delay}, err
		},
		func(items []nackItem) ([]EventResult, error) {
			nacks := make([]Nack, len(items))
			delays := make([]int, len(items))
			for i, it := range items {
				nacks[i], delays[i] = it.Nack, it.delay
			}
			return s.nackEvents(ctx, tenant, nacks, delays)
		},
		failedResult, resultErr,
		func(_ EventResult, id string) EventResult { return EventResult{Err: LeaseLost(id)} })
}

func (s *Service) nackEvents(ctx context.Context, tenant string, nacks []Nack, delays []int) ([]EventResult, error) {
	now := s.Now()
	for i := range nacks {
		if delays[i] > 0 {
			nacks[i].AvailableAt = now.Add(time.Duration(delays[i]) * time.Second)
		}
	}
	res, err := s.store.NackEvents(ctx, tenant, nacks, now, s.notBefore(now))
	if err != nil {
		return nil, err
	}
	if len(res) != len(nacks) {
		return nil, fmt.Errorf("triggers: store returned %d results for %d nacks", len(res), len(nacks))
	}
	presentResults(res, now)
	// A nack makes an event available (now, or after its delay: a waiter
	// then learns the instant from the store).
	s.eventsAvailable(tenant)
	return res, nil
}

// ExtendLease sets the expiry of the lease req.LeaseID on the event to now +
// req.Seconds and returns the event with it (DESIGN §10.3).
func (s *Service) ExtendLease(ctx context.Context, tenant, id string, req LeaseRequest) (Event, error) {
	now := s.Now()
	expires := now.Add(time.Duration(req.Seconds) * time.Second)
	e, err := s.store.ExtendLease(ctx, tenant, Ack{ID: id, LeaseID: req.LeaseID}, expires, now, s.notBefore(now))
	if err != nil {
		return Event{}, err
	}
	return present(e, now), nil
}

// AckItems acknowledges the items of a bulk ack in its items form, each a
// JSON object {"event_id", "lease_id"} (lease_id optional), as AckEvents
// does for event_ids; each item with a lease id is conditional, as AckEvent.
func (s *Service) AckItems(ctx context.Context, tenant string, items []json.RawMessage) ([]AckResult, error) {
	if err := checkBulkSize("items", "items", len(items)); err != nil {
		return nil, err
	}
	now := s.Now()
	return eachItemOnce(len(items),
		func(i int) (string, string, Ack, error) {
			id, lease, err := parseLeaseItem(i, items[i], "", nil)
			return id, lease, Ack{ID: id, LeaseID: lease}, err
		},
		func(acks []Ack) ([]AckResult, error) { return s.ackEvents(ctx, tenant, acks, now) },
		failedResult, resultErr, repeatedAck)
}

// parseLeaseItem parses item i of a bulk request on leases: an object with
// event_id (required), lease_id (required when extra is set: a nack) and
// the optional field extra, which parseExtra reads when it is present and
// not null. Errors are EINVALID naming every bad field as items[i].field.
func parseLeaseItem(i int, raw json.RawMessage, extra string,
	parseExtra func(raw json.RawMessage, fail func(field, msg string))) (string, string, error) {
	var bad []FieldError
	fail := func(f, m string) { bad = append(bad, FieldError{Field: f, Message: m}) }
	obj, err := decodeObject(raw)
	if err != nil {
		return "", "", InvalidFields(FieldError{Field: fmt.Sprintf("items[%d]", i), Message: err.Error()})
	}
	known := "event_id, lease_id"
	if extra != "" {
		known += ", " + extra
	}
	for _, name := range sortedKeys(obj) {
		if name != "event_id" && name != "lease_id" && name != extra {
			fail(itemField(i, name), "unknown field; known: "+known)
		}
	}
	var id string
	if json.Unmarshal(obj["event_id"], &id) != nil || !isUUID(id) {
		fail(itemField(i, "event_id"), "is required: a UUID such as 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6")
	}
	lease := leaseIDField(obj["lease_id"], itemField(i, "lease_id"), extra != "", fail)
	if v, ok := obj[extra]; ok && extra != "" && !isNull(v) {
		parseExtra(v, fail)
	}
	if bad != nil {
		return "", "", InvalidFields(bad...)
	}
	id, _ = ParseEventID(id)
	return id, lease, nil
}

func itemField(i int, name string) string { return "items[" + strconv.Itoa(i) + "]." + name }

// RedriveEvent makes a dead event pending and available again with attempts
// back to 0 (DESIGN §10.4); ENOTFOUND, ECONFLICT (not_dead).
func (s *Service) RedriveEvent(ctx context.Context, tenant, id string) (Event, error) {
	res, err := s.redrive(ctx, tenant, []string{id})
	if err != nil {
		return Event{}, err
	}
	return res[0].Event, res[0].Err
}

// RedriveEvents redrives up to BulkLimit dead events, one result per id as
// RedriveEvent (a repeated id: not_dead the second time); errors as for
// AckEvents.
func (s *Service) RedriveEvents(ctx context.Context, tenant string, ids []string) ([]EventResult, error) {
	return eachEventOnce(ids,
		func(ids []string) ([]EventResult, error) { return s.redrive(ctx, tenant, ids) },
		failedResult, resultErr,
		func(_ EventResult, id string) EventResult { return EventResult{Err: NotDead(id)} })
}

func (s *Service) redrive(ctx context.Context, tenant string, ids []string) ([]EventResult, error) {
	now := s.Now()
	res, err := s.store.RedriveEvents(ctx, tenant, ids, s.notBefore(now))
	if err != nil {
		return nil, err
	}
	if len(res) != len(ids) {
		return nil, fmt.Errorf("triggers: store returned %d results for %d redrives", len(res), len(ids))
	}
	presentResults(res, now)
	s.eventsAvailable(tenant)
	return res, nil
}
