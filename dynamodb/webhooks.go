package dynamodb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	triggers "github.com/triggersapi/triggers"
)

// Push delivery (DESIGN §11; see the package doc, Webhooks).

var _ triggers.WebhookStore = (*Store)(nil)

// Tuning of push delivery.
const (
	// dueShards is how many partitions of the due index hold the pending
	// deliveries; a claim reads them all.
	dueShards = 8
	// fanoutBatch bounds the outbox entries one fan-out of one tenant
	// reads (one Query page).
	fanoutBatch = 100
	// fanoutConcurrency bounds the tenants fanned out at once.
	fanoutConcurrency = 8
	// fanoutInterval is how often a store fans out from ClaimDeliveries
	// when it stored no event itself since the last time.
	fanoutInterval = time.Second
	// maxDrainRounds bounds the fan-out batches a subscription change
	// waits for (see UpdateSubscription): 2,000 events.
	maxDrainRounds = 20
	// webhookConcurrency bounds the writes of one call in flight at once.
	webhookConcurrency = 25
	// claimWindow × Max candidates are read from each due shard.
	claimWindow = 2
	// maxSubAttempts bounds the optimistic retries of UpdateSubscription.
	maxSubAttempts = 20
	// orphanAge is how old an uncommitted subscription item (or a head
	// entry without one) must be before a create at the limit reclaims its
	// slot: a create in flight is younger.
	orphanAge = time.Minute
)

// The webhooks table's items (see the package doc, Webhooks).
const headPK = "subs" // pk of the per-tenant heads; sk = tenant

// outboxKey is the timeline index partition of the tenant's events not
// yet fanned out (a tenant cannot hold '#').
func outboxKey(tenant string) string { return "outbox#" + tenant }

func subPK(tenant string) string                    { return "sub#" + tenant }
func deliveryPK(tenant, subscription string) string { return "dlv#" + tenant + "#" + subscription }

// parseDeliveryPK is the inverse of deliveryPK (a tenant cannot hold '#').
func parseDeliveryPK(pk string) (tenant, subscription string, ok bool) {
	rest, ok := strings.CutPrefix(pk, "dlv#")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "#")
}

// dueShard spreads the deliveries over the due index's partitions.
func dueShard(subscription, event string) string {
	h := fnv.New32a()
	h.Write([]byte(subscription + "/" + event))
	return "due#" + strconv.Itoa(int(h.Sum32()%dueShards))
}

// webhookState is a Store's push-delivery state.
type webhookState struct {
	mu         sync.Mutex
	lastFanout time.Time   // store clock
	dirty      atomic.Bool // this store inserted events since lastFanout
}

// --- Subscriptions ---

func encodeSub(sub triggers.Subscription) (string, error) {
	b, err := json.Marshal(sub)
	if err != nil {
		return "", fmt.Errorf("dynamodb: encode subscription %s: %w", sub.ID, err)
	}
	return string(b), nil
}

// subFromItem decodes a subscription item; ok is false for an item that
// is absent or not committed (a create in flight, or one that failed).
func subFromItem(item map[string]types.AttributeValue) (triggers.Subscription, int64, bool, error) {
	if item == nil || !getBool(item, "ok") {
		return triggers.Subscription{}, 0, false, nil
	}
	var sub triggers.Subscription
	if err := json.Unmarshal([]byte(getS(item, "sub")), &sub); err != nil {
		return triggers.Subscription{}, 0, false, fmt.Errorf("dynamodb: subscription item %s: %w", getS(item, "sk"), err)
	}
	v, _ := getN(item, "version")
	return sub, v, true, nil
}

func (s *Store) hookKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

// getSub reads one subscription with a consistent read.
func (s *Store) getSub(ctx context.Context, tenant, id string) (triggers.Subscription, int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.hooks, Key: s.hookKey(subPK(tenant), id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return triggers.Subscription{}, 0, s.formatError("get subscription", s.hooks, err)
	}
	sub, v, ok, err := subFromItem(out.Item)
	if err != nil {
		return triggers.Subscription{}, 0, err
	}
	if !ok {
		return triggers.Subscription{}, 0, triggers.SubscriptionNotFound()
	}
	return sub, v, nil
}

