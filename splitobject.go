package triggers

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// splitObject is decodeObject's fast path for the common case: data is
// valid JSON (json.Valid, which allocates nothing), one object whose member
// names are valid UTF-8 without escapes, and distinct. It returns the members, each
// value as sent (without the white space around it), as decodeObjectSlow
// would, and false for anything else, which decodeObjectSlow then reads to
// say what is wrong (or to unescape names). A create body is read here in
// a fraction of the time of encoding/json's token decoder.
func splitObject(data []byte) (map[string]json.RawMessage, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	obj := make(map[string]json.RawMessage, 4)
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return obj, true
	}
	for {
		// A member name: data is valid, so it is a string; one with an
		// escape goes the slow way, which unescapes it.
		end := i + 1
		for data[end] != '"' {
			if data[end] == '\\' {
				return nil, false
			}
			end++
		}
		if !utf8.Valid(data[i+1 : end]) { // the decoder would replace the bad bytes
			return nil, false
		}
		name := string(data[i+1 : end])
		if _, dup := obj[name]; dup {
			return nil, false
		}
		i = skipSpace(data, end+1) + 1 // past the ':'
		i = skipSpace(data, i)
		start := i
		i = skipValue(data, i)
		obj[name] = json.RawMessage(data[start:i:i])
		i = skipSpace(data, i)
		if data[i] == '}' {
			return obj, true
		}
		i = skipSpace(data, i+1) // past the ','
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at i.
func skipValue(data []byte, i int) int {
	depth := 0
	for {
		switch data[i] {
		case '"':
			i++
			for data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
		default:
			// A number or literal, or white space, ':' or ',' inside a
			// container: scalars end at a delimiter.
			if depth == 0 {
				for i < len(data) && bytes.IndexByte([]byte(" \t\n\r,}]"), data[i]) < 0 {
					i++
				}
				return i
			}
			i++
		}
		if depth == 0 {
			return i
		}
	}
}

// SplitList is the fast path of decoding a bulk body that must be exactly
// {"<name>": [...]}: for a valid UTF-8 body of that shape (one member, an
// array) it returns the array's elements as sent, as DecodeStrict into a
// struct with one []json.RawMessage field named name would, and true. For
// anything else it returns false, and the caller decodes with DecodeStrict,
// which says what is wrong. A 25-item body is read without encoding/json's
// reflection and copies.
func SplitList(data []byte, name string) ([]json.RawMessage, bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	obj, ok := splitObject(data)
	if !ok || len(obj) != 1 {
		return nil, false
	}
	list, ok := obj[name]
	if !ok || len(list) == 0 || list[0] != '[' {
		return nil, false
	}
	var items []json.RawMessage
	i := skipSpace(list, 1)
	if list[i] == ']' {
		return []json.RawMessage{}, true
	}
	for {
		start := i
		i = skipValue(list, i)
		items = append(items, list[start:i:i])
		i = skipSpace(list, i)
		if list[i] == ']' {
			return items, true
		}
		i = skipSpace(list, i+1) // past the ','
	}
}
