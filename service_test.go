package triggers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/internal/teststore"
	"github.com/triggersapi/triggers/sqlite"
)

// fakeStore is an in-memory triggers.Store with just enough behaviour for
// the Service tests: keys, and inserts with idempotency records. The other
// methods fail with errNotImplemented.
type fakeStore struct {
	mu     sync.Mutex
	keys   []triggers.APIKey // oldest first
	events map[string]triggers.Event
	idem   map[[2]string]idemRecord // by tenant and idempotency key

	// keyByHashCalls counts KeyByHash calls; keyByHashErr, if set, is what
	// KeyByHash returns.
	keyByHashCalls int
	keyByHashErr   error
}

type idemRecord struct {
	event       triggers.Event
	requestHash string
}

var _ triggers.Store = (*fakeStore)(nil)

var errNotImplemented = errors.New("fakeStore: not implemented")

func newFakeStore() *fakeStore {
	return &fakeStore{events: map[string]triggers.Event{}, idem: map[[2]string]idemRecord{}}
}

func (s *fakeStore) InsertEvents(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]triggers.InsertResult, len(inserts))
	for i, in := range inserts {
		k := [2]string{in.Event.Tenant, in.IdempotencyKey}
		if r, ok := s.idem[k]; ok && in.IdempotencyKey != "" && r.event.CreatedAt.After(in.IdempotencyNotBefore) {
			out[i] = triggers.InsertResult{Event: triggers.Event{ID: r.event.ID, CreatedAt: r.event.CreatedAt},
				Replayed: true, RequestHash: r.requestHash}
			continue
		}
		s.events[in.Event.ID] = in.Event
		if in.IdempotencyKey != "" {
			s.idem[k] = idemRecord{event: in.Event, requestHash: in.RequestHash}
		}
		out[i] = triggers.InsertResult{Event: in.Event}
	}
	return out, nil
}

func (s *fakeStore) GetEvent(ctx context.Context, tenant, id string, notBefore time.Time) (triggers.Event, error) {
	return triggers.Event{}, errNotImplemented
}

func (s *fakeStore) AckEvent(ctx context.Context, tenant string, a triggers.Ack, at, notBefore time.Time) (triggers.Event, error) {
	return triggers.Event{}, errNotImplemented
}

func (s *fakeStore) DeleteEvent(ctx context.Context, tenant, id string, notBefore time.Time) (bool, error) {
	return false, errNotImplemented
}

func (s *fakeStore) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error) {
	return nil, errNotImplemented
}

func (s *fakeStore) ReceiveEvents(ctx context.Context, q triggers.ReceiveQuery) (triggers.Received, error) {
	return triggers.Received{}, errNotImplemented
}

func (s *fakeStore) NackEvents(ctx context.Context, tenant string, nacks []triggers.Nack, now, notBefore time.Time) ([]triggers.EventResult, error) {
	return nil, errNotImplemented
}

func (s *fakeStore) ExtendLease(ctx context.Context, tenant string, a triggers.Ack, expiresAt, now, notBefore time.Time) (triggers.Event, error) {
	return triggers.Event{}, errNotImplemented
}

func (s *fakeStore) RedriveEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.EventResult, error) {
	return nil, errNotImplemented
}

func (s *fakeStore) DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error) {
	return nil, errNotImplemented
}

func (s *fakeStore) ListPending(ctx context.Context, q triggers.InboxQuery) (triggers.Page, error) {
	return triggers.Page{}, errNotImplemented
}

func (s *fakeStore) Stats(ctx context.Context, q triggers.StatsQuery) (triggers.Stats, error) {
	return triggers.Stats{}, errNotImplemented
}

func (s *fakeStore) DeleteExpired(ctx context.Context, eventsBefore, idemBefore time.Time) (int, error) {
	return 0, errNotImplemented
}

