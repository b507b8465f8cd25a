package triggers

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of metadata filters (DESIGN §4; the value and count limits are
// decisions recorded in docs/DECISIONS.md).
const (
	// MaxMetadataKeyLen is the longest metadata key a filter may name.
	MaxMetadataKeyLen = 64
	// MaxMetadataValueLen is the longest metadata value, in characters, that
	// an inbox filter can match. Longer values are stored but not indexed.
	MaxMetadataValueLen = 256
	// MaxMetadataFilters bounds the metadata conditions of one inbox query.
	MaxMetadataFilters = 10
	// MaxMetadataFields is the most members an event's metadata may have
	// besides priority. It bounds the work a create puts in the metadata
	// index: at most this many terms per event (MetadataTerms).
	MaxMetadataFields = 64
)

// ValidMetadataKey reports whether k can be named by a metadata filter:
// 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'. A key with dots names a top-level
// member whose name contains dots; nested objects are not looked into.
func ValidMetadataKey(k string) bool {
	if k == "" || len(k) > MaxMetadataKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// MetadataTerms returns the metadata fields of a stored metadata object that
// inbox filters can match, as key and text: a string's value, a number's
// JSON text as stored, or "true"/"false". Members with other values (null,
// objects, arrays), keys a filter cannot name, or text longer than
// MaxMetadataValueLen characters are left out, and so is "priority", which
// the priority filter serves. Stores index these terms at insert time; the
// result is sorted by key.
func MetadataTerms(md json.RawMessage) []MetadataMatch {
	if len(md) == 0 || onlyPriority(md) {
		return nil
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(md, &members) != nil {
		return nil
	}
	var terms []MetadataMatch
	for k, raw := range members {
		if k == "priority" || !ValidMetadataKey(k) {
			continue
		}
		if v, ok := metadataText(raw); ok {
			terms = append(terms, MetadataMatch{Key: k, Value: v})
		}
	}
	slices.SortFunc(terms, func(a, b MetadataMatch) int { return strings.Compare(a.Key, b.Key) })
	return terms
}

// onlyPriority reports whether md is the metadata of most events,
// {"priority":"..."} alone, which has nothing to index (a fast path of the
// insert).
func onlyPriority(md json.RawMessage) bool {
	switch string(md) {
	case `{"priority":"normal"}`, `{"priority":"high"}`, `{"priority":"low"}`:
		return true
	}
	return false
}

// metadataText is the text a filter value is compared with, if raw is a
// string, number or boolean short enough to be matched.
func metadataText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var v string
	switch c := raw[0]; {
	case c == '"':
		if json.Unmarshal(raw, &v) != nil {
			return "", false
		}
	case c == '-' || '0' <= c && c <= '9', string(raw) == "true", string(raw) == "false":
		v = string(raw)
	default:
		return "", false
	}
	if len(v) > MaxMetadataValueLen && utf8.RuneCountInString(v) > MaxMetadataValueLen {
		return "", false
	}
	return v, true
}

// MatchesMetadata reports whether terms (from MetadataTerms) satisfy every
// metadata condition of f.
func (f InboxFilter) MatchesMetadata(terms []MetadataMatch) bool {
	for _, m := range f.Metadata {
		if !slices.Contains(terms, m) {
			return false
		}
	}
	return true
}

// Matches reports whether an event satisfies every condition of f, its
// status included. Stores use it for conditions their index does not serve.
func (f InboxFilter) Matches(e *Event) bool {
	want := StatusPending
	if f.Status == StatusDead {
		want = StatusDead
	}
	switch {
	case e.Status() != want,
		f.Source != "" && e.Source != f.Source,
		f.EventType != "" && e.EventType != f.EventType,
		f.Priority != "" && e.Priority != f.Priority,
		!f.CreatedAfter.IsZero() && !e.CreatedAt.After(f.CreatedAfter),
		!f.CreatedBefore.IsZero() && !e.CreatedAt.Before(f.CreatedBefore):
		return false
	}
	return len(f.Metadata) == 0 || f.MatchesMetadata(MetadataTerms(e.Metadata))
}
