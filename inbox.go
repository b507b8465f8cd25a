package triggers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Inbox page sizes (DESIGN §4).
const (
	DefaultInboxLimit = 50
	MaxInboxLimit     = 100
)

// MaxPageBytes is the default bound on the event bytes (EventBytes) of one
// inbox page or one receive's answer, so that the memory of one response is
// bounded whatever its limit: 100 events of 400 KB would otherwise be a
// 40 MB page. A page stops early at the bound and carries a cursor (DESIGN
// §4: a short page has one); a receive leases only the events it returns.
// 4 MiB keeps a whole answer well under the 6 MB that AWS Lambda can return.
const MaxPageBytes = 4 << 20

// EventBytes is what an event weighs against a page's byte bound: the bytes
// of its payload and metadata as stored, the bulk of its wire form.
func EventBytes(e *Event) int { return len(e.Payload) + len(e.Metadata) }

// ByteBudget applies a byte bound (InboxQuery.MaxBytes,
// ReceiveQuery.MaxBytes) while a page is filled, oldest event first. Take
// reports whether the next event, of n bytes (EventBytes), still fits and
// counts it when it does. The first event always fits, so that an event
// larger than the bound comes alone: a page holds at least one event. With
// Max 0 every event fits. The zero value is a budget without bound.
type ByteBudget struct {
	Max  int // the bound; 0 for none
	used int
	n    int // events taken
}

// Take counts an event of n bytes if it fits, and reports whether it did.
func (b *ByteBudget) Take(n int) bool {
	if b.Max > 0 && b.n > 0 && b.used+n > b.Max {
		return false
	}
	b.used += n
	b.n++
	return true
}

// InboxFilter selects events of one tenant. Its zero value matches every
// pending event. All set fields must match (AND).
type InboxFilter struct {
	// Status is StatusDead to select dead events instead of pending ones
	// ("" and StatusPending select pending events, leased or not).
	Status    Status
	Source    string // exact match, "" = any
	EventType string // exact match, "" = any
	// CreatedAfter and CreatedBefore are exclusive bounds; zero = unbounded.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Priority      Priority // "" = any
	// Metadata are exact matches on metadata fields, all of which must hold.
	Metadata []MetadataMatch
}

// MetadataMatch is one metadata.{key}={value} condition.
type MetadataMatch struct {
	Key   string
	Value string
}

