package triggers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of an event (DESIGN §1.3).
const (
	MaxEventBytes          = 400 << 10 // a create body above this is PAYLOAD_TOO_LARGE
	MaxSourceLen           = 100       // runes, after trimming
	MaxEventTypeLen        = 100       // runes, after trimming
	MaxIdempotencyKeyLen   = 255
	MaxCorrelationIDLen    = 255
	IdempotencyWindow      = 24 * time.Hour
	DefaultRetention       = 7 * 24 * time.Hour
	defaultMetadataPrepend = `"priority":"normal"`
)

// Priority of an event; an event created without one is PriorityNormal.
type Priority string

// The priorities an event may have.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// Valid reports whether p is one of the three priorities.
func (p Priority) Valid() bool {
	return p == PriorityLow || p == PriorityNormal || p == PriorityHigh
}

// Status of an event: pending until acknowledged, or dead once a receive
// found it had used up its attempts (DESIGN §10.1).
type Status string

// The statuses an event may have.
const (
	StatusPending      Status = "pending"
	StatusAcknowledged Status = "acknowledged"
	StatusDead         Status = "dead"
)

// Event is one stored event of one tenant.
type Event struct {
	ID        string // a lowercase UUID (version 7, so ids sort roughly by time)
	Tenant    string
	Source    string
	EventType string
	// Payload is the client's JSON object, compacted, numbers and strings as sent.
	Payload json.RawMessage
	// Metadata is the client's metadata object, compacted; it always holds
	// "priority" (added as "normal" when the client gave none).
	Metadata  json.RawMessage
	Priority  Priority
	CreatedAt time.Time // UTC, microsecond precision
	// AcknowledgedAt is zero while the event is pending or dead.
	AcknowledgedAt time.Time

	// Attempts is how many leases the event was given (DESIGN §10.1); 0 for
	// an event never received, and again after a redrive.
	Attempts int
	// LeaseID and LeaseExpiresAt are the event's latest lease, zero when it
	// has none (never leased, or the lease ended by a nack, an ack, a redrive
	// or dead-lettering). The lease is held while LeaseExpiresAt is after
	// now; an expired lease stays recorded until the next receive replaces
	// it, so that an ack naming it still succeeds. Service shows LeaseID only
	// to the receive that granted it, and LeaseExpiresAt only while held.
	LeaseID        string
	LeaseExpiresAt time.Time
	// AvailableAt is the earliest instant a nacked event may be leased again
	// (its nack delay); zero when it has none.
	AvailableAt time.Time
	// DeadAt is when a receive dead-lettered the event; zero unless dead.
	DeadAt time.Time
}

// Status reports whether e is pending, acknowledged or dead.
func (e *Event) Status() Status {
	switch {
	case !e.AcknowledgedAt.IsZero():
		return StatusAcknowledged
	case !e.DeadAt.IsZero():
		return StatusDead
	}
	return StatusPending
}

// Available reports whether an event may be leased at now: it is
// not dead or acknowledged, holds no unexpired lease and no nack delay
// ends after now (DESIGN §10.1).
func (e *Event) Available(now time.Time) bool {
	return e.Status() == StatusPending && !e.LeaseExpiresAt.After(now) && !e.AvailableAt.After(now)
}

// Leased reports whether e holds an unexpired lease at now.
func (e *Event) Leased(now time.Time) bool {
	return e.Status() == StatusPending && e.LeaseExpiresAt.After(now)
}

// NewEvent is a validated create request: what ParseNewEvent returns and
// Service.CreateEvents stores.
type NewEvent struct {
	Source         string
	EventType      string
	Payload        json.RawMessage // compact, non-empty object
	Metadata       json.RawMessage // compact object holding priority
	Priority       Priority
	IdempotencyKey string // "" when the client sent none
	// RequestHash identifies the request's content, so that a reused
	// idempotency key with a different request can be told apart from a replay.
	// It is computed only for a request with an IdempotencyKey ("" otherwise),
	// since nothing else uses it and it costs a full re-encoding of the JSON.
	RequestHash string
}