func (s *fakeStore) CreateKey(ctx context.Context, k triggers.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.keys {
		if old.ID == k.ID || old.Hash == k.Hash {
			return triggers.Errorf(triggers.ECONFLICT, "key exists")
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

func (s *fakeStore) KeyByHash(ctx context.Context, hash string) (triggers.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyByHashCalls++
	if s.keyByHashErr != nil {
		return triggers.APIKey{}, s.keyByHashErr
	}
	for _, k := range s.keys {
		if k.Hash == hash {
			return k, nil
		}
	}
	return triggers.APIKey{}, triggers.Errorf(triggers.ENOTFOUND, "no such key")
}

func (s *fakeStore) ListKeys(ctx context.Context) ([]triggers.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys), nil
}

func (s *fakeStore) UpdateKey(ctx context.Context, id string, fn func(*triggers.APIKey) error) (triggers.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys {
		if k.ID == id {
			if err := fn(&k); err != nil {
				return triggers.APIKey{}, err
			}
			s.keys[i] = k
			return k, nil
		}
	}
	return triggers.APIKey{}, triggers.Errorf(triggers.ENOTFOUND, "no such key")
}

func (s *fakeStore) Ping(ctx context.Context) error { return nil }
func (s *fakeStore) Close() error                   { return nil }

func (s *fakeStore) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyByHashCalls
}

// t0 is the instant service tests start at.
var t0 = time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC)

const testKeyTTL = 2 * time.Second

// MustNewService returns a Service over a fresh fakeStore with a fake clock
// at t0 and a key cache TTL of testKeyTTL.
func MustNewService(tb testing.TB) (*triggers.Service, *fakeStore, *teststore.Clock) {
	tb.Helper()
	store, clock := newFakeStore(), teststore.NewClock(t0)
	return triggers.NewService(store, &triggers.Options{Now: clock.Now, KeyCacheTTL: testKeyTTL}), store, clock
}

// MustCreateKey creates a key with the raw value for tenant "acme".
func MustCreateKey(tb testing.TB, svc *triggers.Service, spec triggers.KeySpec) triggers.APIKey {
	tb.Helper()
	if spec.Tenant == "" {
		spec.Tenant = "acme"
	}
	k, _, err := svc.CreateKey(context.Background(), spec)
	if err != nil {
		tb.Fatalf("CreateKey(%+v) error = %v", spec, err)
	}
	return k
}

const testRawKey = "test-api-key-12345"

// checkRefused fails the test unless svc refuses testRawKey with
// EUNAUTHORIZED; when says at which point of the test, for the message.
func checkRefused(tb testing.TB, svc *triggers.Service, when string) {
	tb.Helper()
	_, err := svc.Authenticate(context.Background(), testRawKey)
	checkCode(tb, "Authenticate() "+when, err, triggers.EUNAUTHORIZED)
}

// mustAuthenticate fails the test unless svc accepts testRawKey; when says
// at which point of the test, for the message.
func mustAuthenticate(tb testing.TB, svc *triggers.Service, when string) {
	tb.Helper()
	if _, err := svc.Authenticate(context.Background(), testRawKey); err != nil {
		tb.Fatalf("Authenticate() %s error = %v, want the key accepted", when, err)
	}
}

