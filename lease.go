package triggers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits of receives and leases (DESIGN §10.2, §10.3).
const (
	DefaultReceiveMax   = 10
	MaxReceiveMax       = 25
	DefaultLeaseSeconds = 30
	MaxLeaseSeconds     = 43200
	MaxWaitSeconds      = 20
	DefaultMaxAttempts  = 10
	MaxMaxAttempts      = 1000
	MaxNackDelaySeconds = 43200
)

// ReceiveRequest is a validated POST /v1/inbox/receive body.
type ReceiveRequest struct {
	MaxEvents   int
	Lease       time.Duration
	Wait        time.Duration
	MaxAttempts int
	Filter      InboxFilter
}

// ParseReceiveRequest validates a receive body. Every field is optional and
// an empty body means {}. Errors are EINVALID naming every invalid field.
func ParseReceiveRequest(body []byte) (ReceiveRequest, error) {
	req := ReceiveRequest{MaxEvents: DefaultReceiveMax, Lease: DefaultLeaseSeconds * time.Second,
		MaxAttempts: DefaultMaxAttempts}
	top, err := decodeBody(body, true)
	if err != nil {
		return ReceiveRequest{}, err
	}
	var bad []FieldError
	fail := func(field, msg string) { bad = append(bad, FieldError{Field: field, Message: msg}) }
	filters := url.Values{}
	for _, name := range sortedKeys(top) {
		raw := top[name]
		if isNull(raw) {
			continue // null is the same as absent
		}
		switch name {
		case "max_events":
			req.MaxEvents = intField(raw, name, 1, MaxReceiveMax, fail)
		case "lease_seconds":
			req.Lease = time.Duration(intField(raw, name, 1, MaxLeaseSeconds, fail)) * time.Second
		case "wait_seconds":
			req.Wait = time.Duration(intField(raw, name, 0, MaxWaitSeconds, fail)) * time.Second
		case "max_attempts":
			req.MaxAttempts = intField(raw, name, 1, MaxMaxAttempts, fail)
		case "source", "event_type", "priority", "created_after", "created_before":
			var v string
			if json.Unmarshal(raw, &v) != nil {
				fail(name, "must be a string")
				continue
			}
			filters.Set(name, v)
		case "metadata":
			md, err := decodeObject(raw)
			if err != nil {
				fail(name, "must be an object of metadata key to string value: it "+err.Error())
				continue
			}
			for _, k := range sortedKeys(md) {
				var v string
				if isNull(md[k]) || json.Unmarshal(md[k], &v) != nil {
					fail("metadata."+k, "must be a string")
					continue
				}
				filters.Set("metadata."+k, v)
			}
		default:
			fail(name, "unknown field; known: max_events, lease_seconds, wait_seconds, max_attempts, source, event_type, priority, created_after, created_before, metadata")
		}
	}
	// The filters mean what the inbox's query parameters of the same names
	// mean, so they are checked by the same code.
	p := inboxQuery{q: filters}
	p.metadataFilters(&req.Filter)
	p.textFilters(&req.Filter)
	p.timeRange(&req.Filter)
	p.priority(&req.Filter)
	bad = append(bad, p.bad...)
	if len(bad) > 0 {
		return ReceiveRequest{}, InvalidFields(bad...)
	}
	return req, nil
}

// LeaseRequest is a validated body of a nack or a lease extension of one
// event (DESIGN §10.3).
type LeaseRequest struct {
	LeaseID string
	// Seconds is the nack's delay_seconds, or the extension's lease_seconds.
	Seconds int
}

// ParseNackRequest validates a POST /v1/events/{id}/nack body:
// {"lease_id", "delay_seconds": 0-43200 (default 0)}.
func ParseNackRequest(body []byte) (LeaseRequest, error) {
	return parseLeaseRequest(body, "delay_seconds", 0, MaxNackDelaySeconds, 0)
}