// Hash is a short digest of the filter, carried in cursors so that a cursor
// used with other filters is recognised and refused.
func (f InboxFilter) Hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "s=%q;t=%q;a=%d;b=%d;p=%q", f.Source, f.EventType, UnixMicros(f.CreatedAfter), UnixMicros(f.CreatedBefore), f.Priority)
	if f.Status == StatusDead { // pending adds nothing, so older cursors stay valid
		fmt.Fprintf(h, ";st=%q", f.Status)
	}
	md := slices.Clone(f.Metadata)
	slices.SortFunc(md, func(a, b MetadataMatch) int {
		return strings.Compare(a.Key+"\x00"+a.Value, b.Key+"\x00"+b.Value)
	})
	for _, m := range md {
		fmt.Fprintf(h, ";m%q=%q", m.Key, m.Value)
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// Kinds lists which kinds of filter are set (for logs and metrics; never values).
func (f InboxFilter) Kinds() []string {
	var k []string
	if f.Source != "" {
		k = append(k, "source")
	}
	if f.EventType != "" {
		k = append(k, "event_type")
	}
	if !f.CreatedAfter.IsZero() {
		k = append(k, "created_after")
	}
	if !f.CreatedBefore.IsZero() {
		k = append(k, "created_before")
	}
	if f.Priority != "" {
		k = append(k, "priority")
	}
	if len(f.Metadata) > 0 {
		k = append(k, "metadata")
	}
	return k
}

// UnixMicros returns t in Unix microseconds, the form in which stores keep
// instants and cursors carry them; the zero time (no instant) is 0, which
// sorts before every instant an event can have. It is the one conversion
// for every store, so that a bound, a stored value and a filter hash agree.
func UnixMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromUnixMicros is the inverse of UnixMicros for instants: us Unix
// microseconds, in UTC.
func FromUnixMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Position is a place in a tenant's inbox order (created_at, then id).
type Position struct {
	CreatedAt time.Time
	ID        string
}

// InboxQuery is what the service asks a store for: up to Limit pending events
// of Tenant matching Filter, strictly after After (if set), oldest first.
type InboxQuery struct {
	Tenant string
	Filter InboxFilter
	After  *Position
	// NotBefore hides expired events: only events created after it are visible.
	NotBefore time.Time
	Limit     int
	// MaxScan bounds how many pending events a store may examine for one page
	// when some filter is not served by an index. A store that reaches it
	// returns a short page whose Next is the last position examined.
	MaxScan int
	// MaxBytes bounds the page's event bytes (see ByteBudget): a store ends
	// the page before the first event that does not fit, and Next is then
	// the last event of the page. 0 means no bound.
	MaxBytes int
}

// Page is one page of an inbox.
type Page struct {
	Events []Event
	// Next is where the next page starts, or nil when nothing more matches.
	Next *Position
}

// Cursor is the decoded form of an inbox next_cursor: a position and the hash
// of the filters it was issued for.
type Cursor struct {
	Position
	FilterHash string
}

const cursorVersion = "c1"

// Encode returns the opaque text form of c.
func (c Cursor) Encode() string {
	s := fmt.Sprintf("%s|%d|%s|%s", cursorVersion, c.CreatedAt.UnixMicro(), c.ID, c.FilterHash)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// ParseCursor decodes a cursor made by Cursor.Encode. It returns an EINVALID
// error naming the cursor parameter for anything else.
func ParseCursor(s string) (Cursor, error) {
	bad := InvalidFields(FieldError{Field: "cursor", Message: "is not a cursor returned by this API"})
	if len(s) == 0 || len(s) > 200 {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 || parts[0] != cursorVersion {
		return Cursor{}, bad
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || us <= 0 || us > maxMicros {
		return Cursor{}, bad
	}
	if !isUUID(parts[2]) || strings.ToLower(parts[2]) != parts[2] {
		return Cursor{}, bad
	}
	if len(parts[3]) != 12 {
		return Cursor{}, bad
	}
	if _, err := hex.DecodeString(parts[3]); err != nil {
		return Cursor{}, bad
	}
	return Cursor{Position: Position{CreatedAt: time.UnixMicro(us).UTC(), ID: parts[2]}, FilterHash: parts[3]}, nil
}

// maxMicros is 9999-12-31T23:59:59Z in Unix microseconds: later instants
// cannot be written as RFC 3339 and are never created.
const maxMicros = 253402300799_000000

// addMetadata adds the condition metadata.key = value given by parameter
// name. A condition on "priority" becomes the priority filter: every stored
// event has a valid priority in its metadata, and the priority filter is
// the one the stores index.
func addMetadata(f *InboxFilter, name, key, value string, fail func(field, msg string)) {
	field := name
	if name == "metadata_key" {
		field = "metadata_value"
	}
	switch {
	case !ValidMetadataKey(key):
		if name == "metadata_key" {
			field = name
		}
		fail(field, fmt.Sprintf("the metadata key must be 1 to %d of A-Z a-z 0-9 _ . -", MaxMetadataKeyLen))
		return
	case !utf8.ValidString(value) || utf8.RuneCountInString(value) > MaxMetadataValueLen:
		fail(field, fmt.Sprintf("must be valid UTF-8 of at most %d characters", MaxMetadataValueLen))
		return
	case key == "priority":
		if !Priority(value).Valid() {
			fail(field, `metadata.priority must be one of "low", "normal", "high"`)
		} else if f.Priority != "" && f.Priority != Priority(value) {
			fail(field, "contradicts another priority condition")
		} else {
			f.Priority = Priority(value)
		}
		return
	}
	for _, m := range f.Metadata {
		if m.Key == key {
			fail(field, fmt.Sprintf("metadata key %q is given twice", key))
			return
		}
	}
	f.Metadata = append(f.Metadata, MetadataMatch{Key: key, Value: value})
	slices.SortFunc(f.Metadata, func(a, b MetadataMatch) int { return strings.Compare(a.Key, b.Key) })
}

// InboxRequest is a parsed GET /v1/inbox query.
type InboxRequest struct {
	Filter InboxFilter
	Cursor *Cursor
	Limit  int
}

// ParseInboxQuery validates the inbox query parameters. Unknown parameters
// and invalid values are EINVALID errors naming the parameter.
//
// Every parameter is checked, so that one answer lists every problem, in
// this order: the parameter names and metadata conditions, the limit, the
// other filters, the cursor.
func ParseInboxQuery(q url.Values) (InboxRequest, error) {
	p := inboxQuery{q: q}
	req := InboxRequest{}
	p.metadataFilters(&req.Filter)
	req.Limit = p.limit()
	p.textFilters(&req.Filter)
	p.timeRange(&req.Filter)
	p.priority(&req.Filter)
	p.status(&req.Filter)
	req.Cursor = p.cursor(req.Filter)
	if len(p.bad) > 0 {
		return InboxRequest{}, InvalidFields(p.bad...)
	}
	return req, nil
}

// inboxQuery is one inbox query being parsed: the parameters and the field
// errors found so far.
type inboxQuery struct {
	q   url.Values
	bad []FieldError
}

// fail records that field is invalid. A field name that is not valid UTF-8
// (an unknown parameter's) is shown with U+FFFD in place of its bad bytes,
// since the error is sent as JSON.
func (p *inboxQuery) fail(field, msg string) {
	p.bad = append(p.bad, FieldError{Field: strings.ToValidUTF8(field, "\uFFFD"), Message: msg})
}

// single returns the value of parameter name, if given, failing it when it
// is given more than once or is not valid UTF-8 (then it counts as absent:
// no event's fields can match it).
func (p *inboxQuery) single(name string) (string, bool) {
	vs, ok := p.q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	if len(vs) > 1 {
		p.fail(name, "may be given only once")
	}
	if !utf8.ValidString(vs[0]) {
		p.fail(name, "is not valid UTF-8: percent-encode the UTF-8 bytes of the text")
		return "", false
	}
	return vs[0], true
}

// metadataFilters checks every parameter name, in sorted order, adding the
// metadata.{key} conditions on the way, then the metadata_key and
// metadata_value pair and the number of conditions.
func (p *inboxQuery) metadataFilters(f *InboxFilter) {
	for _, name := range slices.Sorted(maps.Keys(p.q)) {
		switch name {
		case "limit", "cursor", "status", "source", "event_type", "created_after", "created_before", "priority",
			"metadata_key", "metadata_value":
		default:
			if !utf8.ValidString(name) {
				p.fail(name, "is not valid UTF-8, nor a known query parameter")
				continue
			}
			if key, ok := strings.CutPrefix(name, "metadata."); ok {
				if v, ok := p.single(name); ok {
					addMetadata(f, name, key, v, p.fail)
				}
				continue
			}
			p.fail(name, "unknown query parameter; known: limit, cursor, status, source, event_type, created_after, created_before, priority, metadata.{key}, metadata_key, metadata_value")
		}
	}
	mk, hasKey := p.single("metadata_key")
	mv, hasValue := p.single("metadata_value")
	switch { // one that is given but invalid has its own error already
	case hasKey && hasValue:
		addMetadata(f, "metadata_key", mk, mv, p.fail)
	case hasKey && !p.q.Has("metadata_value"):
		p.fail("metadata_value", "is required with metadata_key")
	case hasValue && !p.q.Has("metadata_key"):
		p.fail("metadata_key", "is required with metadata_value")
	}
	if len(f.Metadata) > MaxMetadataFilters {
		p.fail("metadata", fmt.Sprintf("at most %d metadata conditions may be given", MaxMetadataFilters))
	}
}

// status reads which events to list: pending (the default) or dead.
func (p *inboxQuery) status(f *InboxFilter) {
	v, ok := p.single("status")
	switch {
	case !ok || v == string(StatusPending):
	case v == string(StatusDead):
		f.Status = StatusDead
	default:
		p.fail("status", `must be "pending" or "dead"`)
	}
}

// limit returns the page size: the limit parameter, else DefaultInboxLimit.
func (p *inboxQuery) limit() int {
	v, ok := p.single("limit")
	if !ok {
		return DefaultInboxLimit
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxInboxLimit {
		p.fail("limit", fmt.Sprintf("must be an integer from 1 to %d", MaxInboxLimit))
		return DefaultInboxLimit
	}
	return n
}

// textFilters reads source and event_type, trimmed, which must be names an
// event can have (checkName).
func (p *inboxQuery) textFilters(f *InboxFilter) {
	for _, t := range []struct {
		name   string
		maxLen int
		dst    *string
	}{{"source", MaxSourceLen, &f.Source}, {"event_type", MaxEventTypeLen, &f.EventType}} {
		if v, ok := p.single(t.name); ok {
			v = strings.TrimSpace(v)
			if v == "" {
				p.fail(t.name, fmt.Sprintf("must be a non-empty string of at most %d characters", t.maxLen))
			} else if err := checkName(v, t.maxLen); err != nil {
				p.fail(t.name, err.Error())
			}
			*t.dst = v
		}
	}
}

// timeRange reads created_after and created_before, both exclusive, and
// rounds them to the microsecond.
func (p *inboxQuery) timeRange(f *InboxFilter) {
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if v, ok := p.single(t.name); ok {
			ts, err := ParseTimestamp(v)
			if err != nil {
				p.fail(t.name, ErrorMessage(err))
			} else {
				*t.dst = ts
			}
		}
	}
	// Events are stored to the microsecond: an exclusive lower bound rounds
	// down and an exclusive upper bound rounds up, which keeps every event
	// inside the requested range and none outside it.
	f.CreatedAfter = f.CreatedAfter.Truncate(time.Microsecond)
	if b := f.CreatedBefore; b.Truncate(time.Microsecond) != b {
		f.CreatedBefore = b.Truncate(time.Microsecond).Add(time.Microsecond)
	}
	if a, b := f.CreatedAfter, f.CreatedBefore; !a.IsZero() && !b.IsZero() && !a.Before(b) {
		p.fail("created_after", "must be earlier than created_before")
	}
}

// priority reads the priority parameter, which must agree with a
// metadata.priority condition if both are given.
func (p *inboxQuery) priority(f *InboxFilter) {
	v, ok := p.single("priority")
	switch {
	case !ok:
	case !Priority(v).Valid():
		p.fail("priority", `must be one of "low", "normal", "high"`)
	case f.Priority != "" && f.Priority != Priority(v):
		p.fail("priority", "contradicts metadata.priority")
	default:
		f.Priority = Priority(v)
	}
}

// cursor reads the cursor parameter. A cursor continues the listing it was
// issued for: with no other error, one issued for other filters than f is
// refused.
func (p *inboxQuery) cursor(f InboxFilter) *Cursor {
	v, ok := p.single("cursor")
	if !ok {
		return nil
	}
	c, err := ParseCursor(v)
	if err != nil {
		p.fail("cursor", "is not a cursor returned by this API")
		return nil
	}
	if len(p.bad) == 0 && c.FilterHash != f.Hash() {
		p.fail("cursor", "was issued for other filters; repeat the filters of the request that returned it, or start without a cursor")
	}
	return &c
}