func TestService_Authenticate(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		want := MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey})
		got, err := svc.Authenticate(ctx, testRawKey)
		if err != nil || got.ID != want.ID || got.Tenant != "acme" {
			t.Fatalf("Authenticate(%q) = %+v, %v, want key %s of tenant acme", testRawKey, got, err, want.ID)
		}
	})

	t.Run("OKCached", func(t *testing.T) {
		svc, store, clock := MustNewService(t)
		MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey})
		for range 3 {
			mustAuthenticate(t, svc, "within KeyCacheTTL")
			clock.Advance(testKeyTTL / 4)
		}
		if n := store.calls(); n != 1 {
			t.Fatalf("KeyByHash calls within KeyCacheTTL = %d, want 1", n)
		}
		clock.Advance(testKeyTTL)
		mustAuthenticate(t, svc, "after KeyCacheTTL")
		if n := store.calls(); n != 2 {
			t.Fatalf("KeyByHash calls after KeyCacheTTL = %d, want 2", n)
		}
	})

	t.Run("RevokedKeyRefusedAfterTTL", func(t *testing.T) {
		svc, _, clock := MustNewService(t)
		k := MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey})
		mustAuthenticate(t, svc, "before the revoke")
		if _, err := svc.RevokeKey(ctx, k.ID); err != nil {
			t.Fatalf("RevokeKey() error = %v", err)
		}
		clock.Advance(testKeyTTL - time.Millisecond)
		mustAuthenticate(t, svc, "of a revoked key within KeyCacheTTL (still cached)")
		clock.Advance(time.Millisecond)
		checkRefused(t, svc, "of a revoked key after KeyCacheTTL")
	})

	t.Run("ErrRevokedKey", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		k := MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey})
		if _, err := svc.RevokeKey(ctx, k.ID); err != nil {
			t.Fatalf("RevokeKey() error = %v", err)
		}
		checkRefused(t, svc, "of a revoked key")
	})

	t.Run("ErrUnknownKey", func(t *testing.T) {
		svc, store, clock := MustNewService(t)
		MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey})
		for range 3 {
			_, err := svc.Authenticate(ctx, "unknown-api-key-12345")
			checkCode(t, "Authenticate() of an unknown key", err, triggers.EUNAUTHORIZED)
			clock.Advance(testKeyTTL / 4)
		}
		if n := store.calls(); n != 1 {
			t.Errorf("KeyByHash calls for an unknown key within KeyCacheTTL = %d, want 1 (negative answers are cached)", n)
		}
	})

	t.Run("ErrMissingOrHugeKey", func(t *testing.T) {
		svc, store, _ := MustNewService(t)
		for _, raw := range []string{"", string(make([]byte, 1025))} {
			_, err := svc.Authenticate(ctx, raw)
			checkCode(t, "Authenticate()", err, triggers.EUNAUTHORIZED)
		}
		if n := store.calls(); n != 0 {
			t.Errorf("KeyByHash calls for missing or huge keys = %d, want 0", n)
		}
	})

	t.Run("ErrExpiredKey", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey, ExpiresAt: t0})
		checkRefused(t, svc, "of an expired key")
	})

	t.Run("ErrKeyExpiresWhileCached", func(t *testing.T) {
		svc, _, clock := MustNewService(t)
		MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey, ExpiresAt: t0.Add(time.Second)})
		mustAuthenticate(t, svc, "before expiry")
		clock.Advance(time.Second)
		checkRefused(t, svc, "of a cached key at its expiry")
	})

	t.Run("ErrStoreFailure", func(t *testing.T) {
		svc, store, _ := MustNewService(t)
		MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey})
		failure := triggers.Unavailable(errors.New("connection refused"))
		store.keyByHashErr = failure
		_, err := svc.Authenticate(ctx, testRawKey)
		if err != failure {
			t.Fatalf("Authenticate() with a failing store error = %v, want the store's error %v as is", err, failure)
		}
		plain := errors.New("corrupt row")
		store.keyByHashErr = plain
		if _, err := svc.Authenticate(ctx, testRawKey); err != plain {
			t.Fatalf("Authenticate() with a failing store error = %v, want the store's error %v as is", err, plain)
		}

		// The failure is not cached: the next request asks the store again.
		store.keyByHashErr = nil
		mustAuthenticate(t, svc, "after the store recovered")
		if n := store.calls(); n != 3 {
			t.Errorf("KeyByHash calls = %d, want 3", n)
		}
	})
}