// ParseNewEvent validates one create request body and returns the event to
// store. It serves single and bulk create alike: prefix is prepended to field
// names in errors ("" for a single create, "items[3]." in a bulk request).
// headerKey is the Idempotency-Key header as IdempotencyKeyHeader returns
// it, "" if absent or empty. Otherwise it must be valid UTF-8 of at most
// MaxIdempotencyKeyLen characters without control or format characters
// (as a source must), and a header and a metadata.idempotency_key that
// disagree are refused.
//
// Errors are EINVALID with details naming every invalid field.
func ParseNewEvent(body []byte, headerKey, prefix string) (NewEvent, error) {
	if !utf8.Valid(body) {
		return NewEvent{}, InvalidFields(FieldError{Field: bodyField(prefix), Message: "is not valid UTF-8"})
	}
	top, err := decodeObject(body)
	if err != nil {
		return NewEvent{}, InvalidFields(FieldError{Field: bodyField(prefix), Message: err.Error()})
	}

	var ne NewEvent
	var bad []FieldError
	fail := func(field, msg string) { bad = append(bad, FieldError{Field: prefix + field, Message: msg}) }

	for _, name := range sortedKeys(top) {
		switch name {
		case "source", "event_type", "payload", "metadata":
		default:
			fail(name, "unknown field")
		}
	}
	ne.Source, err = parseName(top["source"], MaxSourceLen)
	if err != nil {
		fail("source", err.Error())
	}
	ne.EventType, err = parseName(top["event_type"], MaxEventTypeLen)
	if err != nil {
		fail("event_type", err.Error())
	}

	if raw, ok := top["payload"]; !ok || isNull(raw) {
		fail("payload", "is required: a non-empty JSON object")
	} else if v, fe := checkJSON(raw, prefix+"payload"); fe != nil {
		bad = append(bad, *fe)
	} else if v.Kind != '{' {
		fail("payload", "must be a non-empty JSON object: it must be a JSON object, not "+kindName(v.Kind))
	} else if v.Members == 0 {
		fail("payload", "must be a non-empty JSON object")
	} else {
		ne.Payload = v.Compact
	}

	ne.Priority = PriorityNormal
	ne.Metadata = json.RawMessage("{" + defaultMetadataPrepend + "}")
	if raw, ok := top["metadata"]; ok && !isNull(raw) {
		v, fe := checkJSON(raw, prefix+"metadata")
		switch {
		case fe != nil:
			bad = append(bad, *fe)
		case v.Kind != '{':
			fail("metadata", "must be a JSON object: it must be a JSON object, not "+kindName(v.Kind))
		case v.Members > MaxMetadataFields+1: // the +1 a priority may take
			fail("metadata", tooManyMetadataFields(v.Members))
		default:
			ne.Metadata, ne.Priority, ne.IdempotencyKey = parseMetadata(v.Compact, prefix, &bad)
		}
	}

	if headerKey != "" {
		switch msg := checkIdempotencyKeyHeader(headerKey); {
		case msg != "":
			bad = append(bad, FieldError{Field: "Idempotency-Key", Message: msg})
		case ne.IdempotencyKey != "" && ne.IdempotencyKey != headerKey:
			bad = append(bad, FieldError{Field: "Idempotency-Key", Message: "differs from metadata.idempotency_key; send one or make them equal"})
		default:
			ne.IdempotencyKey = headerKey
		}
	}
	if len(bad) > 0 {
		return NewEvent{}, InvalidFields(bad...)
	}
	if ne.IdempotencyKey != "" {
		ne.RequestHash = requestHash(ne)
	}
	return ne, nil
}

// IdempotencyKeyHeader returns the Idempotency-Key header of a create from
// the values of its field lines (net/http's Header.Values): "" when there
// are none, or one that is empty (API.md has always said an empty header
// counts as absent). The header given more than once is EINVALID naming
// it: of two keys it is not clear which one counts, and the second was
// silently ignored. ParseNewEvent checks the key itself.
func IdempotencyKeyHeader(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		return values[0], nil
	}
	return "", InvalidFields(FieldError{Field: "Idempotency-Key", Message: fmt.Sprintf("is given %d times; send it once", len(values))})
}