// subItems reads every item of the tenant's subscription partition with a
// consistent Query.
func (s *Store) subItems(ctx context.Context, tenant string) ([]map[string]types.AttributeValue, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	in := &dynamodb.QueryInput{
		TableName:                 &s.hooks,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(subPK(tenant))},
		ConsistentRead:            aws.Bool(true),
	}
	var items []map[string]types.AttributeValue
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, s.formatError("list subscriptions", s.hooks, err)
		}
		items = append(items, out.Items...)
		if out.LastEvaluatedKey == nil {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// listSubs returns the tenant's committed subscriptions, oldest first.
func (s *Store) listSubs(ctx context.Context, tenant string) ([]triggers.Subscription, error) {
	items, err := s.subItems(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var subs []triggers.Subscription
	for _, item := range items {
		sub, _, ok, err := subFromItem(item)
		if err != nil {
			return nil, err
		}
		if ok {
			subs = append(subs, sub)
		}
	}
	slices.SortFunc(subs, func(a, b triggers.Subscription) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return subs, nil
}

// CreateSubscription writes the subscription in three steps: its item,
// uncommitted (invisible); its id into the tenant's head, conditional on
// the head holding fewer than max ids (the atomic limit); then the item
// committed. A create refused by the limit removes its item. A crash
// between the steps leaves an uncommitted item (invisible) and perhaps
// an id in the head that a create at the limit reclaims once it is older
// than orphanAge.
func (s *Store) CreateSubscription(ctx context.Context, sub triggers.Subscription, max int) error {
	body, err := encodeSub(sub)
	if err != nil {
		return err
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err = s.client.PutItem(cctx, &dynamodb.PutItemInput{
		TableName: &s.hooks,
		Item: map[string]types.AttributeValue{
			"pk": str(subPK(sub.Tenant)), "sk": str(sub.ID), "sub": str(body), "version": num(1),
			"ok": &types.AttributeValueMemberBOOL{Value: false}, "written_at": num(micros(s.opts.Now())),
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if failed, _ := conditionFailed(err); failed {
		return triggers.Errorf(triggers.ECONFLICT, "a subscription with this id exists already")
	}
	if err != nil {
		return s.formatError("create subscription", s.hooks, err)
	}
	var others bool
	for attempt := 0; ; attempt++ {
		others, err = s.addToHead(cctx, sub, max)
		if !errors.Is(err, errLimit) {
			break
		}
		if attempt == 0 && s.reclaimOrphans(cctx, sub.Tenant) {
			continue
		}
		s.client.DeleteItem(cctx, &dynamodb.DeleteItemInput{TableName: &s.hooks, Key: s.hookKey(subPK(sub.Tenant), sub.ID)})
		return triggers.SubscriptionLimitReached(max)
	}
	if err != nil {
		return err
	}
	if others {
		// The events stored before this create get the deliveries of the
		// subscriptions before it (see the package doc, Webhooks).
		if err := s.drain(ctx, sub.Tenant); err != nil {
			return err
		}
	}
	_, err = s.client.UpdateItem(cctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.hooks,
		Key:                       s.hookKey(subPK(sub.Tenant), sub.ID),
		UpdateExpression:          aws.String("SET ok = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	return s.formatError("create subscription", s.hooks, err)
}

var errLimit = errors.New("dynamodb: subscription limit")

// addToHead adds the subscription's id to its tenant's head if the head
// holds fewer than max ids (errLimit otherwise), and lowers the head's
// min_created to the subscription's CreatedAt (best effort: the fan-out's
// outbox reads start there). others reports other ids in the head.
func (s *Store) addToHead(ctx context.Context, sub triggers.Subscription, max int) (others bool, err error) {
	c := num(micros(sub.CreatedAt))
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.hooks,
		Key:                       s.hookKey(headPK, sub.Tenant),
		UpdateExpression:          aws.String("ADD ids :id SET min_created = if_not_exists(min_created, :c)"),
		ConditionExpression:       aws.String("attribute_not_exists(ids) OR size(ids) < :max"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberSS{Value: []string{sub.ID}}, ":c": c, ":max": num(int64(max))},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if failed, _ := conditionFailed(err); failed {
		return false, errLimit
	}
	if err != nil {
		return false, s.formatError("create subscription", s.hooks, err)
	}
	ids, _ := out.Attributes["ids"].(*types.AttributeValueMemberSS)
	others = ids != nil && len(ids.Value) > 1
	if m, _ := getN(out.Attributes, "min_created"); m > micros(sub.CreatedAt) {
		s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.hooks,
			Key:                       s.hookKey(headPK, sub.Tenant),
			UpdateExpression:          aws.String("SET min_created = :c"),
			ConditionExpression:       aws.String("min_created > :c"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": c},
		})
	}
	return others, nil
}

// reclaimOrphans removes from the tenant's head the ids that have no
// committed item and are older than orphanAge (a create or delete that
// crashed between its writes), and reports whether it removed any.
func (s *Store) reclaimOrphans(ctx context.Context, tenant string) bool {
	head, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.hooks, Key: s.hookKey(headPK, tenant), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false
	}
	ids, _ := head.Item["ids"].(*types.AttributeValueMemberSS)
	items, err := s.subItems(ctx, tenant)
	if err != nil || ids == nil {
		return false
	}
	byID := map[string]map[string]types.AttributeValue{}
	for _, it := range items {
		byID[getS(it, "sk")] = it
	}
	cutoff := micros(s.opts.Now().Add(-orphanAge))
	var orphans []string
	for _, id := range ids.Value {
		it := byID[id]
		if it == nil {
			orphans = append(orphans, id) // a delete removes the item first
			continue
		}
		if w, _ := getN(it, "written_at"); !getBool(it, "ok") && w < cutoff {
			orphans = append(orphans, id)
			s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.hooks, Key: s.hookKey(subPK(tenant), id),
				ConditionExpression: aws.String("ok = :f"), ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}}})
		}
	}
	if len(orphans) == 0 {
		return false
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.hooks, Key: s.hookKey(headPK, tenant),
		UpdateExpression:          aws.String("DELETE ids :ids"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":ids": &types.AttributeValueMemberSS{Value: orphans}},
	})
	return err == nil
}

// GetSubscription reads the subscription's item with a consistent read.
func (s *Store) GetSubscription(ctx context.Context, tenant, id string) (triggers.Subscription, error) {
	sub, _, err := s.getSub(ctx, tenant, id)
	return sub, err
}

// ListSubscriptions reads the tenant's subscription partition with one
// consistent Query.
func (s *Store) ListSubscriptions(ctx context.Context, tenant string) ([]triggers.Subscription, error) {
	return s.listSubs(ctx, tenant)
}

// UpdateSubscription reads the subscription, applies fn and writes it back
// conditional on its version, retrying when another writer got there
// first. A change of what the subscription matches (its filter or status)
// first drains the tenant's outbox with the subscriptions as they are,
// so that the events stored before the change get the deliveries of
// before (see the package doc, Webhooks). Made active again, the
// subscription's parked deliveries are put back in the due index.
func (s *Store) UpdateSubscription(ctx context.Context, tenant, id string, fn func(*triggers.Subscription) error) (triggers.Subscription, error) {
	for attempt := 0; ; attempt++ {
		old, v, err := s.getSub(ctx, tenant, id)
		if err != nil {
			return triggers.Subscription{}, err
		}
		sub := old
		if err := fn(&sub); err != nil {
			return triggers.Subscription{}, err
		}
		sub.ID, sub.Tenant, sub.CreatedAt = old.ID, old.Tenant, old.CreatedAt
		if sub.Status != old.Status || !reflect.DeepEqual(sub.Filter, old.Filter) {
			if err := s.drain(ctx, tenant); err != nil {
				return triggers.Subscription{}, err
			}
		}
		body, err := encodeSub(sub)
		if err != nil {
			return triggers.Subscription{}, err
		}
		cctx, cancel := s.ctx(ctx)
		_, err = s.client.UpdateItem(cctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.hooks,
			Key:                       s.hookKey(subPK(tenant), id),
			UpdateExpression:          aws.String("SET #sub = :sub, version = :next"),
			ConditionExpression:       aws.String("version = :v AND ok = :t"),
			ExpressionAttributeNames:  map[string]string{"#sub": "sub"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":sub": str(body), ":next": num(v + 1), ":v": num(v), ":t": &types.AttributeValueMemberBOOL{Value: true}},
		})
		cancel()
		if failed, _ := conditionFailed(err); failed {
			if attempt+1 >= maxSubAttempts {
				return triggers.Subscription{}, triggers.Unavailable(fmt.Errorf("dynamodb: subscription %s: too many concurrent updates", id))
			}
			continue // changed or deleted meanwhile: read again
		}
		if err != nil {
			return triggers.Subscription{}, s.formatError("update subscription", s.hooks, err)
		}
		if old.Status != triggers.SubscriptionActive && sub.Status == triggers.SubscriptionActive {
			if err := s.unpark(ctx, tenant, id); err != nil {
				return triggers.Subscription{}, err
			}
		}
		return sub, nil
	}
}

// DeleteSubscription deletes the subscription's item, then its id from
// the tenant's head. Its deliveries stay until their TTL (or a purge):
// ListDeliveries no longer reaches them, and a claim that meets a pending
// one deletes it.
func (s *Store) DeleteSubscription(ctx context.Context, tenant, id string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.hooks,
		Key:                       s.hookKey(subPK(tenant), id),
		ConditionExpression:       aws.String("ok = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	if err != nil {
		return false, s.formatError("delete subscription", s.hooks, err)
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.hooks,
		Key:                       s.hookKey(headPK, tenant),
		UpdateExpression:          aws.String("DELETE ids :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberSS{Value: []string{id}}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		// The subscription is gone; its id is reclaimed at the limit.
		return true, nil
	}
	if _, ok := out.Attributes["ids"]; !ok {
		// The last one: the next first subscription sets min_created anew.
		s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.hooks, Key: s.hookKey(headPK, tenant),
			UpdateExpression:    aws.String("REMOVE min_created"),
			ConditionExpression: aws.String("attribute_not_exists(ids)"),
		})
	}
	return true, nil
}

