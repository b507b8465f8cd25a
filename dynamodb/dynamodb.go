// Package dynamodb is the Triggers store on Amazon DynamoDB (AWS SDK for Go
// v2): any number of stateless instances, or Lambda functions, share it.
//
// # Tables
//
// A deployment stage S has five tables, all on-demand (PAY_PER_REQUEST):
//
//	triggers-api-events-S        pk (S)                       TTL: ttl (optional, Options.EventTTL)
//	                             (also the statistics counters, see Statistics)
//	  GSI inbox                  inbox_tenant (S), created_at_id (S), projection ALL
//	                             (pending events under tenant, dead ones under "dead#" + tenant)
//	triggers-api-keys-S          hash (S)
//	triggers-api-idempotency-S   pk (S)                       TTL: ttl
//	triggers-api-rate-limits-S   api_key (S), window_start (N) TTL: ttl (created here, used by the rate limiter)
//	  GSI timeline (events)      timeline_key (S), created_at (N), projection INCLUDE id, source, event_type, priority, metadata
//	                             (every event: under "outbox#" + tenant until fanned out, then under tenant)
//	triggers-api-webhooks-S      pk (S), sk (S)               TTL: ttl (subscriptions and deliveries)
//	  GSI due                    due_shard (S), due_at (N), projection KEYS_ONLY (pending deliveries)
//
// # Events
//
// An event is one item with partition key pk = tenant + "#" + event id (a
// tenant name cannot hold '#'). Every access by id (get, ack, delete) is one
// key lookup, and the tenant is part of the key: an event of another tenant is
// simply a different, absent item. A composite key (tenant, id) would put all
// of a tenant's events in one partition key; the single-attribute key spreads
// the base table's writes evenly however busy one tenant is.
//
// Attributes: tenant, id, created_at (N, Unix microseconds), source,
// event_type, priority, payload and metadata (S, the JSON text exactly as
// stored by the service, so numbers and strings round-trip byte for byte),
// acked_at (N, once acknowledged), ttl (N, Unix seconds, when EventTTL is set),
// and the lease attributes (see Leases): attempts (N), lease_id (S),
// lease_expires_at, available_at and dead_at (N, Unix microseconds), each
// absent when zero (an item written before leases existed has none of them
// and reads as never received).
//
// # The inbox
//
// While an event is pending it also has inbox_tenant = tenant and
// created_at_id = created_at as 20 zero-padded digits + "#" + id. These are the
// keys of the sparse global secondary index "inbox": partitioned by tenant
// (never by a global status value), sorted in inbox order, holding pending
// events only, because an ack REMOVEs both attributes. It projects ALL
// attributes, so a page is read by the index Query alone. A dead event
// (see Leases) keeps created_at_id but has inbox_tenant = "dead#" + tenant:
// it has left the tenant's pending partition of the index for its dead
// partition, which ListPending reads for Filter.Status dead, with the same
// key condition, filters, paging and cursors. A tenant name cannot hold
// '#', so no tenant's pending partition is another's dead one.
//
// ListPending is one Query on the index. Retention, created_after,
// created_before and the cursor position together are one key condition on
// created_at_id (>= or BETWEEN), so date ranges are index ranges. Source,
// event type and priority are a FilterExpression. DynamoDB applies a filter
// after its Limit, so the store loops: it queries on from LastEvaluatedKey
// until it has Limit+1 matches (then Next is the Limit-th match), the index
// is exhausted (Next is nil), or it has examined InboxQuery.MaxScan items
// (then the page may be short and Next is the last position examined, taken
// from LastEvaluatedKey). For metadata filters each event item carries a map
// attribute md of its filterable metadata fields (triggers.MetadataTerms),
// compared as #md.#mN = :mN, the key and the value both placeholders.
//
// The index is eventually consistent: an event acknowledged a moment ago may
// still be listed. CreatedAt is made strictly increasing per process (the
// store moves it forward by a microsecond when needed), so one instance's
// events are stamped in the order their writes start; across instances the
// order follows the instances' clocks. So that an event whose write (or
// index replication) completes late is not passed by a cursor already
// handed out, a page with a next position is answered only from a read that
// started at least Options.InboxSettle after the page's last event was
// created: its cursor never passes the read's start − InboxSettle. When the
// first read's last event is younger, ListPending waits until it has settled
// (through Options.Sleep, never past the first read + InboxSettle) and reads
// the page again; that read also holds any event written late behind it. So
// the page still holds Limit events, as on SQLite, at the price of up to
// InboxSettle of latency at the newest end of the inbox. A last page (no next
// position) is answered at once, whole. Only where waiting cannot help (the
// last event stamped after the first read by a clock running ahead, a
// context whose deadline leaves no time for the wait and a read, or a page
// whose end keeps moving onto younger events through acknowledgements,
// after maxSettleReads reads) is the page cut at the read's start −
// InboxSettle instead: short, even empty, with a next position
// (docs/DECISIONS.md, Inbox on DynamoDB).
//
// # Idempotency and inserts
//
// An idempotency record has pk = tenant + "#" + key and holds the request
// hash, the event's id and created_at, its own created_at and ttl (created_at
// plus the window the service asked for, derived from IdempotencyNotBefore).
//
// InsertEvents works in two steps. First it claims the idempotency keys of
// the inserts that have one, in parallel: a PutItem of the record with the
// condition attribute_not_exists(pk) OR created_at <= :notBefore. If that
// fails, the record is read back (from the failed call, which DynamoDB
// returns with ReturnValuesOnConditionCheckFailure, or else with a
// consistent GetItem) and the insert is a replay (the keys of one call are
// distinct: triggers.Service resolves repeats). Then it writes the events that are not
// replays: one event with a PutItem conditional on its pk being new, more
// with BatchWriteItem in chunks of 25, in parallel, retrying UnprocessedItems
// with backoff. So a create costs 1 round trip, 2 with an idempotency key,
// and a bulk create 2 sequential rounds.
//
// These are not transactions (dynalite has no TransactWriteItems). If an
// event write fails, the store deletes its record again (conditional on its
// event id); should that delete fail too, the key replays an event that does
// not exist until the record expires. A concurrent replay may also report
// the id of an event whose write is still in flight.
//
// # Acknowledge and delete
//
// Ack is one UpdateItem: SET acked_at, REMOVE inbox_tenant, created_at_id
// and the lease attributes, conditional on attribute_exists(inbox_tenant)
// (pending or dead) AND created_at > :notBefore, and with a lease id also
// on lease_id = :lease, returning ALL_NEW. Of concurrent acks exactly one
// meets the condition. A failed condition is told apart as not found
// (absent or expired), already acknowledged or lease lost from the item
// the failed call returns (ReturnValuesOnConditionCheckFailure) or, where
// the server does not, from a consistent GetItem. Delete is one DeleteItem
// conditional on attribute_exists(pk) AND created_at > :notBefore.
//
// AckEvents and DeleteEvents (bulk) issue those same conditional calls for
// the ids of the call (distinct: triggers.Service resolves repeats)
// concurrently, at most 10 at once, so 25 items take 3 rounds of calls (plus
// a GetItem for a failed ack condition where the server does not return the
// item). There is no batch form of conditional writes without transactions.
// A failed call fails only its own item (EUNAVAILABLE for throttling or timeouts); nothing is reported
// done that was not.
//
// # Leases
//
// A receive (DESIGN §10) is one Query of the tenant's pending partition of
// the inbox index, projected to pk, created_at_id, attempts,
// lease_expires_at and available_at, then one UpdateItem per event, in
// parallel: SET attempts = seen+1, lease_id, lease_expires_at REMOVE
// available_at, conditional on inbox_tenant = tenant (pending, not dead,
// not acknowledged), created_at > notBefore, no lease_expires_at or
// available_at after now, and attempts = seen, the value the Query saw. The
// index is eventually consistent and two receivers may read the same
// events: only that condition makes a lease exclusive. A write whose
// condition fails lost a race, or acted on a stale index entry; it costs
// one write unit and the event is skipped. An available event whose
// attempts reached the receive's max attempts is dead-lettered by the same
// kind of write instead: SET dead_at, inbox_tenant = "dead#" + tenant
// REMOVE the lease.
//
// The Query reads a window of 4 × Max items first and pages on (each page
// twice the last, at most ReceiveQuery.MaxScan items) only while it found
// too few available events: the head of a busy inbox is leased. The
// writes go in rounds: if some lose, the next round tries as many further
// candidates as leases are missing, at most 4 rounds; if a round loses
// more than half, what the Query saw is stale and the receive reads once
// more. A receive therefore costs 1 Query and 1 round of writes
// (Max writes) when nothing competes with it.
//
// Concurrent receivers that all try the oldest events first would all
// fight over the same ones: each event would cost one write per receiver.
// So each Store keeps, per tenant, a spread factor f: 1 while its receives
// lose no races, doubled (up to 16) after a receive that lost one, halved
// after one that lost none. With f > 1 a receive reads f × Max available
// events (at least 4 × Max items) and tries them in random order, so that
// receivers reading the same window mostly pick different events; and a
// receive that loses a race with f = 1 tries its remaining candidates in
// random order. The price is order: under contention a receive returns
// events from the oldest f × Max available rather than the oldest Max
// (each receive's events are still returned oldest first), and it reads a
// wider window (read units) to save conditional writes, which cost five
// times as much. Without contention receives stay strictly oldest first.
// TestReceiveEvents_Contention measures both ways.
//
// Nack and extend are one UpdateItem each, conditional on inbox_tenant =
// tenant AND lease_id = :lease AND lease_expires_at > now; a nack REMOVEs
// the lease (SET available_at for a delay), an extension SETs
// lease_expires_at. Redrive is one UpdateItem conditional on inbox_tenant
// = "dead#" + tenant: SET inbox_tenant = tenant, attempts = 0, REMOVE
// dead_at and the lease, so the event is back in the pending partition at
// its place in inbox order (created_at_id is kept). Failed conditions are
// told apart (not found, already acknowledged, lease lost, lease expired,
// not dead) from the item as for Ack. Bulk nacks and redrives issue these
// writes concurrently, as bulk acks do. A ReceivePoller: a waiting receive
// asks again every 200 ms, doubling up to 800 ms.
//
// # Statistics
//
// Stats (DESIGN §12) never counts events: it reads counters that every
// write keeps with atomic ADDs. They are items of the events table whose pk
// starts with '#' (no event's does), without the attributes of the inbox
// index or created_at, so no inbox read and no purge sees them:
//
//	#stats#T#k       counter shard k (0..3) of tenant T
//	#minute#T#M#k    shard k of tenant T's counts of minute M (Unix seconds), ttl = M + 2 h
//	#tenants         string set "tenants": every tenant that created events (TotalStats)
//
// Counter attributes are named kind + US + source + US + event_type (US is
// U+001F, which names cannot hold), so that the source and event_type
// filters and the top sources are answered from the same counters: on a
// counter shard, "o" counts open events (pending, leased or not), "d" dead
// ones and "l" + a lease's expiry (Unix microseconds) the leases that expire
// then; on a minute item, "c" counts the events created in the minute and
// "a" those acknowledged in it. Leases end without a write, so the leased
// count is the sum of the lease attributes after Now: a receive or an
// extension ADDs 1 at the new expiry, and an ack, nack, extension,
// deletion or purge of a leased event subtracts 1 at its old expiry (an ack,
// nack or extension only while that expiry is still ahead: an expired
// lease counts nowhere already). A lease write that finds 16 or more lease
// attributes of its shard expired for over a minute (ReturnValues ALL_NEW)
// removes them, so a shard holds few more than the leases held.
//
// The counter writes are separate UpdateItems after the verb's event
// writes succeeded, not in their condition or a transaction (hot counters
// would make every write of the tenant conflict): only what was written is
// counted, so an ack that lost its condition counts nothing and a bulk
// verb counts its successful items. They go out in parallel, one per item
// touched: the whole call's ADDs on one counter shard chosen at random (a
// bulk call of 100 events is still one UpdateItem, up to 100 attributes),
// and one per minute item touched. The verb returns once they are written,
// so a caller that waited for its writes sees them counted. One that fails
// (after the SDK's retries) is logged, counted (StatsWriteFailures) and
// dropped: the event write is done and must be reported. So the counts are
// approximate (Stats.Approximate), and also because a process may die
// between its event write and its counter write. A tenant's counters are
// spread over 4 shards because one item takes about 1,000 writes a second.
//
// A stats call reads the 4 counter shards and the 4 shards of each minute
// since Since (244 keys) with BatchGetItem, 100 keys a call, the 3 calls in
// parallel, eventually consistent; and the oldest pending event with one
// Query of the inbox index (Limit 1). With a source or event_type filter
// that Query examines at most 100 events (DynamoDB filters after the
// limit): when none of the 100 oldest pending events matches, the oldest is
// unknown (zero). Counts include expired events that DeleteExpired has not
// removed yet (the oldest does not); DeleteExpired subtracts what it
// deletes. DynamoDB's TTL deletes events without this store knowing: an
// event TTL removes while still pending or dead stays counted (see
// docs/DECISIONS.md, Statistics on DynamoDB). TotalStats reads the tenants
// registry, their counter shards (BatchGetItem) and one Query per tenant.
//
// # Keys
//
// A key record has partition key hash (the hex SHA-256 of the raw key), so
// authentication is one GetItem. A second item, hash = "id#" + key id, claims
// the key id and points to the record: CreateKey puts the claim and then the
// record, both conditional on being new (and removes the claim if the record
// put fails), so ids and hashes are both unique. UpdateKey reads the claim
// and the record, applies fn and puts the record back conditional on its
// version attribute, retrying on a concurrent change. ListKeys scans the table.
//
// # Expiry
//
// Expired events and records are never returned: every read compares
// created_at with the caller's notBefore. In production DynamoDB's TTL removes
// them (ttl attributes; TTL is enabled by CreateTables where the server
// supports it). DeleteExpired also removes them, with a Scan: fine for tests
// and small tables, not meant to replace TTL at scale.
//
// # Webhooks
//
// Push delivery (DESIGN §11; docs/DECISIONS.md, Webhooks on DynamoDB). The
// outbox is part of the event's item: every event is written with
// timeline_key = "outbox#" + tenant, so the event and the promise of its
// deliveries are one write, and a create costs no request more. A fan-out,
// run by ClaimDeliveries (and by subscription changes, which drain the
// tenant's outbox before they are written), reads the outbox partitions of
// the tenants that have subscriptions, writes each event's deliveries to
// the subscriptions that match it, each conditional on being new, and only
// then moves the event's entry to timeline_key = tenant: a fan-out killed
// midway is done again, without duplicates. The webhooks table holds per
// tenant a head (pk "subs", sk tenant: the set of subscription ids, whose
// size is the atomic limit), the subscriptions (pk "sub#" + tenant) and
// the deliveries (pk "dlv#" + tenant + "#" + subscription, sk event id).
// Pending deliveries are in the due index, sharded over "due#0".."due#7"
// and sorted by due_at; a claim Queries every shard and leases each
// candidate with one UpdateItem conditional on it being pending, indexed
// and due_at <= now, and sets due_at to the lease's expiry: exclusive
// across instances, and due again by itself if the holder dies.
//
// # Errors
//
// Every call runs with a timeout (Options.Timeout) and the SDK's standard
// retryer (bounded attempts, backoff; see NewClient). Throttling, timeouts,
// 5xx answers and connection failures become EUNAVAILABLE; a missing table is
// an internal error naming the table. The mapping is in formatError.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	triggers "github.com/triggersapi/triggers"
)