func TestService_CreateEvents(t *testing.T) {
	ctx := context.Background()
	newEvent := func(t *testing.T, body, header string) triggers.NewEvent {
		t.Helper()
		ne, err := triggers.ParseNewEvent([]byte(body), header, "")
		if err != nil {
			t.Fatalf("ParseNewEvent(%q) error = %v", body, err)
		}
		return ne
	}

	t.Run("OK", func(t *testing.T) {
		svc, _, clock := MustNewService(t)
		clock.Advance(1234567 * time.Nanosecond)
		res, err := svc.CreateEvents(ctx, "acme", []json.RawMessage{
			json.RawMessage(`{"source":"s","event_type":"e","payload":{"n":1}}`),
			json.RawMessage(`{"source":"s","event_type":"e","payload":{"n":2},"metadata":{"priority":"high"}}`),
		})
		if err != nil || len(res) != 2 {
			t.Fatalf("CreateEvents() = %v, %v, want 2 results", res, err)
		}
		for i, r := range res {
			if r.Err != nil || r.Replayed {
				t.Fatalf("CreateEvents() result %d = %+v, want a new event", i, r)
			}
			if want := t0.Add(1234 * time.Microsecond); !r.Event.CreatedAt.Equal(want) {
				t.Errorf("result %d CreatedAt = %v, want %v (the clock to the microsecond)", i, r.Event.CreatedAt, want)
			}
			if _, err := triggers.ParseEventID(r.Event.ID); err != nil {
				t.Errorf("result %d ID = %q: %v", i, r.Event.ID, err)
			}
			if r.Event.Tenant != "acme" || r.Event.Status() != triggers.StatusPending {
				t.Errorf("result %d = %+v, want a pending event of tenant acme", i, r.Event)
			}
		}
		if res[0].Event.ID == res[1].Event.ID {
			t.Errorf("CreateEvents() gave both events ID %s", res[0].Event.ID)
		}
		if res[1].Event.Priority != triggers.PriorityHigh || string(res[1].Event.Metadata) != `{"priority":"high"}` {
			t.Errorf("result 1 = %+v, want priority high", res[1].Event)
		}
	})

	t.Run("OKReplay", func(t *testing.T) {
		svc, _, clock := MustNewService(t)
		ne := newEvent(t, `{"source":"s","event_type":"e","payload":{"n":1}}`, "k-1")
		first, err := svc.CreateEvent(ctx, "acme", ne)
		if err != nil {
			t.Fatalf("CreateEvent() error = %v", err)
		}
		clock.Advance(time.Hour)
		again := newEvent(t, `{ "source": "s", "event_type": "e", "payload": {"n": 1} }`, "k-1")
		second, err := svc.CreateEvent(ctx, "acme", again)
		if err != nil || !second.Replayed || second.Event.ID != first.Event.ID || !second.Event.CreatedAt.Equal(first.Event.CreatedAt) {
			t.Fatalf("CreateEvent() replay = %+v, %v, want Replayed with ID %s", second, err, first.Event.ID)
		}

		// Keys of different tenants never collide.
		other, err := svc.CreateEvent(ctx, "other", again)
		if err != nil || other.Replayed || other.Event.ID == first.Event.ID {
			t.Fatalf("CreateEvent() in another tenant = %+v, %v, want a new event", other, err)
		}
	})

	t.Run("ErrIdempotencyKeyReused", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		ne := newEvent(t, `{"source":"s","event_type":"e","payload":{"n":1}}`, "k-1")
		if _, err := svc.CreateEvent(ctx, "acme", ne); err != nil {
			t.Fatalf("CreateEvent() error = %v", err)
		}
		for _, body := range []string{
			`{"source":"s","event_type":"e","payload":{"n":2}}`,
			`{"source":"s","event_type":"e","payload":{"n":1},"metadata":{"priority":"low"}}`,
			`{"source":"s2","event_type":"e","payload":{"n":1}}`,
		} {
			res, err := svc.CreateEvent(ctx, "acme", newEvent(t, body, "k-1"))
			checkCode(t, "CreateEvent() reusing a key for "+body, err, triggers.EIDEMPOTENCY)
			if res.Replayed || res.Event.ID != "" {
				t.Errorf("CreateEvent() = %+v, want no event", res)
			}
		}
	})
}

