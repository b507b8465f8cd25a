package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// YAML is Document as YAML, served at /openapi.yaml. It is made from the
// JSON once, at start, keeping the member order.
var YAML = mustYAML(Document)

func mustYAML(doc []byte) []byte {
	y, err := ToYAML(doc)
	if err != nil {
		panic("openapi: the embedded document is not valid JSON: " + err.Error())
	}
	return y
}

// ToYAML converts one JSON value to YAML in block style, keeping the order
// of object members. Every key and string is written as a double-quoted
// scalar with JSON's own escapes, which YAML's double-quoted style reads
// the same way, so no string can be mistaken for a number, a boolean, null
// or YAML syntax; numbers, booleans and null are written as in the JSON.
//
// It is not built on go.yaml.in/yaml/v4's Node and emitter, which keep the
// member order and the double quotes but not this output: a mapping inside
// a sequence starts on the dash's line, a key longer than 128 characters
// becomes an explicit "? " key, and escapes are YAML's own (\N, \L, \0,
// \x7F) rather than JSON's. The library reads the result back in the tests.
func ToYAML(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := writeValue(&buf, dec, 0, ""); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("openapi: data after the JSON value")
	}
	return buf.Bytes(), nil
}

// writeValue writes the value whose tokens dec yields next. lead is what
// goes before a scalar or an empty collection on the current line (": " or
// "- "), and indent the indentation of a nested collection's lines.
func writeValue(buf *bytes.Buffer, dec *json.Decoder, indent int, lead string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	pad := strings.Repeat("  ", indent)
	switch t := tok.(type) {
	case json.Delim:
		closing := json.Delim('}')
		if t == '[' {
			closing = ']'
		}
		if !dec.More() {
			dec.Token() // the closing delimiter
			buf.WriteString(lead + map[json.Delim]string{'}': "{}", ']': "[]"}[closing] + "\n")
			return nil
		}
		if lead != "" {
			buf.WriteString(strings.TrimRight(lead, " ") + "\n")
		}
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				buf.WriteString(pad + quote(k.(string)))
				if err := writeValue(buf, dec, indent+1, ": "); err != nil {
					return err
				}
			} else {
				buf.WriteString(pad + "-")
				if err := writeValue(buf, dec, indent+1, " "); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		buf.WriteString(lead + quote(t) + "\n")
	case json.Number:
		buf.WriteString(lead + t.String() + "\n")
	case bool:
		buf.WriteString(fmt.Sprintf("%s%t\n", lead, t))
	case nil:
		buf.WriteString(lead + "null\n")
	}
	return nil
}

// quote writes s as a YAML double-quoted scalar: JSON's escaping, without
// HTML escaping, plus \u escapes for the characters YAML does not allow
// unescaped in a stream or reads as a line break (U+007F-U+009F, among them
// NEL, U+0085; the byte order mark; U+FFFE and U+FFFF).
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	q := strings.TrimSuffix(b.String(), "\n")
	if !strings.ContainsFunc(q, yamlUnprintable) {
		return q
	}
	var out strings.Builder
	for _, r := range q {
		if yamlUnprintable(r) {
			fmt.Fprintf(&out, "\\u%04X", r)
		} else {
			out.WriteRune(r)
		}
	}
	return out.String()
}

func yamlUnprintable(r rune) bool {
	return 0x7F <= r && r <= 0x9F || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF
}