// checkIdempotencyKeyHeader says what is wrong with an Idempotency-Key
// header's value, "" if nothing: it must be valid UTF-8 of 1 to
// MaxIdempotencyKeyLen characters (metadata.idempotency_key's bound) with
// no control or format characters: checkName's rule for sources and event
// types, since such characters change how a key prints or make two keys
// look alike.
func checkIdempotencyKeyHeader(key string) string {
	if !utf8.ValidString(key) {
		return "is not valid UTF-8"
	}
	if err := checkName(key, MaxIdempotencyKeyLen); err != nil {
		return err.Error()
	}
	return ""
}

// parseMetadata validates the known fields of md, a compact metadata object
// checkJSON accepted, and returns the metadata to store (with a priority),
// the priority and the idempotency key.
func parseMetadata(md json.RawMessage, prefix string, bad *[]FieldError) (json.RawMessage, Priority, string) {
	fail := func(field, msg string) {
		*bad = append(*bad, FieldError{Field: prefix + "metadata." + field, Message: msg})
	}
	members, err := decodeObject(md)
	if err != nil { // cannot happen: checkJSON accepted md as an object
		*bad = append(*bad, FieldError{Field: prefix + "metadata", Message: "must be a JSON object: it " + err.Error()})
		return nil, "", ""
	}
	if n := len(members); n > MaxMetadataFields {
		if _, ok := members["priority"]; !ok || n > MaxMetadataFields+1 {
			*bad = append(*bad, FieldError{Field: prefix + "metadata", Message: tooManyMetadataFields(n)})
		}
	}
	priority := PriorityNormal
	if v, ok := members["priority"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || !Priority(s).Valid() {
			fail("priority", `must be one of "low", "normal", "high"`)
		} else {
			priority = Priority(s)
		}
	}
	if v, ok := members["correlation_id"]; ok {
		var s string
		if isNull(v) || json.Unmarshal(v, &s) != nil || utf8.RuneCountInString(s) > MaxCorrelationIDLen {
			fail("correlation_id", fmt.Sprintf("must be a string of at most %d characters", MaxCorrelationIDLen))
		}
	}
	var idemKey string
	if v, ok := members["idempotency_key"]; ok {
		if isNull(v) || json.Unmarshal(v, &idemKey) != nil || idemKey == "" || utf8.RuneCountInString(idemKey) > MaxIdempotencyKeyLen {
			fail("idempotency_key", fmt.Sprintf("must be a string of 1 to %d characters", MaxIdempotencyKeyLen))
			idemKey = ""
		}
	}
	out := md
	if _, ok := members["priority"]; !ok {
		if len(members) == 0 {
			out = json.RawMessage("{" + defaultMetadataPrepend + "}")
		} else {
			out = append(json.RawMessage("{"+defaultMetadataPrepend+","), out[1:]...)
		}
	}
	return out, priority, idemKey
}

func tooManyMetadataFields(n int) string {
	return fmt.Sprintf("has %d members; at most %d are allowed besides priority (put other data in payload)", n, MaxMetadataFields)
}

func bodyField(prefix string) string {
	if prefix == "" {
		return "body"
	}
	return strings.TrimSuffix(prefix, ".")
}

// parseName reads a required string field, trims it and checks it with
// checkName.
func parseName(raw json.RawMessage, maxLen int) (string, error) {
	if raw == nil || isNull(raw) {
		return "", errors.New("is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("must be a string")
	}
	if bytes.Contains(raw, []byte(`\u`)) { // an escape may be a lone surrogate, which Unmarshal turned into U+FFFD
		if _, fe := checkJSON(raw, ""); fe != nil {
			return "", errors.New(fe.Message)
		}
	}
	s = strings.TrimSpace(s)
	return s, checkName(s, maxLen)
}

// checkName checks a trimmed source or event type, as given to a create or
// to a filter: not blank, at most maxLen characters, and without control
// characters (Unicode category Cc: NUL, newlines, ESC...), format characters
// (Cf: bidi overrides and isolates, zero-width characters, the byte order
// mark, soft hyphens...) or line and paragraph separators (Zl, Zp). Those
// change how a name prints in logs, terminals and the dashboard, or make
// two names look alike that are not.
func checkName(s string, maxLen int) error {
	if s == "" {
		return errors.New("must not be blank")
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return fmt.Errorf("must be at most %d characters (got %d)", maxLen, n)
	}
	n := 0
	for _, r := range s {
		n++
		if r >= 0x20 && r < 0x7f { // printable ASCII, most names
			continue
		}
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("must not contain control or format characters (found %U at character %d)", r, n)
		}
	}
	return nil
}