func TestService_EnsureKey(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		k, changed, err := svc.EnsureKey(ctx, testRawKey, "dev")
		if err != nil || !changed {
			t.Fatalf("EnsureKey() = %+v, %v, %v, want a new key", k, changed, err)
		}
		if k.Tenant != "dev" || !k.Active || k.Hash != triggers.HashKey(testRawKey) {
			t.Fatalf("EnsureKey() = %+v, want an active key of tenant dev with the key's hash", k)
		}
		if got, err := svc.Authenticate(ctx, testRawKey); err != nil || got.ID != k.ID {
			t.Fatalf("Authenticate() = %+v, %v, want key %s", got, err, k.ID)
		}

		again, changed, err := svc.EnsureKey(ctx, testRawKey, "dev")
		if err != nil || changed || again.ID != k.ID {
			t.Fatalf("EnsureKey() again = %+v, %v, %v, want key %s unchanged", again, changed, err, k.ID)
		}
		if keys, _ := svc.ListKeys(ctx); len(keys) != 1 {
			t.Fatalf("ListKeys() = %d keys, want 1", len(keys))
		}
	})

	t.Run("OKReactivatesRevoked", func(t *testing.T) {
		svc, _, clock := MustNewService(t)
		k, _, err := svc.EnsureKey(ctx, testRawKey, "dev")
		if err != nil {
			t.Fatalf("EnsureKey() error = %v", err)
		}
		if _, err := svc.RevokeKey(ctx, k.ID); err != nil {
			t.Fatalf("RevokeKey() error = %v", err)
		}
		got, changed, err := svc.EnsureKey(ctx, testRawKey, "dev")
		if err != nil || !changed || got.ID != k.ID || !got.Active {
			t.Fatalf("EnsureKey() of a revoked key = %+v, %v, %v, want key %s active again", got, changed, err, k.ID)
		}
		clock.Advance(testKeyTTL)
		mustAuthenticate(t, svc, "after EnsureKey()")
	})

	t.Run("OKReactivatesExpired", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		k := MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey, ExpiresAt: t0.Add(-time.Hour)})
		got, changed, err := svc.EnsureKey(ctx, testRawKey, "dev")
		if err != nil || !changed || got.ID != k.ID || !got.ExpiresAt.IsZero() {
			t.Fatalf("EnsureKey() of an expired key = %+v, %v, %v, want key %s without expiry", got, changed, err, k.ID)
		}
	})

	t.Run("ErrInvalidKey", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		_, _, err := svc.EnsureKey(ctx, "short", "dev")
		checkCode(t, "EnsureKey(short)", err, triggers.EINVALID)
	})

	t.Run("ErrInvalidTenant", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		_, _, err := svc.EnsureKey(ctx, testRawKey, "not a tenant")
		checkCode(t, "EnsureKey() with an invalid tenant", err, triggers.EINVALID)
	})
}

func TestService_UpdateKey(t *testing.T) {
	ctx := context.Background()
	ptr := func(n int) *int { return &n }

	t.Run("OK", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		k := MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		got, err := svc.UpdateKey(ctx, k.ID, triggers.KeyUpdate{RateLimit: ptr(50)})
		if err != nil || got.RateLimit != 50 || len(got.AllowedIPs) != 1 {
			t.Fatalf("UpdateKey(rate limit 50) = %+v, %v, want rate limit 50 and the allowlist kept", got, err)
		}
		got, err = svc.UpdateKey(ctx, k.ID, triggers.KeyUpdate{AllowedIPs: &[]netip.Prefix{}})
		if err != nil || got.RateLimit != 50 || len(got.AllowedIPs) != 0 {
			t.Fatalf("UpdateKey(clear allowlist) = %+v, %v, want rate limit kept and no allowlist", got, err)
		}
		got, err = svc.UpdateKey(ctx, k.ID, triggers.KeyUpdate{RateLimit: ptr(0)})
		if err != nil || got.RateLimit != 0 {
			t.Fatalf("UpdateKey(rate limit 0) = %+v, %v, want the server default (0)", got, err)
		}
	})

	t.Run("ErrRateLimit", func(t *testing.T) {
		svc, store, _ := MustNewService(t)
		k := MustCreateKey(t, svc, triggers.KeySpec{Raw: testRawKey, RateLimit: 10})
		for _, n := range []int{-1, triggers.MaxRateLimit + 1} {
			_, err := svc.UpdateKey(ctx, k.ID, triggers.KeyUpdate{RateLimit: ptr(n)})
			checkCode(t, "UpdateKey() with an invalid rate limit", err, triggers.EINVALID)
		}
		if keys, _ := store.ListKeys(ctx); keys[0].RateLimit != 10 {
			t.Errorf("stored rate limit = %d, want 10 unchanged", keys[0].RateLimit)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		svc, _, _ := MustNewService(t)
		_, err := svc.UpdateKey(ctx, "key_unknown000", triggers.KeyUpdate{RateLimit: ptr(5)})
		checkCode(t, "UpdateKey() of an unknown key", err, triggers.ENOTFOUND)
	})
}

