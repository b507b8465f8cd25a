package dispatch_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// fakeWebhooks adds an in-memory WebhookStore (and DeliveryBacklog) to a
// real store that has none yet: openStore uses it only while the real
// stores lack WebhookStore, so that the dispatcher's tests run on the real
// ones as soon as they have it. It keeps the contract's parts the
// dispatcher relies on: the outbox on InsertEvents, exclusive claims, due
// order, held deliveries of disabled subscriptions, lease checks on
// completion.
type fakeWebhooks struct {
	triggers.Store

	mu   sync.Mutex
	subs map[string]triggers.Subscription // by id
	dels map[triggers.DeliveryKey]*triggers.Delivery
}

var _ triggers.WebhookStore = (*fakeWebhooks)(nil)

func newFakeWebhooks(s triggers.Store) *fakeWebhooks {
	return &fakeWebhooks{Store: s, subs: map[string]triggers.Subscription{}, dels: map[triggers.DeliveryKey]*triggers.Delivery{}}
}

func (f *fakeWebhooks) InsertEvents(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error) {
	res, err := f.Store.InsertEvents(ctx, inserts)
	if err != nil {
		return res, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range res {
		if r.Err != nil || r.Replayed {
			continue
		}
		for _, s := range f.subs {
			if s.Tenant == r.Event.Tenant && s.Matches(&r.Event) {
				k := triggers.DeliveryKey{Tenant: s.Tenant, SubscriptionID: s.ID, EventID: r.Event.ID}
				f.dels[k] = &triggers.Delivery{Tenant: s.Tenant, SubscriptionID: s.ID, EventID: r.Event.ID,
					EventCreatedAt: r.Event.CreatedAt, Status: triggers.DeliveryPending, NextAttemptAt: r.Event.CreatedAt}
			}
		}
	}
	return res, nil
}

func (f *fakeWebhooks) CreateSubscription(_ context.Context, sub triggers.Subscription, max int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.subs {
		if s.Tenant == sub.Tenant {
			n++
		}
	}
	if n >= max {
		return triggers.Errorf(triggers.ECONFLICT, "subscription limit")
	}
	f.subs[sub.ID] = sub
	return nil
}

func (f *fakeWebhooks) GetSubscription(_ context.Context, tenant, id string) (triggers.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if !ok || s.Tenant != tenant {
		return triggers.Subscription{}, triggers.Errorf(triggers.ENOTFOUND, "subscription not found")
	}
	return s, nil
}

func (f *fakeWebhooks) ListSubscriptions(_ context.Context, tenant string) ([]triggers.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []triggers.Subscription
	for _, s := range f.subs {
		if s.Tenant == tenant {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b triggers.Subscription) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (f *fakeWebhooks) UpdateSubscription(_ context.Context, tenant, id string, fn func(*triggers.Subscription) error) (triggers.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if !ok || s.Tenant != tenant {
		return triggers.Subscription{}, triggers.Errorf(triggers.ENOTFOUND, "subscription not found")
	}
	if err := fn(&s); err != nil {
		return triggers.Subscription{}, err
	}
	f.subs[id] = s
	return s, nil
}

func (f *fakeWebhooks) DeleteSubscription(_ context.Context, tenant, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if !ok || s.Tenant != tenant {
		return false, nil
	}
	delete(f.subs, id)
	for k := range f.dels {
		if k.SubscriptionID == id {
			delete(f.dels, k)
		}
	}
	return true, nil
}

func (f *fakeWebhooks) ClaimDeliveries(_ context.Context, q triggers.ClaimQuery) ([]triggers.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var due []*triggers.Delivery
	for _, d := range f.dels {
		s, ok := f.subs[d.SubscriptionID]
		if ok && s.Status == triggers.SubscriptionActive && d.Status == triggers.DeliveryPending &&
			!d.NextAttemptAt.After(q.Now) && (d.LeaseID == "" || !d.LeaseExpiresAt.After(q.Now)) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *triggers.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.EventID, b.EventID))
	})
	var out []triggers.Delivery
	for i, d := range due[:min(len(due), q.Max)] {
		d.LeaseID, d.LeaseExpiresAt = q.LeaseIDs[i], q.LeaseExpiresAt
		out = append(out, clone(d))
	}
	return out, nil
}

func clone(d *triggers.Delivery) triggers.Delivery {
	c := *d
	c.Attempts = slices.Clone(d.Attempts)
	return c
}

func (f *fakeWebhooks) CompleteDelivery(_ context.Context, o triggers.DeliveryOutcome) (triggers.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.dels[o.Key]
	if !ok {
		return triggers.Delivery{}, triggers.Errorf(triggers.ENOTFOUND, "delivery not found")
	}
	if d.LeaseID != o.LeaseID {
		return triggers.Delivery{}, triggers.LeaseLost(o.Key.EventID)
	}
	d.Attempts = append(d.Attempts, o.Attempt)
	if len(d.Attempts) > triggers.MaxDeliveryLog {
		d.Attempts = d.Attempts[len(d.Attempts)-triggers.MaxDeliveryLog:]
	}
	d.Tries++
	d.Status, d.NextAttemptAt = o.Status, o.NextAttemptAt
	d.LeaseID, d.LeaseExpiresAt = "", time.Time{}
	return clone(d), nil
}

func (f *fakeWebhooks) ListDeliveries(_ context.Context, q triggers.DeliveryQuery) ([]triggers.Delivery, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []triggers.Delivery
	for _, d := range f.dels {
		if d.Tenant == q.Tenant && d.SubscriptionID == q.SubscriptionID && (q.Status == "" || d.Status == q.Status) &&
			(q.EventID == "" || d.EventID == q.EventID) && d.EventID > q.After {
			out = append(out, clone(d))
		}
	}
	slices.SortFunc(out, func(a, b triggers.Delivery) int { return cmp.Compare(a.EventID, b.EventID) })
	if q.Limit > 0 && len(out) > q.Limit {
		return out[:q.Limit], true, nil
	}
	return out, false, nil
}

func (f *fakeWebhooks) RetryDelivery(_ context.Context, k triggers.DeliveryKey, now time.Time) (triggers.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.dels[k]
	if !ok {
		return triggers.Delivery{}, triggers.Errorf(triggers.ENOTFOUND, "delivery not found")
	}
	d.Status, d.NextAttemptAt, d.Tries, d.LeaseID, d.LeaseExpiresAt = triggers.DeliveryPending, now, 0, "", time.Time{}
	return clone(d), nil
}

func (f *fakeWebhooks) ReplayDeliveries(context.Context, string, string, time.Time, time.Time, time.Time, time.Time, int) (int, time.Time, error) {
	return 0, time.Time{}, errors.New("fakeWebhooks: no replay")
}

// DeliveryBacklog implements dispatch.Backlog.
func (f *fakeWebhooks) DeliveryBacklog(_ context.Context, _ time.Time) (int64, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	var oldest time.Time
	for _, d := range f.dels {
		if d.Status == triggers.DeliveryPending {
			n++
			if oldest.IsZero() || d.NextAttemptAt.Before(oldest) {
				oldest = d.NextAttemptAt
			}
		}
	}
	return n, oldest, nil
}