// --- The outbox and its fan-out ---

// fanout runs the fan-out of every tenant that has subscriptions (one
// batch each), unless this store ran it less than fanoutInterval ago and
// stored no event since.
func (s *Store) fanout(ctx context.Context) error {
	w := &s.webhooks
	now := s.opts.Now()
	w.mu.Lock()
	if !w.dirty.Swap(false) && !w.lastFanout.IsZero() && now.Sub(w.lastFanout) < fanoutInterval && now.After(w.lastFanout) {
		w.mu.Unlock()
		return nil
	}
	w.lastFanout = now
	w.mu.Unlock()

	heads, err := s.heads(ctx)
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(fanoutConcurrency)
	for tenant, from := range heads {
		g.Go(func() error {
			_, err := s.fanoutTenant(ctx, tenant, from)
			return err
		})
	}
	return g.Wait()
}

// heads returns the tenants that have subscriptions, with the earliest
// CreatedAt among them (Unix micros): the fan-out reads the outbox from
// there.
func (s *Store) heads(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	in := &dynamodb.QueryInput{
		TableName:                 &s.hooks,
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("attribute_exists(ids)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(headPK)},
	}
	out := map[string]int64{}
	for {
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, s.formatError("list subscribed tenants", s.hooks, err)
		}
		for _, item := range page.Items {
			m, _ := getN(item, "min_created")
			out[getS(item, "sk")] = m
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// drain fans the tenant's outbox out until it is empty, or for at most
// maxDrainRounds batches.
func (s *Store) drain(ctx context.Context, tenant string) error {
	cctx, cancel := s.ctx(ctx)
	head, err := s.client.GetItem(cctx, &dynamodb.GetItemInput{TableName: &s.hooks, Key: s.hookKey(headPK, tenant), ConsistentRead: aws.Bool(true)})
	cancel()
	if err != nil {
		return s.formatError("drain the outbox", s.hooks, err)
	}
	from, _ := getN(head.Item, "min_created")
	for range maxDrainRounds {
		n, err := s.fanoutTenant(ctx, tenant, from)
		if err != nil || n < fanoutBatch {
			return err
		}
	}
	return nil
}

// fanoutTenant reads one batch of the tenant's outbox (events created at
// or after from, Unix micros), writes the deliveries of each event to the
// subscriptions that existed when it was created (CreatedAt at or before
// the event's) and match it now, each conditional on being new, and then
// removes the event's outbox marker. It returns how many outbox entries it
// read. A crash or a failed write leaves the marker, and the next fan-out
// does the event again: the deliveries already written stay as they are.
func (s *Store) fanoutTenant(ctx context.Context, tenant string, from int64) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.events,
		IndexName:                 aws.String(TimelineIndex),
		KeyConditionExpression:    aws.String("timeline_key = :t AND created_at >= :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(outboxKey(tenant)), ":from": num(from)},
		Limit:                     aws.Int32(fanoutBatch),
	})
	if err != nil {
		return 0, s.formatError("read the outbox", s.events, err)
	}
	if len(out.Items) == 0 {
		return 0, nil
	}
	subs, err := s.listSubs(ctx, tenant)
	if err != nil {
		return 0, err
	}
	var g errgroup.Group
	g.SetLimit(webhookConcurrency)
	for _, item := range out.Items {
		e, err := eventFromItem(item)
		if err != nil {
			return 0, err
		}
		e.Tenant = tenant
		g.Go(func() error {
			var eg errgroup.Group
			for _, sub := range subs {
				if sub.Matches(&e) {
					eg.Go(func() error { return s.putNewDelivery(ctx, sub.ID, e) })
				}
			}
			if err := eg.Wait(); err != nil {
				return err
			}
			return s.unmark(ctx, e)
		})
	}
	return len(out.Items), g.Wait()
}

// unmark moves the event's timeline entry from the tenant's outbox
// partition to its own (nothing when the event is gone: the update never
// creates an item).
func (s *Store) unmark(ctx context.Context, e triggers.Event) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.events,
		Key:                       map[string]types.AttributeValue{"pk": str(eventPK(e.Tenant, e.ID))},
		UpdateExpression:          aws.String("SET timeline_key = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(e.Tenant)},
	})
	if failed, _ := conditionFailed(err); failed {
		return nil
	}
	return s.formatError("clear the outbox marker", s.events, err)
}