// Options configure a Store; the zero value of each field means its default.
type Options struct {
	// Timeout bounds every DynamoDB call, retries included; default 5s.
	Timeout time.Duration
	// EventTTL, when set, gives each event a ttl attribute of created_at plus
	// EventTTL, for DynamoDB's TTL to remove it. Zero: no ttl on events.
	EventTTL time.Duration
	// Now is the clock; default time.Now. Used for idempotency record TTLs
	// and InboxSettle.
	Now func() time.Time
	// Sleep waits d or until ctx is done (returning ctx.Err()); default a
	// timer. ListPending waits through it for the settle window; tests with
	// a fake Now pass a sleep that advances that clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// InboxSettle keeps inbox cursors behind the most recent writes: a page
	// that has a next position never holds, nor moves its cursor past, an
	// event created less than InboxSettle before the page was read.
	// Instances stamp created_at before their write, and the inbox index is
	// replicated asynchronously, so an event can become visible a moment
	// after a younger one; without a settle time a cursor handed out in
	// between passes it, and that pass through the inbox misses it. Rather
	// than answer short, ListPending waits (at most InboxSettle) until the
	// page's last event has settled and reads the page again (see the
	// package doc, The inbox). Zero (the default, and most tests') turns it
	// off; servers use DefaultInboxSettle.
	InboxSettle time.Duration
	// Logger receives the warnings of failed statistics counter writes;
	// default slog.Default().
	Logger *slog.Logger
}