func TestService_BulkAckDeleteValidation(t *testing.T) {
	svc := triggers.NewService(newFakeStore(), nil)
	ctx := context.Background()
	for _, n := range []int{0, triggers.BulkLimit + 1} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = triggers.NewEventID(time.Now())
		}
		if _, err := svc.AckEvents(ctx, "a", ids); triggers.ErrorCode(err) != triggers.EINVALID {
			t.Errorf("AckEvents(%d ids) error = %v, want EINVALID", n, err)
		}
		if _, err := svc.DeleteEvents(ctx, "a", ids); triggers.ErrorCode(err) != triggers.EINVALID {
			t.Errorf("DeleteEvents(%d ids) error = %v, want EINVALID", n, err)
		}
	}
	// Ids that are not UUIDs fail alone (VALIDATION_ERROR naming event_ids[i],
	// not the 422 of a path id) and never reach the store (the fake store
	// would fail the whole call).
	ids := []string{"x", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f"}
	res, err := svc.AckEvents(ctx, "a", ids)
	if err != nil || len(res) != 2 {
		t.Fatalf("AckEvents(invalid ids) = %v, %v", res, err)
	}
	for i, r := range res {
		var e *triggers.Error
		if !errors.As(r.Err, &e) || e.Code != triggers.EINVALID || !strings.Contains(fmt.Sprint(e.Details), fmt.Sprintf("event_ids[%d]", i)) {
			t.Errorf("AckEvents()[%d].Err = %v, want EINVALID naming event_ids[%d]", i, r.Err, i)
		}
	}
	dres, err := svc.DeleteEvents(ctx, "a", ids)
	if err != nil || len(dres) != 2 || triggers.ErrorCode(dres[0].Err) != triggers.EINVALID || triggers.ErrorCode(dres[1].Err) != triggers.EINVALID {
		t.Fatalf("DeleteEvents(invalid ids) = %v, %v; want per-item EINVALID", dres, err)
	}
}

// TestService_BulkSize checks that Service refuses a bulk operation of 0 or
// more than BulkLimit items as a whole, naming the request's list field, and
// calls no store (the fake store would fail the ack and delete calls).
func TestService_BulkSize(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := MustNewService(t)
	ops := []struct {
		name, field, noun string
		call              func(n int) error
	}{
		{"CreateEvents", "items", "events", func(n int) error {
			_, err := svc.CreateEvents(ctx, "a", slices.Repeat([]json.RawMessage{json.RawMessage(`{}`)}, n))
			return err
		}},
		{"AckEvents", "event_ids", "event ids", func(n int) error {
			_, err := svc.AckEvents(ctx, "a", slices.Repeat([]string{triggers.NewEventID(t0)}, n))
			return err
		}},
		{"DeleteEvents", "event_ids", "event ids", func(n int) error {
			_, err := svc.DeleteEvents(ctx, "a", slices.Repeat([]string{triggers.NewEventID(t0)}, n))
			return err
		}},
	}
	for _, op := range ops {
		for _, n := range []int{0, triggers.BulkLimit + 1} {
			t.Run(fmt.Sprintf("%s/%d", op.name, n), func(t *testing.T) {
				err := op.call(n)
				want := fmt.Sprintf("%s: must be an array of 1 to %d %s (got %d)", op.field, triggers.BulkLimit, op.noun, n)
				if triggers.ErrorCode(err) != triggers.EINVALID || triggers.ErrorMessage(err) != want {
					t.Fatalf("%s(%d items) = %v, want EINVALID %q", op.name, n, err, want)
				}
			})
		}
	}
	if len(store.events) != 0 {
		t.Errorf("refused bulk creates stored %d events", len(store.events))
	}
}

// distinctStore is a real SQLite store that checks the Store contract's
// promise that the ids of one bulk call, and the idempotency keys of one
// InsertEvents call, are distinct. An id in fail is not written and reports
// that error, as a store reports a call that failed for one item.
type distinctStore struct {
	*sqlite.DB
	t    *testing.T
	fail map[string]error
}

func (s *distinctStore) mustBeDistinct(call string, values []string) {
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			s.t.Errorf("%s got %q twice in one call: %q", call, v, values)
		}
		seen[v] = true
	}
}