// deliveryTTL is the ttl attribute of the deliveries of an event created
// at created: the event's own (none without Options.EventTTL).
func (s *Store) deliveryTTL(item map[string]types.AttributeValue, created time.Time) {
	if s.opts.EventTTL > 0 {
		item["ttl"] = num(created.Add(s.opts.EventTTL).Unix() + 1)
	}
}

// putNewDelivery writes the pending delivery of e to subscription, due at
// the event's creation, unless it exists already.
func (s *Store) putNewDelivery(ctx context.Context, subscription string, e triggers.Event) error {
	created := micros(e.CreatedAt)
	item := map[string]types.AttributeValue{
		"pk": str(deliveryPK(e.Tenant, subscription)), "sk": str(e.ID),
		"event_created_at": num(created), "status": str(string(triggers.DeliveryPending)),
		"next_attempt_at": num(created), "tries": num(0), "attempts": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		"due_shard": str(dueShard(subscription, e.ID)), "due_at": num(created),
	}
	s.deliveryTTL(item, e.CreatedAt)
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.hooks, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if failed, _ := conditionFailed(err); failed {
		return nil // written by an earlier fan-out of the event
	}
	return s.formatError("write a delivery", s.hooks, err)
}

// --- Deliveries ---

func attemptItem(a triggers.DeliveryAttempt) types.AttributeValue {
	m := map[string]types.AttributeValue{"at": num(micros(a.At)), "lat": num(int64(a.Latency))}
	if a.StatusCode != 0 {
		m["code"] = num(int64(a.StatusCode))
	}
	if a.Error != "" {
		m["err"] = str(a.Error)
	}
	return &types.AttributeValueMemberM{Value: m}
}

func deliveryFromItem(item map[string]types.AttributeValue) (triggers.Delivery, error) {
	tenant, sub, ok := parseDeliveryPK(getS(item, "pk"))
	if !ok {
		return triggers.Delivery{}, fmt.Errorf("dynamodb: bad delivery key %q", getS(item, "pk"))
	}
	d := triggers.Delivery{Tenant: tenant, SubscriptionID: sub, EventID: getS(item, "sk"),
		Status: triggers.DeliveryStatus(getS(item, "status")), LeaseID: getS(item, "lease_id")}
	if n, ok := getN(item, "event_created_at"); ok {
		d.EventCreatedAt = fromMicros(n)
	}
	if n, ok := getN(item, "next_attempt_at"); ok && d.Status == triggers.DeliveryPending {
		d.NextAttemptAt = fromMicros(n)
	}
	if n, ok := getN(item, "tries"); ok {
		d.Tries = int(n)
	}
	if n, ok := getN(item, "lease_expires_at"); ok && d.LeaseID != "" {
		d.LeaseExpiresAt = fromMicros(n)
	}
	if l, ok := item["attempts"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			m, _ := v.(*types.AttributeValueMemberM)
			if m == nil {
				continue
			}
			at, _ := getN(m.Value, "at")
			lat, _ := getN(m.Value, "lat")
			code, _ := getN(m.Value, "code")
			d.Attempts = append(d.Attempts, triggers.DeliveryAttempt{At: fromMicros(at), StatusCode: int(code),
				Error: getS(m.Value, "err"), Latency: time.Duration(lat)})
		}
	}
	return d, nil
}

// candidateDelivery is a due index entry: the delivery's key.
type candidateDelivery struct {
	pk, sk string
	dueAt  int64
}