// DefaultInboxSettle is the InboxSettle of servers on DynamoDB: longer than
// a write's latency and the inbox index's usual replication lag.
const DefaultInboxSettle = time.Second

// Store is a triggers.Store on DynamoDB. It is safe for concurrent use.
type Store struct {
	client  *dynamodb.Client
	stage   string
	timeout time.Duration
	opts    Options

	events, keys, idem, hooks string // table names

	webhooks webhookState // push delivery (webhooks.go)

	mu          sync.Mutex
	lastCreated int64 // greatest created_at this process stored, Unix micros

	contention contention // tenants whose receives lost lease races lately

	tenants       sync.Map     // tenants this process registered for TotalStats
	statsFailures atomic.Int64 // counter writes that failed
}

var _ triggers.Store = (*Store)(nil)

var stagePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidateStage checks a stage name: 1 to 64 of A-Z a-z 0-9 _ . - (a table
// name allows these and no others).
func ValidateStage(stage string) error {
	if !stagePattern.MatchString(stage) {
		return fmt.Errorf("dynamodb: stage %q must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'", stage)
	}
	return nil
}

// Open returns a store on the tables of stage. It does not create them (see
// CreateTables) and makes no call: a missing table shows on first use, and
// in Ping.
func Open(ctx context.Context, client *dynamodb.Client, stage string, opts *Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("dynamodb: nil client")
	}
	if err := ValidateStage(stage); err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Store{
		client: client, stage: stage, timeout: o.Timeout, opts: o,
		events: EventsTable(stage), keys: KeysTable(stage), idem: IdempotencyTable(stage),
		hooks: WebhooksTable(stage),
	}, nil
}