// decodeObject decodes exactly one JSON object into its members, refusing
// trailing data and duplicate member names (which JSON parsers resolve
// differently, so a duplicate would mean different things to different
// readers of the stored event).
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if obj, ok := splitObject(data); ok {
		return obj, nil
	}
	return decodeObjectSlow(data)
}

// decodeObjectSlow is decodeObject with encoding/json's decoder: it gives
// every error its message. decodeObject goes through it only when the fast
// path (splitObject) declines.
func decodeObjectSlow(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, describeJSONError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if tok == nil {
			return nil, errors.New("must be a JSON object, not null")
		}
		return nil, fmt.Errorf("must be a JSON object, not %s", jsonTypeOf(tok))
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, describeJSONError(err)
		}
		name, _ := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, describeJSONError(err)
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("has the member %q twice", name)
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("has data after the JSON object")
	}
	return obj, nil
}

// kindName names the kind of a strictJSON value, as jsonTypeOf does.
func kindName(kind byte) string {
	switch kind {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func jsonTypeOf(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// DecodeStrict decodes data, a request body that must be one JSON object,
// into v (a pointer to a struct) as encoding/json does, but stricter: the
// body must be valid UTF-8, hold nothing after the object, and name only
// v's fields, each once and spelled exactly as its json tag says
// (encoding/json would let the last of two members of one name win, and
// take "ITEMS", or "itemſ" with a long s, for "items"). The members' values
// are checked only as far as v's field types go: a bulk envelope's items
// are each parsed on their own, so that an invalid item fails alone.
//
// Errors are EINVALID naming the field "body".
func DecodeStrict(data []byte, v any) error {
	invalid := func(msg string) error { return InvalidFields(FieldError{Field: "body", Message: msg}) }
	if !utf8.Valid(data) {
		return invalid("is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid(describeJSONError(err).Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("has data after the JSON object")
	}
	if msg := checkMemberNames(data, jsonFieldNames(v)); msg != "" {
		return invalid(msg)
	}
	return nil
}

// jsonFieldNames returns the member names encoding/json gives the fields of
// the struct v points to; nil if v is not a pointer to a struct.
func jsonFieldNames(v any) []string {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names := []string{}
	for f := range t.Elem().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}

// describeJSONError turns an encoding/json error into a message for clients.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("is empty or truncated JSON")
	case errors.As(err, &syn):
		return fmt.Errorf("is malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Errorf("must be a JSON object, not %s", typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("has unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return fmt.Errorf("is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// requestHash identifies what a create asks for, so that a retry can be told
// from a different request under the same idempotency key. It covers the
// trimmed source and event type and the payload and metadata as JSON values:
// member order and whitespace do not count, the idempotency key itself does
// not (it may come in a header or in metadata), and a priority left out
// counts as "normal".
func requestHash(ne NewEvent) string {
	h := sha256.New()
	md := map[string]json.RawMessage{}
	json.Unmarshal(ne.Metadata, &md) // validated: an object
	delete(md, "idempotency_key")
	for _, part := range [][]byte{[]byte(ne.Source), []byte(ne.EventType), canonicalJSON(ne.Payload), canonicalJSON(mustMarshal(md))} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON re-encodes a JSON value with object members sorted by name
// and numbers kept digit for digit.
func canonicalJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	return mustMarshal(v)
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("triggers: marshal of decoded JSON failed: " + err.Error())
	}
	return b
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}