// ClaimDeliveries fans out first (see fanout; a failure there is
// returned only when nothing could be claimed), then reads the due index:
// one Query per shard, due_at at or before q.Now, claimWindow × Max
// entries each, merged earliest due first. The deliveries of deleted
// subscriptions are deleted, those of disabled ones parked (taken out of
// the due index); each other candidate is leased with one UpdateItem
// conditional on being pending, in the index and due (due_at <= now: a
// leased delivery's due_at is its lease's expiry), in parallel, in order,
// until Max are leased or the candidates run out.
func (s *Store) ClaimDeliveries(ctx context.Context, q triggers.ClaimQuery) ([]triggers.Delivery, error) {
	q.Max = min(q.Max, len(q.LeaseIDs))
	if q.Max <= 0 {
		return nil, nil
	}
	fanErr := s.fanout(ctx)
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cands, err := s.dueCandidates(ctx, q.Now, claimWindow*q.Max)
	if err != nil {
		return nil, err
	}
	cands, err = s.settleInactive(ctx, cands, q.Now)
	if err != nil {
		return nil, err
	}
	var got []triggers.Delivery
	free := slices.Clone(q.LeaseIDs[:q.Max])
	for len(got) < q.Max && len(cands) > 0 {
		n := min(q.Max-len(got), len(cands))
		batch := cands[:n]
		cands = cands[n:]
		leased := make([]*triggers.Delivery, n)
		var g errgroup.Group
		g.SetLimit(webhookConcurrency)
		for i, c := range batch {
			g.Go(func() error {
				d, ok, err := s.leaseDelivery(ctx, c, free[i], q)
				if ok {
					leased[i] = &d
				}
				return err
			})
		}
		err = g.Wait()
		var unused []string
		for i, d := range leased {
			if d != nil {
				got = append(got, *d)
			} else {
				unused = append(unused, free[i])
			}
		}
		free = append(unused, free[n:]...)
		if err != nil {
			break
		}
	}
	if len(got) == 0 {
		return nil, cmp.Or(err, fanErr)
	}
	return got, nil
}