// apply writes the ids not in fail with write and merges in the failures.
func distinctApply[R any](s *distinctStore, call string, ids []string, write func([]string) ([]R, error), failed func(error) R) ([]R, error) {
	s.mustBeDistinct(call, ids)
	var ok []string
	for _, id := range ids {
		if s.fail[id] == nil {
			ok = append(ok, id)
		}
	}
	res, err := write(ok)
	if err != nil {
		return nil, err
	}
	out := make([]R, 0, len(ids))
	for _, id := range ids {
		if e := s.fail[id]; e != nil {
			out = append(out, failed(e))
			continue
		}
		out, res = append(out, res[0]), res[1:]
	}
	return out, nil
}

func (s *distinctStore) InsertEvents(ctx context.Context, inserts []triggers.Insert) ([]triggers.InsertResult, error) {
	var keys []string
	for _, in := range inserts {
		if in.IdempotencyKey != "" {
			keys = append(keys, in.IdempotencyKey)
		}
	}
	s.mustBeDistinct("InsertEvents", keys)
	return s.DB.InsertEvents(ctx, inserts)
}

func (s *distinctStore) AckEvents(ctx context.Context, tenant string, acks []triggers.Ack, at, notBefore time.Time) ([]triggers.AckResult, error) {
	ids := make([]string, len(acks))
	for i, a := range acks {
		ids[i] = a.ID
	}
	return distinctApply(s, "AckEvents", ids,
		func(ids []string) ([]triggers.AckResult, error) {
			return s.DB.AckEvents(ctx, tenant, triggers.AcksOf(ids), at, notBefore)
		},
		func(err error) triggers.AckResult { return triggers.AckResult{Err: err} })
}

func (s *distinctStore) DeleteEvents(ctx context.Context, tenant string, ids []string, notBefore time.Time) ([]triggers.DeleteResult, error) {
	return distinctApply(s, "DeleteEvents", ids,
		func(ids []string) ([]triggers.DeleteResult, error) {
			return s.DB.DeleteEvents(ctx, tenant, ids, notBefore)
		},
		func(err error) triggers.DeleteResult { return triggers.DeleteResult{Err: err} })
}

// mustDistinctService returns a Service over a distinctStore on a real
// SQLite file, with three pending events of tenant "a".
func mustDistinctService(t *testing.T) (*triggers.Service, *distinctStore, []string) {
	t.Helper()
	db, err := sqlite.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	store := &distinctStore{DB: db, t: t, fail: map[string]error{}}
	svc := triggers.NewService(store, nil)
	item := json.RawMessage(`{"source":"s","event_type":"e","payload":{"n":1}}`)
	res, err := svc.CreateEvents(context.Background(), "a", []json.RawMessage{item, item, item})
	if err != nil {
		t.Fatalf("CreateEvents() = %v", err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("CreateEvents()[%d] = %v", i, r.Err)
		}
		ids[i] = r.Event.ID
	}
	return svc, store, ids
}

func resultCodes[R any](res []R, errOf func(R) error) []triggers.Code {
	out := make([]triggers.Code, len(res))
	for i, r := range res {
		out[i] = triggers.ErrorCode(errOf(r))
	}
	return out
}