// ParseExtendRequest validates a POST /v1/events/{id}/lease body:
// {"lease_id", "lease_seconds": 1-43200 (default 30, as a receive's)}.
func ParseExtendRequest(body []byte) (LeaseRequest, error) {
	return parseLeaseRequest(body, "lease_seconds", 1, MaxLeaseSeconds, DefaultLeaseSeconds)
}

func parseLeaseRequest(body []byte, secondsField string, lo, hi, def int) (LeaseRequest, error) {
	top, err := decodeBody(body, false)
	if err != nil {
		return LeaseRequest{}, err
	}
	var bad []FieldError
	fail := func(field, msg string) { bad = append(bad, FieldError{Field: field, Message: msg}) }
	req := LeaseRequest{Seconds: def}
	for _, name := range sortedKeys(top) {
		switch name {
		case "lease_id":
		case secondsField:
			if !isNull(top[name]) {
				req.Seconds = intField(top[name], name, lo, hi, fail)
			}
		default:
			fail(name, "unknown field; known: lease_id, "+secondsField)
		}
	}
	req.LeaseID = leaseIDField(top["lease_id"], "lease_id", true, fail)
	if len(bad) > 0 {
		return LeaseRequest{}, InvalidFields(bad...)
	}
	return req, nil
}

// ParseAckRequest validates the optional body of POST /v1/events/{id}/ack:
// empty, {} or {"lease_id"}. It returns the lease id, "" for none.
func ParseAckRequest(body []byte) (string, error) {
	top, err := decodeBody(body, true)
	if err != nil {
		return "", err
	}
	var bad []FieldError
	fail := func(field, msg string) { bad = append(bad, FieldError{Field: field, Message: msg}) }
	for _, name := range sortedKeys(top) {
		if name != "lease_id" {
			fail(name, "unknown field; known: lease_id")
		}
	}
	id := leaseIDField(top["lease_id"], "lease_id", false, fail)
	if len(bad) > 0 {
		return "", InvalidFields(bad...)
	}
	return id, nil
}

// decodeBody decodes a small request body that must be a JSON object; an
// empty body is {} when emptyOK, else the object is required. The body must
// be valid UTF-8 and follow checkJSON's rules, as a create's payload does.
func decodeBody(body []byte, emptyOK bool) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return map[string]json.RawMessage{}, nil
		}
		return nil, InvalidFields(FieldError{Field: "body", Message: "is required: a JSON object"})
	}
	if !utf8.Valid(body) {
		return nil, InvalidFields(FieldError{Field: "body", Message: "is not valid UTF-8"})
	}
	top, err := decodeObject(body)
	if err != nil {
		return nil, InvalidFields(FieldError{Field: "body", Message: err.Error()})
	}
	if _, fe := checkJSON(body, ""); fe != nil {
		return nil, InvalidFields(*fe)
	}
	return top, nil
}

// intField reads a JSON integer from lo to hi; anything else fails field.
func intField(raw json.RawMessage, field string, lo, hi int, fail func(field, msg string)) int {
	n, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
	if err != nil || n < lo || n > hi {
		fail(field, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return lo
	}
	return n
}

// leaseIDLen is the length of a lease id: 128 random bits in hex.
const leaseIDLen = 32

// NewLeaseID returns a fresh, unguessable lease id.
func NewLeaseID() string {
	var b [leaseIDLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// ValidLeaseID reports whether s has the form of a lease id (NewLeaseID).
func ValidLeaseID(s string) bool {
	if len(s) != leaseIDLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// leaseIDField reads a lease id from raw (nil when absent), failing field
// when it is malformed, or absent and required.
func leaseIDField(raw json.RawMessage, field string, required bool, fail func(field, msg string)) string {
	if raw == nil || isNull(raw) {
		if required {
			fail(field, "is required: the lease_id a receive returned")
		}
		return ""
	}
	var id string
	if json.Unmarshal(raw, &id) != nil || !ValidLeaseID(id) {
		fail(field, "must be a lease_id as a receive returned it (32 lowercase hex digits)")
		return ""
	}
	return id
}
