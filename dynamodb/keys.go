package dynamodb

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	triggers "github.com/triggersapi/triggers"
)

var errKeyNotFound = triggers.Errorf(triggers.ENOTFOUND, "key not found")

// Item kinds in the keys table.
const (
	kindKey   = "key" // a key record, hash = the key's hash
	kindClaim = "id"  // a key id claim, hash = "id#" + key id
)

func claimHash(id string) string { return "id#" + id }

func keyItem(k triggers.APIKey, version int64) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"hash":       str(k.Hash),
		"kind":       str(kindKey),
		"key_id":     str(k.ID),
		"tenant":     str(k.Tenant),
		"created_at": num(micros(k.CreatedAt)),
		"active":     &types.AttributeValueMemberBOOL{Value: k.Active},
		"version":    num(version),
	}
	if k.Name != "" {
		item["name"] = str(k.Name)
	}
	if k.RateLimit > 0 {
		item["rate_limit"] = num(int64(k.RateLimit))
	}
	if len(k.AllowedIPs) > 0 {
		l := make([]types.AttributeValue, len(k.AllowedIPs))
		for i, p := range k.AllowedIPs {
			l[i] = str(p.String())
		}
		item["allowed_ips"] = &types.AttributeValueMemberL{Value: l}
	}
	if !k.ExpiresAt.IsZero() {
		item["expires_at"] = num(micros(k.ExpiresAt))
	}
	return item
}

func keyFromItem(item map[string]types.AttributeValue) (triggers.APIKey, int64, error) {
	k := triggers.APIKey{
		ID: getS(item, "key_id"), Hash: getS(item, "hash"), Tenant: getS(item, "tenant"),
		Name: getS(item, "name"), Active: getBool(item, "active"),
	}
	created, _ := getN(item, "created_at")
	k.CreatedAt = fromMicros(created)
	if n, ok := getN(item, "rate_limit"); ok {
		k.RateLimit = int(n)
	}
	if us, ok := getN(item, "expires_at"); ok {
		k.ExpiresAt = fromMicros(us)
	}
	if l, ok := item["allowed_ips"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			sv, _ := v.(*types.AttributeValueMemberS)
			if sv == nil {
				return triggers.APIKey{}, 0, fmt.Errorf("dynamodb: key %s has a non-string allowed_ips entry", k.ID)
			}
			p, err := netip.ParsePrefix(sv.Value)
			if err != nil {
				return triggers.APIKey{}, 0, fmt.Errorf("dynamodb: key %s has a bad allowed_ips entry %q: %w", k.ID, sv.Value, err)
			}
			k.AllowedIPs = append(k.AllowedIPs, p)
		}
	}
	version, _ := getN(item, "version")
	return k, version, nil
}

// CreateKey claims the key id, then puts the record; each put is conditional
// on its item being new.
func (s *Store) CreateKey(ctx context.Context, k triggers.APIKey) error {
	if k.Hash == "" || strings.HasPrefix(k.Hash, "id#") {
		return fmt.Errorf("dynamodb: key %s has an invalid hash", k.ID)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	conflict := triggers.Errorf(triggers.ECONFLICT, "a key with this id or value already exists")
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.keys,
		Item: map[string]types.AttributeValue{
			"hash": str(claimHash(k.ID)), "kind": str(kindClaim), "key_hash": str(k.Hash),
		},
		ConditionExpression:      aws.String("attribute_not_exists(#h)"),
		ExpressionAttributeNames: map[string]string{"#h": "hash"},
	})
	if failed, _ := conditionFailed(err); failed {
		return conflict
	}
	if err != nil {
		return s.formatError("create key", s.keys, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.keys,
		Item:                     keyItem(k, 1),
		ConditionExpression:      aws.String("attribute_not_exists(#h)"),
		ExpressionAttributeNames: map[string]string{"#h": "hash"},
	})
	if err == nil {
		return nil
	}
	// Give the id back.
	uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer ucancel()
	s.client.DeleteItem(uctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.keys,
		Key:                       map[string]types.AttributeValue{"hash": str(claimHash(k.ID))},
		ConditionExpression:       aws.String("key_hash = :h"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(k.Hash)},
	})
	if failed, _ := conditionFailed(err); failed {
		return conflict
	}
	return s.formatError("create key", s.keys, err)
}

// KeyByHash reads the key record with a consistent read.
func (s *Store) KeyByHash(ctx context.Context, hash string) (triggers.APIKey, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k, _, err := s.keyByHash(ctx, hash)
	return k, err
}

func (s *Store) keyByHash(ctx context.Context, hash string) (triggers.APIKey, int64, error) {
	if hash == "" {
		return triggers.APIKey{}, 0, errKeyNotFound
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.keys,
		Key:            map[string]types.AttributeValue{"hash": str(hash)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return triggers.APIKey{}, 0, s.formatError("get key", s.keys, err)
	}
	if out.Item == nil || getS(out.Item, "kind") != kindKey {
		return triggers.APIKey{}, 0, errKeyNotFound
	}
	return keyFromItem(out.Item)
}

// ListKeys scans the keys table.
func (s *Store) ListKeys(ctx context.Context) ([]triggers.APIKey, error) {
	in := &dynamodb.ScanInput{
		TableName:                 &s.keys,
		FilterExpression:          aws.String("#k = :k"),
		ExpressionAttributeNames:  map[string]string{"#k": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": str(kindKey)},
		ConsistentRead:            aws.Bool(true),
	}
	var keys []triggers.APIKey
	for {
		cctx, cancel := s.ctx(ctx)
		out, err := s.client.Scan(cctx, in)
		cancel()
		if err != nil {
			return nil, s.formatError("list keys", s.keys, err)
		}
		for _, item := range out.Items {
			k, _, err := keyFromItem(item)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	slices.SortFunc(keys, func(a, b triggers.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys, nil
}

// maxUpdateAttempts bounds UpdateKey's read-modify-write retries.
const maxUpdateAttempts = 5

// UpdateKey reads the key, applies fn and writes it back conditional on its
// version, retrying when another writer got there first. fn cannot change
// the key's ID or Hash (the record's identity).
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(*triggers.APIKey) error) (triggers.APIKey, error) {
	for attempt := 0; ; attempt++ {
		k, retry, err := s.updateKeyOnce(ctx, id, fn)
		if !retry {
			return k, err
		}
		if attempt+1 >= maxUpdateAttempts {
			return triggers.APIKey{}, triggers.Unavailable(fmt.Errorf("dynamodb: key %s: too many concurrent updates", id))
		}
		select {
		case <-ctx.Done():
			return triggers.APIKey{}, triggers.Unavailable(ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

func (s *Store) updateKeyOnce(ctx context.Context, id string, fn func(*triggers.APIKey) error) (k triggers.APIKey, retry bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.keys,
		Key:            map[string]types.AttributeValue{"hash": str(claimHash(id))},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return triggers.APIKey{}, false, s.formatError("update key", s.keys, err)
	}
	hash := getS(out.Item, "key_hash")
	k, version, err := s.keyByHash(ctx, hash)
	if err != nil {
		return triggers.APIKey{}, false, err
	}
	if err := fn(&k); err != nil {
		return triggers.APIKey{}, false, err
	}
	k.ID, k.Hash = id, hash
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.keys,
		Item:                      keyItem(k, version+1),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(version)},
	})
	if failed, _ := conditionFailed(err); failed {
		return triggers.APIKey{}, true, nil
	}
	if err != nil {
		return triggers.APIKey{}, false, s.formatError("update key", s.keys, err)
	}
	return k, false, nil
}