// dueCandidates reads up to window due entries of each shard and returns
// them merged, earliest due first.
func (s *Store) dueCandidates(ctx context.Context, now time.Time, window int) ([]candidateDelivery, error) {
	var mu sync.Mutex
	var all []candidateDelivery
	var g errgroup.Group
	for shard := range dueShards {
		g.Go(func() error {
			out, err := s.client.Query(ctx, &dynamodb.QueryInput{
				TableName:              &s.hooks,
				IndexName:              aws.String(DueIndex),
				KeyConditionExpression: aws.String("due_shard = :s AND due_at <= :now"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":s": str("due#" + strconv.Itoa(shard)), ":now": num(micros(now)),
				},
				Limit: aws.Int32(int32(window)),
			})
			if err != nil {
				return s.formatError("claim deliveries", s.hooks, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, item := range out.Items {
				at, _ := getN(item, "due_at")
				all = append(all, candidateDelivery{pk: getS(item, "pk"), sk: getS(item, "sk"), dueAt: at})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b candidateDelivery) int {
		return cmp.Or(cmp.Compare(a.dueAt, b.dueAt), strings.Compare(a.pk, b.pk), strings.Compare(a.sk, b.sk))
	})
	return all, nil
}

// settleInactive returns the candidates whose subscription is active. It
// deletes those of deleted subscriptions and parks those of disabled ones
// (out of the due index until UpdateSubscription makes the subscription
// active again); after parking it reads the subscriptions again and
// unparks those made active meanwhile, so that a reactivation racing with
// the park never leaves a delivery parked (see the package doc).
func (s *Store) settleInactive(ctx context.Context, cands []candidateDelivery, now time.Time) ([]candidateDelivery, error) {
	status := map[string]triggers.SubscriptionStatus{} // pk → status; "" = deleted
	tenants := map[string]bool{}
	for _, c := range cands {
		if t, _, ok := parseDeliveryPK(c.pk); ok {
			tenants[t] = true
		}
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(webhookConcurrency)
	for t := range tenants {
		g.Go(func() error {
			subs, err := s.listSubs(ctx, t)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, sub := range subs {
				status[deliveryPK(t, sub.ID)] = sub.Status
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var active []candidateDelivery
	parked := map[string]bool{}
	for _, c := range cands {
		switch status[c.pk] {
		case triggers.SubscriptionActive:
			active = append(active, c)
			continue
		case "":
			g.Go(func() error { return s.dropDelivery(ctx, c, now, "") })
		default:
			parked[c.pk] = true
			g.Go(func() error { return s.dropDelivery(ctx, c, now, "park") })
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for pk := range parked {
		tenant, id, _ := parseDeliveryPK(pk)
		if sub, _, err := s.getSub(ctx, tenant, id); err == nil && sub.Status == triggers.SubscriptionActive {
			if err := s.unpark(ctx, tenant, id); err != nil {
				return nil, err
			}
		}
	}
	return active, nil
}

// dropDelivery takes a due delivery out of the due index: parks it (how
// = "park") or deletes it; conditional on it being due still.
func (s *Store) dropDelivery(ctx context.Context, c candidateDelivery, now time.Time, how string) error {
	cond := aws.String("#st = :pending AND due_at <= :now")
	names := map[string]string{"#st": "status"}
	values := map[string]types.AttributeValue{":pending": str(string(triggers.DeliveryPending)), ":now": num(micros(now))}
	var err error
	if how == "park" {
		_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.hooks, Key: s.hookKey(c.pk, c.sk), UpdateExpression: aws.String("REMOVE due_shard, due_at"),
			ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
	} else {
		_, err = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &s.hooks, Key: s.hookKey(c.pk, c.sk),
			ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
	}
	if failed, _ := conditionFailed(err); failed {
		return nil
	}
	return s.formatError("claim deliveries", s.hooks, err)
}

// unpark puts the subscription's parked deliveries (pending, out of the
// due index) back in the due index, due when they were.
func (s *Store) unpark(ctx context.Context, tenant, id string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	in := &dynamodb.QueryInput{
		TableName:                 &s.hooks,
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("#st = :pending AND attribute_not_exists(due_shard)"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(deliveryPK(tenant, id)), ":pending": str(string(triggers.DeliveryPending))},
		ProjectionExpression:      aws.String("pk, sk, next_attempt_at, lease_expires_at"),
		ConsistentRead:            aws.Bool(true),
	}
	var g errgroup.Group
	g.SetLimit(webhookConcurrency)
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return s.formatError("unpark deliveries", s.hooks, err)
		}
		for _, item := range out.Items {
			next, _ := getN(item, "next_attempt_at")
			exp, _ := getN(item, "lease_expires_at")
			g.Go(func() error {
				_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: &s.hooks, Key: s.hookKey(getS(item, "pk"), getS(item, "sk")),
					UpdateExpression:         aws.String("SET due_shard = :sh, due_at = :at"),
					ConditionExpression:      aws.String("#st = :pending AND attribute_not_exists(due_shard)"),
					ExpressionAttributeNames: map[string]string{"#st": "status"},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":sh": str(dueShard(id, getS(item, "sk"))), ":at": num(max(next, exp)),
						":pending": str(string(triggers.DeliveryPending)),
					},
				})
				if failed, _ := conditionFailed(err); failed {
					return nil
				}
				return s.formatError("unpark deliveries", s.hooks, err)
			})
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return g.Wait()
}

// leaseDelivery writes the lease on a candidate; ok is false when its
// condition failed (leased by another claim, completed, or a stale index
// entry). due_at moves to the lease's expiry, so that the delivery leaves
// the due part of the index while the lease holds and is due again when it
// expires.
func (s *Store) leaseDelivery(ctx context.Context, c candidateDelivery, leaseID string, q triggers.ClaimQuery) (triggers.Delivery, bool, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.hooks,
		Key:                      s.hookKey(c.pk, c.sk),
		UpdateExpression:         aws.String("SET lease_id = :lid, lease_expires_at = :exp, due_at = :exp"),
		ConditionExpression:      aws.String("#st = :pending AND attribute_exists(due_shard) AND due_at <= :now"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lid": str(leaseID), ":exp": num(micros(q.LeaseExpiresAt)), ":now": num(micros(q.Now)),
			":pending": str(string(triggers.DeliveryPending)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	item := map[string]types.AttributeValue(nil)
	if failed, _ := conditionFailed(err); failed {
		// Lost to another claim, or this claim's own write retried by the
		// SDK after its answer was lost (a timeout, a bad checksum): the
		// lease id, fresh for this call, tells them apart, so that a
		// delivery is never left leased to nobody until its lease expires.
		if item, err = s.heldBy(ctx, s.hooks, s.hookKey(c.pk, c.sk), leaseID); err != nil || item == nil {
			return triggers.Delivery{}, false, err
		}
	} else if err != nil {
		return triggers.Delivery{}, false, s.formatError("lease a delivery", s.hooks, err)
	} else {
		item = out.Attributes
	}
	d, err := deliveryFromItem(item)
	return d, err == nil, err
}

// CompleteDelivery records the outcome with one UpdateItem conditional on
// the lease: the attempt appended to the log, tries one more, the lease
// ended, and the delivery back in the due index at NextAttemptAt when it
// stays pending (else out of it). A log grown past MaxDeliveryLog is cut
// by a second UpdateItem (REMOVE of its oldest entries, conditional on the
// log's length as seen).
func (s *Store) CompleteDelivery(ctx context.Context, o triggers.DeliveryOutcome) (triggers.Delivery, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := o.Key
	key := s.hookKey(deliveryPK(k.Tenant, k.SubscriptionID), k.EventID)
	// done marks the write as this call's: should the SDK retry a write
	// that was applied but whose answer was lost, the retry's failed
	// condition is told apart from a lost lease by it.
	done := triggers.NewLeaseID()
	update := "SET #st = :st, tries = if_not_exists(tries, :zero) + :one, attempts = list_append(if_not_exists(attempts, :empty), :a), done = :done REMOVE lease_id, lease_expires_at"
	values := map[string]types.AttributeValue{
		":done": str(done),
		":st":   str(string(o.Status)), ":zero": num(0), ":one": num(1), ":lid": str(o.LeaseID),
		":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		":a":     &types.AttributeValueMemberL{Value: []types.AttributeValue{attemptItem(o.Attempt)}},
	}
	if o.Status == triggers.DeliveryPending {
		update = "SET #st = :st, tries = if_not_exists(tries, :zero) + :one, attempts = list_append(if_not_exists(attempts, :empty), :a), done = :done, next_attempt_at = :next, due_shard = :sh, due_at = :next REMOVE lease_id, lease_expires_at"
		values[":next"] = num(micros(o.NextAttemptAt))
		values[":sh"] = str(dueShard(k.SubscriptionID, k.EventID))
	} else {
		update += ", next_attempt_at, due_shard, due_at"
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.hooks, Key: key, UpdateExpression: aws.String(update),
		ConditionExpression:      aws.String("lease_id = :lid"),
		ExpressionAttributeNames: map[string]string{"#st": "status"}, ExpressionAttributeValues: values,
		ReturnValues: types.ReturnValueAllNew,
	})
	var item map[string]types.AttributeValue
	if failed, _ := conditionFailed(err); failed {
		got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.hooks, Key: key, ConsistentRead: aws.Bool(true)})
		switch {
		case err != nil:
			return triggers.Delivery{}, s.formatError("complete a delivery", s.hooks, err)
		case got.Item == nil:
			return triggers.Delivery{}, triggers.DeliveryNotFound()
		case getS(got.Item, "done") != done:
			return triggers.Delivery{}, triggers.LeaseLost(k.EventID)
		}
		item = got.Item // this call's write, retried by the SDK
	} else if err != nil {
		return triggers.Delivery{}, s.formatError("complete a delivery", s.hooks, err)
	} else {
		item = out.Attributes
	}
	d, err := deliveryFromItem(item)
	if err != nil {
		return triggers.Delivery{}, err
	}
	if extra := len(d.Attempts) - triggers.MaxDeliveryLog; extra > 0 {
		paths := make([]string, extra)
		for i := range paths {
			paths[i] = fmt.Sprintf("attempts[%d]", i)
		}
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.hooks, Key: key, UpdateExpression: aws.String("REMOVE " + strings.Join(paths, ", ")),
			ConditionExpression:       aws.String("size(attempts) = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(len(d.Attempts)))},
		})
		if failed, _ := conditionFailed(err); err != nil && !failed {
			return triggers.Delivery{}, s.formatError("cut a delivery log", s.hooks, err)
		}
		// Changed meanwhile (failed): the next completion cuts it.
		d.Attempts = d.Attempts[extra:]
	}
	return d, nil
}

// ReleaseDelivery ends a claim without an attempt (triggers.WebhookStore):
// one UpdateItem conditional on the lease puts the delivery back in the due
// index at dueAt.
func (s *Store) ReleaseDelivery(ctx context.Context, k triggers.DeliveryKey, leaseID string, dueAt time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	key := s.hookKey(deliveryPK(k.Tenant, k.SubscriptionID), k.EventID)
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.hooks, Key: key,
		UpdateExpression:          aws.String("SET next_attempt_at = :due, due_at = :due REMOVE lease_id, lease_expires_at"),
		ConditionExpression:       aws.String("lease_id = :lid AND attribute_exists(due_shard)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":lid": str(leaseID), ":due": num(micros(dueAt))},
	})
	if failed, _ := conditionFailed(err); failed {
		got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.hooks, Key: key, ConsistentRead: aws.Bool(true)})
		switch {
		case err != nil:
			return s.formatError("release a delivery", s.hooks, err)
		case got.Item == nil:
			return triggers.DeliveryNotFound()
		}
		return triggers.LeaseLost(k.EventID)
	}
	if err != nil {
		return s.formatError("release a delivery", s.hooks, err)
	}
	return nil
}

// ListDeliveries reads the subscription's delivery partition in event id
// order with consistent Queries, the status as a filter, until it has
// Limit+1 matches or the partition ends.
func (s *Store) ListDeliveries(ctx context.Context, q triggers.DeliveryQuery) ([]triggers.Delivery, bool, error) {
	if _, _, err := s.getSub(ctx, q.Tenant, q.SubscriptionID); err != nil {
		return nil, false, err
	}
	if q.Limit <= 0 {
		q.Limit = triggers.DefaultInboxLimit
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	values := map[string]types.AttributeValue{":pk": str(deliveryPK(q.Tenant, q.SubscriptionID))}
	keyCond := "pk = :pk"
	switch {
	case q.EventID != "":
		if q.After != "" && q.EventID <= q.After {
			return nil, false, nil
		}
		keyCond += " AND sk = :id"
		values[":id"] = str(q.EventID)
	case q.After != "":
		keyCond += " AND sk > :after"
		values[":after"] = str(q.After)
	}
	in := &dynamodb.QueryInput{
		TableName: &s.hooks, KeyConditionExpression: aws.String(keyCond),
		ExpressionAttributeValues: values, ConsistentRead: aws.Bool(true),
	}
	if q.Status != "" {
		in.FilterExpression = aws.String("#st = :st")
		in.ExpressionAttributeNames = map[string]string{"#st": "status"}
		values[":st"] = str(string(q.Status))
	}
	var out []triggers.Delivery
	for {
		in.Limit = aws.Int32(int32(q.Limit + 1 - len(out)))
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, false, s.formatError("list deliveries", s.hooks, err)
		}
		for _, item := range page.Items {
			d, err := deliveryFromItem(item)
			if err != nil {
				return nil, false, err
			}
			out = append(out, d)
		}
		if len(out) > q.Limit {
			return out[:q.Limit], true, nil
		}
		if page.LastEvaluatedKey == nil {
			return out, false, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// RetryDelivery makes the delivery pending and due at now (see
// requeue); ENOTFOUND when it does not exist.
func (s *Store) RetryDelivery(ctx context.Context, k triggers.DeliveryKey, now time.Time) (triggers.Delivery, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.requeue(ctx, k, time.Time{}, now)
}

// requeue makes a delivery pending, due at now, with tries 0, keeping its
// log and an unexpired lease (then it is due when the lease expires). With
// a zero eventCreatedAt the delivery must exist (ENOTFOUND otherwise);
// else it is created if missing. One UpdateItem conditional on no
// unexpired lease; when one holds, a second conditional on it holding.
func (s *Store) requeue(ctx context.Context, k triggers.DeliveryKey, eventCreatedAt, now time.Time) (triggers.Delivery, error) {
	key := s.hookKey(deliveryPK(k.Tenant, k.SubscriptionID), k.EventID)
	values := map[string]types.AttributeValue{
		":st": str(string(triggers.DeliveryPending)), ":now": num(micros(now)), ":zero": num(0),
		":sh": str(dueShard(k.SubscriptionID, k.EventID)), ":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
	}
	set := "#st = :st, next_attempt_at = :now, tries = :zero, due_shard = :sh, attempts = if_not_exists(attempts, :empty)"
	exists := "attribute_exists(pk) AND "
	if !eventCreatedAt.IsZero() {
		set += ", event_created_at = :ec"
		values[":ec"] = num(micros(eventCreatedAt))
		if s.opts.EventTTL > 0 {
			set += ", #ttl = :ttl"
			values[":ttl"] = num(eventCreatedAt.Add(s.opts.EventTTL).Unix() + 1)
		}
		exists = ""
	}
	names := map[string]string{"#st": "status"}
	if _, ok := values[":ttl"]; ok {
		names["#ttl"] = "ttl"
	}
	// update runs one of the two conditional writes; done is false when
	// its condition failed.
	update := func(expr, cond string) (d triggers.Delivery, done bool, err error) {
		out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.hooks, Key: key,
			UpdateExpression:          aws.String(expr),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ReturnValues:              types.ReturnValueAllNew,
		})
		if err == nil {
			d, err = deliveryFromItem(out.Attributes)
			return d, true, err
		}
		if failed, _ := conditionFailed(err); !failed {
			return triggers.Delivery{}, true, s.formatError("requeue a delivery", s.hooks, err)
		}
		return triggers.Delivery{}, false, nil
	}
	for range 3 {
		if d, done, err := update("SET "+set+", due_at = :now REMOVE lease_id, lease_expires_at",
			exists+"(attribute_not_exists(lease_expires_at) OR lease_expires_at <= :now)"); done {
			return d, err
		}
		// Absent (a retry), or leased: keep the lease, due at its expiry.
		if d, done, err := update("SET "+set+", due_at = lease_expires_at", "lease_expires_at > :now"); done {
			return d, err
		}
		got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.hooks, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return triggers.Delivery{}, s.formatError("requeue a delivery", s.hooks, err)
		}
		if got.Item == nil && exists != "" {
			return triggers.Delivery{}, triggers.DeliveryNotFound()
		}
		// The lease expired between the two writes: again.
	}
	return triggers.Delivery{}, triggers.Unavailable(fmt.Errorf("dynamodb: delivery of %s keeps changing", k.EventID))
}

// ReplayDeliveries reads the tenant's events of the range from the
// timeline index (every event, acknowledged and dead ones too, by
// created_at), oldest first, and requeues (creating where missing) the
// delivery of each that the subscription's filter matches, at most max
// (plus those created at the last one's instant), concurrently.
func (s *Store) ReplayDeliveries(ctx context.Context, tenant, id string, after, before, notBefore, now time.Time, max int) (int, time.Time, error) {
	sub, _, err := s.getSub(ctx, tenant, id)
	if err != nil {
		return 0, time.Time{}, err
	}
	lo := cmp.Or(micros(after), 0)
	if nb := micros(notBefore); nb > lo {
		lo = nb
	}
	lo++
	hi := int64(math.MaxInt64)
	if !before.IsZero() {
		hi = micros(before) - 1
	}
	if hi < lo || max <= 0 {
		return 0, time.Time{}, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	// The tenant's two timeline partitions: events fanned out, and those
	// still in the outbox. Each read holds every match up to past its own
	// max-th, so the merge holds every match up to past the merged max-th.
	var parts [2][]triggers.Event
	var g errgroup.Group
	for i, key := range []string{tenant, outboxKey(tenant)} {
		g.Go(func() (err error) {
			parts[i], err = s.timelineMatches(ctx, key, sub.Filter, lo, hi, max)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, time.Time{}, err
	}
	all := append(parts[0], parts[1]...)
	slices.SortFunc(all, func(a, b triggers.Event) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	take := all
	var next time.Time
	for i := max; i < len(all); i++ {
		if all[i].CreatedAt.After(all[max-1].CreatedAt) {
			take, next = all[:i], all[i-1].CreatedAt
			break
		}
	}
	g.SetLimit(webhookConcurrency)
	for _, e := range take {
		g.Go(func() error {
			_, err := s.requeue(ctx, triggers.DeliveryKey{Tenant: tenant, SubscriptionID: id, EventID: e.ID}, e.CreatedAt, now)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, time.Time{}, err
	}
	return len(take), next, nil
}

// timelineMatches reads the timeline partition key over created_at lo..hi
// (Unix micros, inclusive), oldest first, and returns the events f
// matches until it has more than max and the last is younger than the
// max-th, or the range ends.
func (s *Store) timelineMatches(ctx context.Context, key string, f triggers.InboxFilter, lo, hi int64, max int) ([]triggers.Event, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.events,
		IndexName:                 aws.String(TimelineIndex),
		KeyConditionExpression:    aws.String("timeline_key = :k AND created_at BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": str(key), ":lo": num(lo), ":hi": num(hi)},
		Limit:                     aws.Int32(int32(min(max+1, 1000))),
	}
	var out []triggers.Event
	for {
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, s.formatError("replay deliveries", s.events, err)
		}
		for _, item := range page.Items {
			e, err := eventFromItem(item)
			if err != nil {
				return nil, err
			}
			if !f.Matches(&e) {
				continue
			}
			out = append(out, e)
			if len(out) > max && e.CreatedAt.After(out[max-1].CreatedAt) {
				return out, nil
			}
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// deleteExpiredDeliveries scans the webhooks table for the deliveries of
// events created at or before before (Unix micros) and deletes them, each
// conditional on that still holding. For servers without TTL and tests,
// as DeleteExpired.
func (s *Store) deleteExpiredDeliveries(ctx context.Context, before int64) error {
	bound := map[string]types.AttributeValue{":b": num(before)}
	return s.scanPages(ctx, &dynamodb.ScanInput{
		TableName:                 &s.hooks,
		FilterExpression:          aws.String("event_created_at <= :b"),
		ProjectionExpression:      aws.String("pk, sk"),
		ExpressionAttributeValues: bound,
	}, func(items []map[string]types.AttributeValue) error {
		for _, item := range items {
			cctx, cancel := s.ctx(ctx)
			_, err := s.client.DeleteItem(cctx, &dynamodb.DeleteItemInput{
				TableName: &s.hooks, Key: s.hookKey(getS(item, "pk"), getS(item, "sk")),
				ConditionExpression: aws.String("event_created_at <= :b"), ExpressionAttributeValues: bound,
			})
			cancel()
			if failed, _ := conditionFailed(err); err != nil && !failed {
				return s.formatError("delete expired deliveries", s.hooks, err)
			}
		}
		return nil
	})
}
