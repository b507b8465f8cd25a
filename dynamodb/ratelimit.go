package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/triggersapi/triggers/ratelimit"
)

// RateLimiter is a ratelimit.Limiter on the rate-limits table of a stage
// (RateLimitsTable): every process and Lambda function sharing the table
// shares each key's budget. It is safe for concurrent use.
//
// # State
//
// A key's whole GCRA state is one item: api_key = the key (callers pass the
// key id, never a raw key), window_start = 0, tat = the theoretical arrival
// time in Unix microseconds, and ttl = Unix seconds at least one hour after
// tat, for DynamoDB's TTL to remove keys idle that long (their state is a
// full bucket, the same as no item). tat may have a fractional part
// (nanoseconds as three decimals): ratelimit.Interval of a limit that does
// not divide a minute evenly, such as 60s/7, is not a whole number of
// microseconds, and DynamoDB's decimal arithmetic adds it exactly, so the
// stored state is exactly ratelimit.Decide's.
//
// # One conditional update per request
//
// Take applies ratelimit.Decide atomically with conditional writes, never a
// read followed by an unconditional write. With T = Interval(limit) and
// burst = T*limit, Decide admits a request iff max(tat, now) + T - burst <=
// now. The common case is one UpdateItem:
//
//	SET tat = if_not_exists(tat, :now) + :T, ttl = :ttl
//	IF attribute_not_exists(tat) OR tat BETWEEN :now AND :now + burst - T
//
// which admits a busy key or a never-seen one. When the condition fails the
// key is either idle (tat < now: the bucket refilled, and the new state is
// now + T whatever tat was) or over its limit (tat > now + burst - T). The
// failed call returns the item (ReturnValuesOnConditionCheckFailure ALL_OLD)
// on DynamoDB; a server that does not (dynalite) costs a consistent GetItem.
// Then:
//
//   - idle: a second UpdateItem SET tat = :now + :T IF attribute_not_exists(tat)
//     OR tat < :now (every idle state gives the same result, so this is exact
//     without comparing the old value). If it fails, another request made the
//     key busy meanwhile: start again.
//   - over the limit: refused, decided by Decide on the item read, no write.
//   - tat more than a whole window ahead of now (the clock stepped back, or
//     another instance's clock is ahead): refused, and the clamped state
//     Decide returns is written back with a compare-and-set on the old tat,
//     so the key is never locked out longer than a window.
//
// So a request costs one round trip when admitted on a busy or new key or
// refused on DynamoDB, two when the key was idle (on dynalite: refused 2,
// idle 3). A concurrent burst from an idle key admits exactly the limit.
// Take gives up with an error after maxRateLimitTries rounds of losing
// races, which takes a great many concurrent requests of one key.
//
// The whole Take runs under Options.Timeout. Errors are mapped as the
// Store's (throttling, timeouts, connection failures: EUNAVAILABLE).
type RateLimiter struct {
	client  *dynamodb.Client
	stage   string
	table   string
	timeout time.Duration
}

var _ ratelimit.Limiter = (*RateLimiter)(nil)

// maxRateLimitTries bounds how many times Take starts again after losing a
// race on the idle or clamp write.
const maxRateLimitTries = 5

// rateLimitTTL is how long after its TAT a key's item expires.
const rateLimitTTL = time.Hour

// NewRateLimiter returns a limiter on the rate-limits table of stage. It
// makes no call; the table is created by CreateTables. Of opts only Timeout
// is used (default 5s).
func NewRateLimiter(client *dynamodb.Client, stage string, opts *Options) (*RateLimiter, error) {
	if client == nil {
		return nil, errors.New("dynamodb: nil client")
	}
	if err := ValidateStage(stage); err != nil {
		return nil, err
	}
	timeout := 5 * time.Second
	if opts != nil && opts.Timeout > 0 {
		timeout = opts.Timeout
	}
	return &RateLimiter{client: client, stage: stage, table: RateLimitsTable(stage), timeout: timeout}, nil
}