// sleep is the default Options.Sleep.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxAttempts is how many times NewClient's retryer tries one call.
const MaxAttempts = 4

// NewClient returns a DynamoDB client configured the standard AWS way
// (region and credentials from the environment, shared config files or the
// instance role) with the SDK's standard retryer, MaxAttempts attempts with
// exponential backoff and jitter. With an endpoint (a local server such as
// dynalite) the client talks to it instead, and a missing region defaults to
// us-east-1 and missing credentials to static dummy ones.
func NewClient(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = MaxAttempts
				o.MaxBackoff = time.Second
			})
		}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(10 * time.Second)),
	}
	if endpoint != "" {
		if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
			loadOpts = append(loadOpts, config.WithRegion("us-east-1"))
		}
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			loadOpts = append(loadOpts, config.WithCredentialsProvider(
				credentials.NewStaticCredentialsProvider("local", "local", "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: load AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// Ping reads one (absent) item of the events table.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.events,
		Key:       map[string]types.AttributeValue{"pk": str("#ping")},
	})
	return s.formatError("ping", s.events, err)
}

// Close does nothing: the client holds no resources that need releasing.
func (s *Store) Close() error { return nil }

// ctx bounds one call by the store's timeout.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// formatError maps an error of a DynamoDB call on table to the store's
// contract: nil and *triggers.Error as they are; throttling, server errors,
// timeouts and connection failures as EUNAVAILABLE; a missing table as an
// internal error naming it; anything else as an internal error. Callers
// handle ConditionalCheckFailedException themselves first.
func (s *Store) formatError(op, table string, err error) error {
	if err == nil {
		return nil
	}
	var te *triggers.Error
	if errors.As(err, &te) {
		return err
	}
	wrapped := fmt.Errorf("dynamodb: %s: %w", op, err)
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("dynamodb: %s: table %s (or its index) does not exist; create the tables with `triggers tables create --stage %s`: %w", op, table, s.stage, err)
	}
	if retryable(err) {
		return triggers.Unavailable(wrapped)
	}
	return wrapped
}

