package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/dynamodb"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/storetest"
)

var _ triggers.ReceivePoller = (*dynamodb.Store)(nil)

// receiveQuery asks for up to max events of tenant "a" at now, leased for
// 30 s, with the default max attempts.
func receiveQuery(now, nb time.Time, max int) triggers.ReceiveQuery {
	ids := make([]string, max)
	for i := range ids {
		ids[i] = triggers.NewLeaseID()
	}
	return triggers.ReceiveQuery{Tenant: "a", NotBefore: nb, Now: now, Max: max, LeaseIDs: ids,
		LeaseExpiresAt: now.Add(30 * time.Second), MaxAttempts: triggers.DefaultMaxAttempts, MaxScan: 1000}
}

func mustReceive(t *testing.T, s triggers.Store, q triggers.ReceiveQuery) triggers.Received {
	t.Helper()
	got, err := s.ReceiveEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("ReceiveEvents() = %v", err)
	}
	return got
}

func eventIDs(evs []triggers.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func mustConflict(t *testing.T, op string, err error, reason string) {
	t.Helper()
	var e *triggers.Error
	if !errors.As(err, &e) || e.Code != triggers.ECONFLICT || e.Details["reason"] != reason {
		t.Fatalf("%s = %v, want CONFLICT with reason %s", op, err, reason)
	}
}

// mustStore opens a store on fresh tables.
func mustStore(t *testing.T) *dynamodb.Store {
	t.Helper()
	client := teststore.MustClient(t)
	return mustOpenStage(t, client, client)
}

// TestReceiveEvents_OldestFirst: without contention a receive leases the
// oldest available events in inbox order, each with the lease id of its
// place, for one Query and one conditional write per event; a receive
// that finds only leased events reports when the first lease ends.
func TestReceiveEvents_OldestFirst(t *testing.T) {
	s, calls := mustCountedStore(t)
	now, nb := testTimes()
	evs := storetest.MustInsert(t, s, newEvent(now), newEvent(now), newEvent(now), newEvent(now), newEvent(now))
	calls()

	q := receiveQuery(now, nb, 3)
	got := mustReceive(t, s, q)
	if g, w := strings.Join(eventIDs(got.Events), ","), strings.Join(eventIDs(evs[:3]), ","); g != w {
		t.Fatalf("ReceiveEvents() = %s, want the 3 oldest %s", g, w)
	}
	for i, e := range got.Events {
		if e.LeaseID != q.LeaseIDs[i] || !e.LeaseExpiresAt.Equal(q.LeaseExpiresAt) || e.Attempts != 1 || !e.AvailableAt.IsZero() {
			t.Errorf("event %d = lease %s until %v, attempts %d; want lease %s until %v, attempts 1",
				i, e.LeaseID, e.LeaseExpiresAt, e.Attempts, q.LeaseIDs[i], q.LeaseExpiresAt)
		}
		if string(e.Payload) != `{"n":1}` || e.Source != "s" {
			t.Errorf("event %d = %+v, want the whole stored event", i, e)
		}
	}
	if c := calls(); c["Query"] != 1 || c["UpdateItem"] != 3 || total(c) != 4 {
		t.Errorf("receive of 3 took %v, want 1 Query and 3 UpdateItem", c)
	}
	stored, err := s.GetEvent(context.Background(), "a", evs[0].ID, nb)
	if err != nil || stored.LeaseID != q.LeaseIDs[0] || stored.Attempts != 1 || !stored.Leased(now) {
		t.Fatalf("GetEvent() = %+v, %v; want it leased", stored, err)
	}

	rest := mustReceive(t, s, receiveQuery(now, nb, 3))
	if g, w := strings.Join(eventIDs(rest.Events), ","), strings.Join(eventIDs(evs[3:]), ","); g != w {
		t.Fatalf("second ReceiveEvents() = %s, want the other 2 %s", g, w)
	}
	none := mustReceive(t, s, receiveQuery(now.Add(time.Second), nb, 3))
	if len(none.Events) != 0 || !none.NextAvailable.Equal(q.LeaseExpiresAt) {
		t.Fatalf("third ReceiveEvents() = %d events, next available %v; want none, next at %v",
			len(none.Events), none.NextAvailable, q.LeaseExpiresAt)
	}
	// When the leases expire the events are available again, attempts 2.
	again := mustReceive(t, s, receiveQuery(q.LeaseExpiresAt, nb, 10))
	if len(again.Events) != 5 || again.Events[0].Attempts != 2 {
		t.Fatalf("ReceiveEvents() after expiry = %d events, want 5 with attempts 2", len(again.Events))
	}
}

// TestReceiveEvents_Filters: a receive leases only matching events and
// never an event of another tenant, an expired one, or one outside the
// date range.
func TestReceiveEvents_Filters(t *testing.T) {
	s := mustStore(t)
	now, nb := testTimes()
	other := newEvent(now)
	other.Source = "other"
	b := newEvent(now)
	b.Tenant = "b"
	old := newEvent(nb.Add(-time.Minute))
	// old first: the store only moves created_at forward.
	evs := storetest.MustInsert(t, s, old, newEvent(now), other, b)[1:]
	q := receiveQuery(now, nb, 10)
	q.Filter.Source = "s"
	got := mustReceive(t, s, q)
	if len(got.Events) != 1 || got.Events[0].ID != evs[0].ID {
		t.Fatalf("ReceiveEvents(source=s) = %v, want only %s", eventIDs(got.Events), evs[0].ID)
	}
	q = receiveQuery(now, nb, 10)
	q.Filter.CreatedBefore = evs[1].CreatedAt
	if got := mustReceive(t, s, q); len(got.Events) != 0 {
		t.Fatalf("ReceiveEvents(created_before) = %v, want none (the only older event is leased)", eventIDs(got.Events))
	}
}

// TestLeaseVerbs_Conflicts checks each verb's answer when the lease named
// is not the event's current unexpired one (DESIGN §10.3), and the cases
// that succeed although the lease expired: every case acts on a fresh
// event leased at now for 30 s.
func TestLeaseVerbs_Conflicts(t *testing.T) {
	s := mustStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	later := now.Add(time.Minute) // the lease has expired
	other := triggers.NewLeaseID()
	nack := func(e triggers.Event, lease string, at time.Time) error {
		res, err := s.NackEvents(ctx, "a", []triggers.Nack{{ID: e.ID, LeaseID: lease}}, at, nb)
		if err != nil {
			return fmt.Errorf("whole call failed: %w", err)
		}
		return res[0].Err
	}
	extend := func(e triggers.Event, lease string, at time.Time) error {
		_, err := s.ExtendLease(ctx, "a", triggers.Ack{ID: e.ID, LeaseID: lease}, at.Add(time.Minute), at, nb)
		return err
	}
	ack := func(e triggers.Event, lease string) error {
		_, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID, LeaseID: lease}, now, nb)
		return err
	}
	redrive := func(e triggers.Event, notBefore time.Time) error {
		res, err := s.RedriveEvents(ctx, "a", []string{e.ID}, notBefore)
		if err != nil {
			return fmt.Errorf("whole call failed: %w", err)
		}
		return res[0].Err
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	deadLetter := func(t *testing.T, e triggers.Event) {
		q := receiveQuery(later, nb, 1)
		q.MaxAttempts = 1
		if got := mustReceive(t, s, q); got.DeadLettered != 1 {
			t.Fatalf("ReceiveEvents(max attempts 1) dead-lettered %d, want 1", got.DeadLettered)
		}
	}
	tests := []struct {
		name   string
		before func(t *testing.T, e triggers.Event)
		act    func(e triggers.Event) error
		code   triggers.Code
		reason string
	}{
		{"NackOtherLease", nil, func(e triggers.Event) error { return nack(e, other, now) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"NackExpiredLease", nil, func(e triggers.Event) error { return nack(e, e.LeaseID, later) }, triggers.ECONFLICT, triggers.ReasonLeaseExpired},
		{"ExtendExpiredLease", nil, func(e triggers.Event) error { return extend(e, e.LeaseID, later) }, triggers.ECONFLICT, triggers.ReasonLeaseExpired},
		{"ExtendOtherLease", nil, func(e triggers.Event) error { return extend(e, other, now) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"NackAcknowledged", func(t *testing.T, e triggers.Event) { must(t, ack(e, "")) },
			func(e triggers.Event) error { return nack(e, e.LeaseID, now) }, triggers.ECONFLICT, triggers.ReasonAlreadyAcknowledged},
		{"ExtendAcknowledged", func(t *testing.T, e triggers.Event) { must(t, ack(e, e.LeaseID)) },
			func(e triggers.Event) error { return extend(e, e.LeaseID, now) }, triggers.ECONFLICT, triggers.ReasonAlreadyAcknowledged},
		{"ExtendAfterNack", func(t *testing.T, e triggers.Event) { must(t, nack(e, e.LeaseID, now)) },
			func(e triggers.Event) error { return extend(e, e.LeaseID, now) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"AckAfterNack", func(t *testing.T, e triggers.Event) { must(t, nack(e, e.LeaseID, now)) },
			func(e triggers.Event) error { return ack(e, e.LeaseID) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"AckOtherLease", nil, func(e triggers.Event) error { return ack(e, other) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"AckTwiceWithLease", func(t *testing.T, e triggers.Event) { must(t, ack(e, e.LeaseID)) },
			func(e triggers.Event) error { return ack(e, e.LeaseID) }, triggers.ECONFLICT, triggers.ReasonAlreadyAcknowledged},
		{"AckExpiredLeaseSucceeds", nil, func(e triggers.Event) error { return ack(e, e.LeaseID) }, "", ""},
		{"NackDead", deadLetter, func(e triggers.Event) error { return nack(e, e.LeaseID, later) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"AckDeadWithLease", deadLetter, func(e triggers.Event) error { return ack(e, e.LeaseID) }, triggers.ECONFLICT, triggers.ReasonLeaseLost},
		{"AckDeadSucceeds", deadLetter, func(e triggers.Event) error { return ack(e, "") }, "", ""},
		{"RedrivePending", nil, func(e triggers.Event) error { return redrive(e, nb) }, triggers.ECONFLICT, triggers.ReasonNotDead},
		{"RedriveAcknowledged", func(t *testing.T, e triggers.Event) { must(t, ack(e, "")) },
			func(e triggers.Event) error { return redrive(e, nb) }, triggers.ECONFLICT, triggers.ReasonNotDead},
		{"RedriveExpired", deadLetter, func(e triggers.Event) error { return redrive(e, now.Add(time.Hour)) }, triggers.ENOTFOUND, ""},
		{"NackOtherTenant", nil, func(e triggers.Event) error {
			res, _ := s.NackEvents(ctx, "b", []triggers.Nack{{ID: e.ID, LeaseID: e.LeaseID}}, now, nb)
			return res[0].Err
		}, triggers.ENOTFOUND, ""},
		{"ExtendUnknown", nil, func(e triggers.Event) error {
			return extend(triggers.Event{ID: triggers.NewEventID(now)}, e.LeaseID, now)
		}, triggers.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.MustInsert(t, s, newEvent(now))
			got := mustReceive(t, s, receiveQuery(now, nb, 1))
			if len(got.Events) != 1 {
				t.Fatalf("ReceiveEvents() = %d events, want 1", len(got.Events))
			}
			e := got.Events[0]
			if tt.before != nil {
				tt.before(t, e)
			}
			err := tt.act(e)
			if code := triggers.ErrorCode(err); code != tt.code {
				t.Fatalf("got %v (code %q), want code %q", err, code, tt.code)
			}
			if tt.reason != "" {
				mustConflict(t, tt.name, err, tt.reason)
			}
			// Acknowledge the event whatever happened, so that the next
			// case receives its own.
			if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID}, now, nb); err != nil && triggers.ErrorCode(err) != triggers.ECONFLICT {
				t.Fatalf("cleanup ack: %v", err)
			}
		})
	}
}

// TestNackEvents_Delay: a nack ends the lease and keeps the attempts; with
// a delay the event is available again only once the delay has passed,
// and a receive before then reports when.
func TestNackEvents_Delay(t *testing.T) {
	s, calls := mustCountedStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	ev := storetest.MustInsert(t, s, newEvent(now))[0]
	e := mustReceive(t, s, receiveQuery(now, nb, 1)).Events[0]
	calls()
	avail := now.Add(10 * time.Second)
	res, err := s.NackEvents(ctx, "a", []triggers.Nack{{ID: ev.ID, LeaseID: e.LeaseID, AvailableAt: avail}}, now, nb)
	if err != nil || res[0].Err != nil {
		t.Fatalf("NackEvents() = %+v, %v", res, err)
	}
	if c := calls(); c["UpdateItem"] != 1 || total(c) != 1 {
		t.Errorf("nack took %v, want 1 UpdateItem", c)
	}
	n := res[0].Event
	if n.LeaseID != "" || !n.LeaseExpiresAt.IsZero() || !n.AvailableAt.Equal(avail) || n.Attempts != 1 {
		t.Fatalf("nacked event = lease %q until %v, available %v, attempts %d; want no lease, available %v, attempts 1",
			n.LeaseID, n.LeaseExpiresAt, n.AvailableAt, n.Attempts, avail)
	}
	early := mustReceive(t, s, receiveQuery(now.Add(5*time.Second), nb, 1))
	if len(early.Events) != 0 || !early.NextAvailable.Equal(avail) {
		t.Fatalf("ReceiveEvents() during the delay = %d events, next %v; want none, next %v", len(early.Events), early.NextAvailable, avail)
	}
	again := mustReceive(t, s, receiveQuery(avail, nb, 1))
	if len(again.Events) != 1 || again.Events[0].Attempts != 2 || !again.Events[0].AvailableAt.IsZero() {
		t.Fatalf("ReceiveEvents() after the delay = %+v, want the event with attempts 2", again.Events)
	}
	// A nack without delay makes it available at once.
	res, err = s.NackEvents(ctx, "a", []triggers.Nack{{ID: ev.ID, LeaseID: again.Events[0].LeaseID}}, avail, nb)
	if err != nil || res[0].Err != nil || !res[0].Event.AvailableAt.IsZero() {
		t.Fatalf("NackEvents() without delay = %+v, %v", res, err)
	}
	if got := mustReceive(t, s, receiveQuery(avail, nb, 1)); len(got.Events) != 1 || got.Events[0].Attempts != 3 {
		t.Fatalf("ReceiveEvents() after a nack without delay = %+v, want the event with attempts 3", got.Events)
	}
}

// TestExtendLease: an extension moves the lease's expiry (one conditional
// write): the event stays leased past the first expiry, and the lease can
// be acknowledged.
func TestExtendLease(t *testing.T) {
	s, calls := mustCountedStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	storetest.MustInsert(t, s, newEvent(now))
	e := mustReceive(t, s, receiveQuery(now, nb, 1)).Events[0]
	calls()
	at := now.Add(20 * time.Second)
	ext, err := s.ExtendLease(ctx, "a", triggers.Ack{ID: e.ID, LeaseID: e.LeaseID}, at.Add(time.Minute), at, nb)
	if err != nil || !ext.LeaseExpiresAt.Equal(at.Add(time.Minute)) || ext.LeaseID != e.LeaseID {
		t.Fatalf("ExtendLease() = %+v, %v; want the lease until %v", ext, err, at.Add(time.Minute))
	}
	if c := calls(); c["UpdateItem"] != 1 || total(c) != 1 {
		t.Errorf("extend took %v, want 1 UpdateItem", c)
	}
	if got := mustReceive(t, s, receiveQuery(now.Add(45*time.Second), nb, 1)); len(got.Events) != 0 || !got.NextAvailable.Equal(ext.LeaseExpiresAt) {
		t.Fatalf("ReceiveEvents() after the first expiry = %d events, next %v; want none, next %v", len(got.Events), got.NextAvailable, ext.LeaseExpiresAt)
	}
	if _, err := s.AckEvent(ctx, "a", triggers.Ack{ID: e.ID, LeaseID: e.LeaseID}, at, nb); err != nil {
		t.Fatalf("AckEvent(lease) = %v", err)
	}
}

// TestDeadLetters: an available event whose attempts reached the receive's
// max attempts becomes dead instead of leased: it leaves the pending inbox
// and is listed with status dead; a redrive puts it back in its place in
// the pending inbox with attempts 0.
func TestDeadLetters(t *testing.T) {
	s, calls := mustCountedStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	evs := storetest.MustInsert(t, s, newEvent(now), newEvent(now), newEvent(now))
	q := receiveQuery(now, nb, 1)
	if first := mustReceive(t, s, q).Events[0]; first.ID != evs[0].ID {
		t.Fatalf("ReceiveEvents() = %s, want %s", first.ID, evs[0].ID)
	}
	calls()
	later := q.LeaseExpiresAt
	q = receiveQuery(later, nb, 1)
	q.MaxAttempts = 1
	got := mustReceive(t, s, q)
	if got.DeadLettered != 1 || len(got.Events) != 1 || got.Events[0].ID != evs[1].ID {
		t.Fatalf("ReceiveEvents(max attempts 1) = %v, dead-lettered %d; want %s leased and 1 dead", eventIDs(got.Events), got.DeadLettered, evs[1].ID)
	}
	if c := calls(); c["Query"] != 1 || c["UpdateItem"] != 2 || total(c) != 3 {
		t.Errorf("receive with a dead letter took %v, want 1 Query and 2 UpdateItem", c)
	}
	dead, err := s.GetEvent(ctx, "a", evs[0].ID, nb)
	if err != nil || dead.Status() != triggers.StatusDead || !dead.DeadAt.Equal(later) || dead.Attempts != 1 || dead.LeaseID != "" || !dead.LeaseExpiresAt.IsZero() {
		t.Fatalf("GetEvent(dead) = %+v, %v; want dead at %v, attempts 1, no lease", dead, err, later)
	}
	list := func(tenant string, st triggers.Status) []string {
		t.Helper()
		p, err := s.ListPending(ctx, triggers.InboxQuery{Tenant: tenant, NotBefore: nb, Limit: 50, Filter: triggers.InboxFilter{Status: st}})
		if err != nil {
			t.Fatalf("ListPending(%s) = %v", st, err)
		}
		return eventIDs(p.Events)
	}
	if g := list("a", triggers.StatusDead); len(g) != 1 || g[0] != evs[0].ID {
		t.Fatalf("dead inbox = %v, want [%s]", g, evs[0].ID)
	}
	if g := list("a", triggers.StatusPending); len(g) != 2 || g[0] != evs[1].ID {
		t.Fatalf("pending inbox = %v, want the 2 others", g)
	}
	if g := list("a", ""); len(g) != 2 {
		t.Fatalf("inbox with no status = %v, want the 2 pending", g)
	}
	if g := list("b", triggers.StatusDead); len(g) != 0 {
		t.Fatalf("tenant b's dead inbox = %v, want empty", g)
	}

	calls()
	res, err := s.RedriveEvents(ctx, "a", []string{evs[0].ID, evs[2].ID, triggers.NewEventID(now)}, nb)
	if err != nil {
		t.Fatalf("RedriveEvents() = %v", err)
	}
	if c := calls(); c["UpdateItem"] != 3 {
		t.Errorf("redrive of 3 took %v, want 3 UpdateItem (and on dynalite a read per failure)", c)
	}
	r := res[0].Event
	if res[0].Err != nil || r.Status() != triggers.StatusPending || r.Attempts != 0 || !r.DeadAt.IsZero() || !r.Available(later) {
		t.Fatalf("RedriveEvents()[0] = %+v, %v; want pending and available with attempts 0", r, res[0].Err)
	}
	mustConflict(t, "RedriveEvents()[1]", res[1].Err, triggers.ReasonNotDead)
	if triggers.ErrorCode(res[2].Err) != triggers.ENOTFOUND {
		t.Fatalf("RedriveEvents()[2] = %v, want ENOTFOUND", res[2].Err)
	}
	if g := list("a", triggers.StatusPending); len(g) != 3 || g[0] != evs[0].ID {
		t.Fatalf("pending inbox after redrive = %v, want all 3, %s first", g, evs[0].ID)
	}
	if g := list("a", triggers.StatusDead); len(g) != 0 {
		t.Fatalf("dead inbox after redrive = %v, want empty", g)
	}
	q = receiveQuery(later, nb, 1)
	q.MaxAttempts = 1
	if got := mustReceive(t, s, q); len(got.Events) != 1 || got.Events[0].ID != evs[0].ID || got.Events[0].Attempts != 1 || got.DeadLettered != 0 {
		t.Fatalf("ReceiveEvents() after redrive = %+v, want %s leased with attempts 1", got, evs[0].ID)
	}
}

// TestReceiveEvents_PoisonHead: events that used up their attempts at the
// head of the inbox do not keep a receive from the event behind them; a
// receive dead-letters at most a window of them (4 × Max), later receives
// the rest.
func TestReceiveEvents_PoisonHead(t *testing.T) {
	s, calls := mustCountedStore(t)
	now, nb := testTimes()
	in := make([]triggers.Event, 10)
	for i := range in {
		in[i] = newEvent(now)
	}
	poison := storetest.MustInsert(t, s, in...)
	q := receiveQuery(now, nb, 10)
	mustReceive(t, s, q) // attempts 1 each
	fresh := storetest.MustInsert(t, s, newEvent(now))[0]
	calls()
	later := q.LeaseExpiresAt
	q = receiveQuery(later, nb, 1)
	q.MaxAttempts = 1
	got := mustReceive(t, s, q)
	if len(got.Events) != 1 || got.Events[0].ID != fresh.ID || got.DeadLettered != 4 {
		t.Fatalf("ReceiveEvents() = %v, %d dead-lettered; want %s and 4 dead-lettered", eventIDs(got.Events), got.DeadLettered, fresh.ID)
	}
	c := calls()
	t.Logf("receive behind 10 events to dead-letter: %v", c)
	if c["UpdateItem"] != 5 {
		t.Errorf("receive wrote %d times, want 5 (4 dead letters, 1 lease)", c["UpdateItem"])
	}
	p, err := s.ListPending(context.Background(), triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 50, Filter: triggers.InboxFilter{Status: triggers.StatusDead}})
	if err != nil || strings.Join(eventIDs(p.Events), ",") != strings.Join(eventIDs(poison[:4]), ",") {
		t.Fatalf("dead inbox = %v, %v; want the 4 oldest", eventIDs(p.Events), err)
	}
	q = receiveQuery(later, nb, 1)
	q.MaxAttempts = 1
	if got := mustReceive(t, s, q); len(got.Events) != 0 || got.DeadLettered != 4 {
		t.Fatalf("next ReceiveEvents() = %v, %d dead-lettered; want none leased, 4 dead-lettered", eventIDs(got.Events), got.DeadLettered)
	}
}

// TestListPending_DeadPaging: the dead inbox pages and filters as the
// pending one does.
func TestListPending_DeadPaging(t *testing.T) {
	s := mustStore(t)
	ctx := context.Background()
	now, nb := testTimes()
	var in []triggers.Event
	for i := range 7 {
		e := newEvent(now)
		if i%2 == 1 {
			e.Source = "odd"
		}
		in = append(in, e)
	}
	evs := storetest.MustInsert(t, s, in...)
	q := receiveQuery(now, nb, 7)
	mustReceive(t, s, q) // attempts 1
	q = receiveQuery(q.LeaseExpiresAt, nb, 7)
	q.MaxAttempts = 1
	if got := mustReceive(t, s, q); got.DeadLettered != 7 {
		t.Fatalf("ReceiveEvents() dead-lettered %d, want 7", got.DeadLettered)
	}
	for _, tt := range []struct {
		name   string
		filter triggers.InboxFilter
		want   []string
	}{
		{"All", triggers.InboxFilter{Status: triggers.StatusDead}, eventIDs(evs)},
		{"Source", triggers.InboxFilter{Status: triggers.StatusDead, Source: "odd"}, []string{evs[1].ID, evs[3].ID, evs[5].ID}},
		{"CreatedAfter", triggers.InboxFilter{Status: triggers.StatusDead, CreatedAfter: evs[4].CreatedAt}, []string{evs[5].ID, evs[6].ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			iq := triggers.InboxQuery{Tenant: "a", NotBefore: nb, Limit: 2, MaxScan: 1000, Filter: tt.filter}
			for range 10 {
				p, err := s.ListPending(ctx, iq)
				if err != nil {
					t.Fatalf("ListPending() = %v", err)
				}
				seen = append(seen, eventIDs(p.Events)...)
				if iq.After = p.Next; p.Next == nil {
					break
				}
			}
			if g, w := strings.Join(seen, ","), strings.Join(tt.want, ","); g != w {
				t.Fatalf("dead pages = %s, want %s", g, w)
			}
		})
	}
}

// TestReceiveEvents_LostRace: the index said an event was available, but
// another process leased it between the Query and the lease write: the
// write's condition fails, the receive skips that event and leases
// another instead, and the event stays leased to the other receiver.
func TestReceiveEvents_LostRace(t *testing.T) {
	base := teststore.MustClient(t)
	stage := teststore.MustStage(t, base, "test")
	rival, err := dynamodb.Open(context.Background(), base, stage, nil)
	if err != nil {
		t.Fatal(err)
	}
	now, nb := testTimes()
	var rivalGot triggers.Received
	var once sync.Once
	var updates atomic.Int64
	client := awsdynamodb.New(base.Options(), func(o *awsdynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("rival",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*awsdynamodb.UpdateItemInput); ok && !statsCall(in.Parameters) {
						updates.Add(1)
						// Before the first lease write: the rival leases the oldest.
						once.Do(func() { rivalGot = mustReceive(t, rival, receiveQuery(now, nb, 1)) })
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	s, err := dynamodb.Open(context.Background(), client, stage, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := storetest.MustInsert(t, rival, newEvent(now), newEvent(now), newEvent(now), newEvent(now))
	got := mustReceive(t, s, receiveQuery(now, nb, 2))
	if len(rivalGot.Events) != 1 || rivalGot.Events[0].ID != evs[0].ID {
		t.Fatalf("rival ReceiveEvents() = %v, want %s", eventIDs(rivalGot.Events), evs[0].ID)
	}
	// Having lost a race, it tries the rest in random order (see the
	// package doc, Leases): the second event, then the third or fourth.
	if g := eventIDs(got.Events); len(g) != 2 || g[0] != evs[1].ID || (g[1] != evs[2].ID && g[1] != evs[3].ID) {
		t.Fatalf("ReceiveEvents() = %v, want %s and one of the 2 after it", g, evs[1].ID)
	}
	if n := updates.Load(); n != 3 {
		t.Errorf("ReceiveEvents() sent %d lease writes, want 3 (one lost)", n)
	}
	e, err := s.GetEvent(context.Background(), "a", evs[0].ID, nb)
	if err != nil || e.LeaseID != rivalGot.Events[0].LeaseID || e.Attempts != 1 {
		t.Fatalf("GetEvent() = %+v, %v; want it leased once, to the rival", e, err)
	}
}

// TestReceive_SeesOtherInstanceCreate: a receive waiting on one instance
// returns an event created through another instance within 1 s (DESIGN
// §10.2): the store is a ReceivePoller, so the waiting receive asks again.
func TestReceive_SeesOtherInstanceCreate(t *testing.T) {
	client := teststore.MustClient(t)
	stage := teststore.MustStage(t, client, "test")
	open := func() *triggers.Service {
		s, err := dynamodb.Open(context.Background(), client, stage, nil)
		if err != nil {
			t.Fatal(err)
		}
		return triggers.NewService(s, nil)
	}
	waiting, creating := open(), open()
	type result struct {
		res triggers.ReceiveResult
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		res, err := waiting.Receive(context.Background(), "a", triggers.ReceiveRequest{MaxEvents: 1, Lease: time.Minute, Wait: 5 * time.Second, MaxAttempts: 10})
		done <- result{res, err, time.Now()}
	}()
	time.Sleep(1500 * time.Millisecond) // the waiting receive's poll interval has grown to its maximum
	ne, err := triggers.ParseNewEvent([]byte(`{"source":"s","event_type":"t","payload":{"n":1}}`), "", "")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	cr, err := creating.CreateEvent(context.Background(), "a", ne)
	if err != nil {
		t.Fatalf("CreateEvent() = %v", err)
	}
	r := <-done
	if r.err != nil || len(r.res.Events) != 1 || r.res.Events[0].ID != cr.Event.ID {
		t.Fatalf("Receive() = %+v, %v; want the created event", r.res, r.err)
	}
	if d := r.at.Sub(created); d > time.Second {
		t.Fatalf("Receive() returned %v after the create on another instance, want within 1 s", d)
	}
	t.Logf("create seen by the waiting receive after %v (%d store calls)", r.at.Sub(created).Round(time.Millisecond), r.res.Attempts)
}

// TestReceiveEvents_Contention drains 400 events with 8 concurrent
// receivers (separate stores, as separate processes would be), each
// receiving up to 10 and acknowledging them with their leases: every event
// is leased exactly once (the leases never expire here) and acknowledged.
// It logs the wasted conditional writes (lost races) per leased event and
// the sequential round trips per receive: with contended receives
// spreading (the default), always trying the oldest events first, and
// spreading with receivers that work 20 ms on each batch (receivers that
// do no work collide the most).
func TestReceiveEvents_Contention(t *testing.T) {
	if testing.Short() {
		t.Skip("a drain of 400 events with 8 receivers takes a few seconds")
	}
	const events, receivers, max = 400, 8, 10
	base := teststore.MustClient(t)
	for _, tt := range []struct {
		name   string
		spread bool
		work   time.Duration // per batch, before the ack
	}{
		{"Spread", true, 0},
		{"OldestFirst", false, 0},
		{"SpreadWith20msOfWork", true, 20 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stage := teststore.MustStage(t, base, "test")
			acker, err := dynamodb.Open(context.Background(), base, stage, nil)
			if err != nil {
				t.Fatal(err)
			}
			now, nb := testTimes()
			in := make([]triggers.Insert, events)
			for i := range in {
				in[i] = triggers.Insert{Event: newEvent(now)}
			}
			if _, err := acker.InsertEvents(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			type stat struct{ receives, empty, leased, updates, queries, rounds, fullRounds int64 }
			var (
				leasedBy sync.Map // event id → receiver
				acked    atomic.Int64
				stats    [receivers]stat
				wg       sync.WaitGroup
			)
			start := time.Now()
			for r := range receivers {
				var inFlight atomic.Int64
				st := &stats[r]
				// Counts the receiver's calls, and its sequential round
				// trips: the calls that start while none is in flight.
				client := aroundCalls(base, "stats", func(op string, call func()) {
					if inFlight.Add(1) == 1 {
						atomic.AddInt64(&st.rounds, 1)
					}
					switch op {
					case "UpdateItem":
						atomic.AddInt64(&st.updates, 1)
					case "Query":
						atomic.AddInt64(&st.queries, 1)
					}
					call()
					inFlight.Add(-1)
				})
				s, err := dynamodb.Open(context.Background(), client, stage, nil)
				if err != nil {
					t.Fatal(err)
				}
				dynamodb.SetSpreading(s, tt.spread)
				wg.Go(func() {
					for acked.Load() < events {
						if time.Since(start) > time.Minute {
							t.Errorf("receiver %d: the drain did not end within a minute", r)
							return
						}
						before := atomic.LoadInt64(&st.rounds)
						got, err := s.ReceiveEvents(context.Background(), receiveQuery(now, nb, max))
						if err != nil {
							t.Errorf("receiver %d: ReceiveEvents() = %v", r, err)
							return
						}
						st.receives++
						st.leased += int64(len(got.Events))
						if len(got.Events) == 0 {
							st.empty++
							continue
						}
						st.fullRounds += atomic.LoadInt64(&st.rounds) - before
						acks := make([]triggers.Ack, len(got.Events))
						for i, e := range got.Events {
							if prev, dup := leasedBy.LoadOrStore(e.ID, r); dup {
								t.Errorf("event %s leased by receivers %v and %d", e.ID, prev, r)
							}
							acks[i] = triggers.Ack{ID: e.ID, LeaseID: e.LeaseID}
						}
						time.Sleep(tt.work)
						res, err := acker.AckEvents(context.Background(), "a", acks, now, nb)
						if err != nil {
							t.Errorf("AckEvents() = %v", err)
							return
						}
						for _, ar := range res {
							if ar.Err != nil {
								t.Errorf("ack of a held lease: %v", ar.Err)
							}
						}
						acked.Add(int64(len(acks)))
					}
				})
			}
			wg.Wait()
			var sum stat
			for _, st := range stats {
				sum.receives += st.receives
				sum.empty += st.empty
				sum.leased += st.leased
				sum.updates += st.updates
				sum.queries += st.queries
				sum.rounds += st.rounds
				sum.fullRounds += st.fullRounds
			}
			if sum.leased != events || acked.Load() != events {
				t.Fatalf("leased %d, acknowledged %d; want %d each", sum.leased, acked.Load(), events)
			}
			full := sum.receives - sum.empty
			t.Logf("%d receivers, max %d, %d events in %v: %d receives, %d of them empty; "+
				"%.2f wasted conditional writes per leased event; per non-empty receive %.1f events and %.2f round trips; "+
				"per receive %.2f round trips and %.2f queries",
				receivers, max, events, time.Since(start).Round(time.Millisecond), sum.receives, sum.empty,
				float64(sum.updates-sum.leased)/float64(sum.leased), float64(sum.leased)/float64(full),
				float64(sum.fullRounds)/float64(full), float64(sum.rounds)/float64(sum.receives),
				float64(sum.queries)/float64(sum.receives))
		})
	}
}