// Take decides on one request of key under limit at now.
func (r *RateLimiter) Take(ctx context.Context, key string, limit int, now time.Time) (ratelimit.Decision, error) {
	if limit <= 0 {
		return ratelimit.Decision{}, fmt.Errorf("dynamodb: rate limit %d must be positive", limit)
	}
	if key == "" {
		return ratelimit.Decision{}, errors.New("dynamodb: rate limit key is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	t := ratelimit.Interval(limit)
	burst := t * time.Duration(limit)
	nowNs := now.UnixNano()
	maxTat := nowNs + int64(burst-t) // the greatest TAT at which a request is admitted
	for range maxRateLimitTries {
		// The busy (or new) key: one conditional update.
		old, ok, err := r.admit(ctx, key, nowNs, maxTat, int64(t), int64(burst))
		if err != nil {
			return ratelimit.Decision{}, err
		}
		if ok {
			d, _ := ratelimit.Decide(old, limit, now)
			return d, nil
		}
		oldNs := int64(math.MinInt64) // no state: a full bucket
		if !old.IsZero() {
			oldNs = old.UnixNano()
		}
		switch {
		case oldNs < nowNs: // idle: the bucket is full again
			won, err := r.write(ctx, key, nowNs+int64(t), "attribute_not_exists(#tat) OR #tat < :now", ":now", nsToMicros(nowNs))
			if err != nil {
				return ratelimit.Decision{}, err
			}
			if won {
				d, _ := ratelimit.Decide(old, limit, now)
				return d, nil
			}
		case oldNs > nowNs+int64(burst): // ahead by more than a window: clamp
			d, tat := ratelimit.Decide(old, limit, now)
			won, err := r.write(ctx, key, tat.UnixNano(), "#tat = :old", ":old", nsToMicros(oldNs))
			if err != nil {
				return ratelimit.Decision{}, err
			}
			if won {
				return d, nil
			}
		case oldNs > maxTat: // over the limit
			d, _ := ratelimit.Decide(old, limit, now)
			return d, nil
		default:
			// Admissible now: the key changed between the failed update
			// and the read. Start again.
		}
	}
	return ratelimit.Decision{}, fmt.Errorf("dynamodb: rate limit of key %q: still contended after %d tries", key, maxRateLimitTries)
}

// admit tries the busy-path update. It reports whether the request was
// admitted, and the TAT before the call: the old state when admitted, else
// the state that failed the condition (read with a consistent GetItem when
// the server does not return it with the failure).
func (r *RateLimiter) admit(ctx context.Context, key string, nowNs, maxTatNs, tNs, burstNs int64) (time.Time, bool, error) {
	out, err := r.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &r.table,
		Key:                 r.key(key),
		UpdateExpression:    aws.String("SET #tat = if_not_exists(#tat, :now) + :t, #ttl = :ttl"),
		ConditionExpression: aws.String("attribute_not_exists(#tat) OR #tat BETWEEN :now AND :max"),
		ExpressionAttributeNames: map[string]string{
			"#tat": "tat", "#ttl": "ttl",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": nsToMicros(nowNs),
			":t":   nsToMicros(tNs),
			":max": nsToMicros(maxTatNs),
			// The new TAT is at most now + burst.
			":ttl": ttlAfter(nowNs + burstNs),
		},
		ReturnValues:                        types.ReturnValueUpdatedOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		tat, err := tatOf(out.Attributes)
		return tat, true, err
	}
	failed, item := conditionFailed(err)
	if !failed {
		return time.Time{}, false, r.formatError("rate limit", err)
	}
	if item == nil { // dynalite: the failure carries no item
		got, err := r.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      &r.table,
			Key:            r.key(key),
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return time.Time{}, false, r.formatError("rate limit read", err)
		}
		item = got.Item
	}
	tat, err := tatOf(item)
	return tat, false, err
}

// write sets key's TAT to tatNs under condition (on #tat and the value
// name = v) and reports whether the condition held.
func (r *RateLimiter) write(ctx context.Context, key string, tatNs int64, condition, name string, v types.AttributeValue) (bool, error) {
	values := map[string]types.AttributeValue{
		":tat": nsToMicros(tatNs),
		":ttl": ttlAfter(tatNs),
		name:   v,
	}
	_, err := r.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &r.table,
		Key:                       r.key(key),
		UpdateExpression:          aws.String("SET #tat = :tat, #ttl = :ttl"),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  map[string]string{"#tat": "tat", "#ttl": "ttl"},
		ExpressionAttributeValues: values,
	})
	if err == nil {
		return true, nil
	}
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	return false, r.formatError("rate limit", err)
}

func (r *RateLimiter) key(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"api_key": str(key), "window_start": num(0)}
}

// formatError maps errors as the Store does (same contract, same messages).
func (r *RateLimiter) formatError(op string, err error) error {
	return (&Store{stage: r.stage}).formatError(op, r.table, err)
}

// tatOf reads the tat attribute of item: the zero time when absent (a key
// never seen, or expired).
func tatOf(item map[string]types.AttributeValue) (time.Time, error) {
	v, ok := item["tat"].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, nil
	}
	ns, err := microsToNs(v.Value)
	if err != nil {
		return time.Time{}, fmt.Errorf("dynamodb: rate limit state: tat %q: %w", v.Value, err)
	}
	return time.Unix(0, ns).UTC(), nil
}

// nsToMicros formats Unix nanoseconds as Unix microseconds, with a decimal
// part when they are not whole.
func nsToMicros(ns int64) *types.AttributeValueMemberN {
	sign := ""
	u := uint64(ns)
	if ns < 0 {
		sign, u = "-", uint64(-ns)
	}
	s := sign + strconv.FormatUint(u/1000, 10)
	if frac := u % 1000; frac != 0 {
		f := fmt.Sprintf("%03d", frac)
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		s += "." + f
	}
	return &types.AttributeValueMemberN{Value: s}
}

var thousand = big.NewRat(1000, 1)

// microsToNs parses a DynamoDB number of Unix microseconds (in any notation
// the server may use) as Unix nanoseconds.
func microsToNs(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n <= 1<<62/1000 && n >= -(1<<62/1000) {
		return n * 1000, nil
	}
	q, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, errors.New("not a number")
	}
	q.Mul(q, thousand)
	if !q.IsInt() || !q.Num().IsInt64() {
		return 0, errors.New("not a whole number of nanoseconds")
	}
	return q.Num().Int64(), nil
}

// ttlAfter is the ttl attribute for a TAT: Unix seconds rateLimitTTL later,
// rounded up.
func ttlAfter(tatNs int64) *types.AttributeValueMemberN {
	sec := (tatNs + int64(time.Second) - 1) / int64(time.Second)
	return num(sec + int64(rateLimitTTL/time.Second))
}