// retryable reports whether err is a failure that a later retry may cure.
func retryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var (
		pte   *types.ProvisionedThroughputExceededException
		rle   *types.RequestLimitExceeded
		ise   *types.InternalServerError
		tce   *types.TransactionConflictException
		quota ratelimit.QuotaExceededError
		netE  net.Error
		opE   *net.OpError
	)
	if errors.As(err, &pte) || errors.As(err, &rle) || errors.As(err, &ise) || errors.As(err, &tce) ||
		errors.As(err, &quota) || errors.As(err, &netE) || errors.As(err, &opE) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottledException",
			"TooManyRequestsException", "ServiceUnavailable", "ServiceUnavailableException",
			"InternalFailure", "InternalServerError", "RequestTimeout", "RequestTimeoutException",
			"LimitExceededException":
			return true
		}
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return true
	}
	// The request could not be sent or its answer not read (connection
	// refused, reset or closed mid-answer).
	var send *smithyhttp.RequestSendError
	return errors.As(err, &send)
}

// conditionFailed reports whether err is a failed condition expression, and
// returns the item the server sent with it (nil when it sent none).
func conditionFailed(err error) (bool, map[string]types.AttributeValue) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true, ccf.Item
	}
	return false, nil
}

// Attribute value helpers.

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

func getBool(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// micros and fromMicros are the root package's one conversion of instants
// (the zero time is 0), short-named for the many expressions here.
var (
	micros     = triggers.UnixMicros
	fromMicros = triggers.FromUnixMicros
)