// TestService_BulkRepeatedIDs checks that an id repeated in one bulk ack or
// delete reaches the store once and reads as if the items were applied in
// order: a second ack of an acknowledged event is CONFLICT, a second delete
// of a deleted one NOT_FOUND, and a repeat of a failed item fails the same
// way. Ids are compared in lowercase.
func TestService_BulkRepeatedIDs(t *testing.T) {
	ctx := context.Background()
	unavailable := triggers.Unavailable(errors.New("injected"))
	unknown := triggers.NewEventID(t0)
	cases := []struct {
		name string
		ack  bool
		ids  func(ids []string) []string
		fail int // index of the fixture event whose store call fails; -1 for none
		want []triggers.Code
	}{
		{"Ack", true, func(ids []string) []string {
			return []string{ids[0], strings.ToUpper(ids[0]), ids[1], unknown, ids[0], unknown, "x", "x"}
		}, -1, []triggers.Code{"", triggers.ECONFLICT, "", triggers.ENOTFOUND, triggers.ECONFLICT, triggers.ENOTFOUND, triggers.EINVALID, triggers.EINVALID}},
		{"AckFailed", true, func(ids []string) []string {
			return []string{ids[2], ids[0], ids[2]}
		}, 2, []triggers.Code{triggers.EUNAVAILABLE, "", triggers.EUNAVAILABLE}},
		{"Delete", false, func(ids []string) []string {
			return []string{ids[0], strings.ToUpper(ids[0]), ids[1], unknown, ids[0], unknown, "x"}
		}, -1, []triggers.Code{"", triggers.ENOTFOUND, "", triggers.ENOTFOUND, triggers.ENOTFOUND, triggers.ENOTFOUND, triggers.EINVALID}},
		{"DeleteFailed", false, func(ids []string) []string {
			return []string{ids[2], ids[0], ids[2]}
		}, 2, []triggers.Code{triggers.EUNAVAILABLE, "", triggers.EUNAVAILABLE}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc, store, fixture := mustDistinctService(t)
			if c.fail >= 0 {
				store.fail[fixture[c.fail]] = unavailable
			}
			ids := c.ids(fixture)
			var got []triggers.Code
			if c.ack {
				res, err := svc.AckEvents(ctx, "a", ids)
				if err != nil {
					t.Fatalf("AckEvents() = %v", err)
				}
				got = resultCodes(res, func(r triggers.AckResult) error { return r.Err })
				for i, r := range res {
					if r.Err == nil && (r.Event.ID != strings.ToLower(ids[i]) || r.Event.Status() != triggers.StatusAcknowledged) {
						t.Errorf("AckEvents()[%d].Event = %+v, want %s acknowledged", i, r.Event, strings.ToLower(ids[i]))
					}
				}
			} else {
				res, err := svc.DeleteEvents(ctx, "a", ids)
				if err != nil {
					t.Fatalf("DeleteEvents() = %v", err)
				}
				got = resultCodes(res, func(r triggers.DeleteResult) error { return r.Err })
				for i, r := range res {
					if r.Err == nil && r.EventID != strings.ToLower(ids[i]) {
						t.Errorf("DeleteEvents()[%d].EventID = %q, want %s", i, r.EventID, strings.ToLower(ids[i]))
					}
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("codes = %q, want %q", got, c.want)
			}
		})
	}
}

// TestService_CreateEventsRepeatedKey checks that an idempotency key
// repeated in one bulk create reaches the store once: a later item with the
// same request replays the first item's event, one with another request is
// IDEMPOTENCY_KEY_REUSED, and an item that failed validation claims nothing.
func TestService_CreateEventsRepeatedKey(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := mustDistinctService(t)
	withKey := func(key string, n int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"source":"s","event_type":"e","payload":{"n":%d},"metadata":{"idempotency_key":%q}}`, n, key))
	}
	items := []json.RawMessage{
		json.RawMessage(`{"source":"s","event_type":"e","metadata":{"idempotency_key":"k"}}`), // no payload: invalid
		withKey("k", 1),
		withKey("k", 1),
		withKey("k", 2),
		withKey("other", 1),
		withKey("k", 1),
	}
	res, err := svc.CreateEvents(ctx, "a", items)
	if err != nil {
		t.Fatalf("CreateEvents() = %v", err)
	}
	want := []triggers.Code{triggers.EINVALID, "", "", triggers.EIDEMPOTENCY, "", ""}
	if got := resultCodes(res, func(r triggers.CreateResult) error { return r.Err }); !slices.Equal(got, want) {
		t.Fatalf("codes = %q, want %q", got, want)
	}
	first := res[1]
	if first.Replayed {
		t.Fatalf("first item with the key = %+v, want a new event", first)
	}
	for _, i := range []int{2, 5} {
		if !res[i].Replayed || res[i].Event.ID != first.Event.ID || !res[i].Event.CreatedAt.Equal(first.Event.CreatedAt) {
			t.Errorf("item %d = %+v, want a replay of %s", i, res[i], first.Event.ID)
		}
	}
	if res[4].Replayed || res[4].Event.ID == first.Event.ID {
		t.Errorf("item with another key = %+v, want a new event", res[4])
	}
	// A later call replays the event too: the store has one record of "k".
	again, err := svc.CreateEvents(ctx, "a", []json.RawMessage{withKey("k", 1)})
	if err != nil || !again[0].Replayed || again[0].Event.ID != first.Event.ID {
		t.Fatalf("CreateEvents() again = %+v, %v; want a replay of %s", again, err, first.Event.ID)
	}
}
