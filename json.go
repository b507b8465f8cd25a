package triggers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxJSONDepth is how deeply an event's payload and metadata may nest
// objects and arrays, the payload or metadata object itself being level 1
// (other request bodies get the same bound, counted from the body). Readers
// that recurse, such as browsers' JSON viewers or Python's json module, can
// then read every event the API returns.
const MaxJSONDepth = 64

// strictJSON is a JSON value that checkJSON accepted.
type strictJSON struct {
	// Compact is the value without insignificant white space, otherwise
	// byte for byte as sent (what json.Compact returns).
	Compact []byte
	// Kind is the value's first byte: '{', '[', '"', 't', 'f', 'n', or '0'
	// for a number.
	Kind byte
	// Members is the number of members of an object (0 for other kinds).
	Members int
}

// checkJSON checks that raw holds exactly one JSON value that every reader
// reads alike, and returns it compacted:
//
//   - no object has two members of the same name, at any depth; names are
//     compared after unescaping ("a" and "\u0061" are the same name);
//   - every string, member names included, is valid Unicode after
//     unescaping: a \uD800-\uDFFF escape must be half of a surrogate pair
//     written as two escapes, high then low;
//   - objects and arrays nest at most MaxJSONDepth levels, raw's own value
//     being level 1.
//
// It reads raw once and never recurses deeper than MaxJSONDepth. A failure
// is a FieldError naming the offending value by its path below field (say
// payload.a[2].b, or items[3].payload["a b"]); field "" makes the path
// start at the first member name, and names the whole value "body".
func checkJSON(raw []byte, field string) (strictJSON, *FieldError) {
	c := jsonChecker{data: raw, root: field, out: make([]byte, 0, len(raw))}
	c.space()
	if c.value(1) && c.space() && c.i != len(c.data) {
		c.malformed()
	}
	if c.err != nil {
		return strictJSON{}, c.err
	}
	kind := byte(0)
	if len(c.out) > 0 {
		kind = c.out[0]
		if kind == '-' || '0' <= kind && kind <= '9' {
			kind = '0'
		}
	}
	return strictJSON{Compact: c.out, Kind: kind, Members: c.members}, nil
}

// jsonChecker is the state of one checkJSON.
type jsonChecker struct {
	data    []byte
	i       int
	out     []byte
	root    string
	path    []jsonStep // from the root to the value being read
	names   []*nameSet // the member names of the object open at each depth
	members int        // of the root object
	err     *FieldError
}

// jsonStep is one step of a path: a member, by its name as sent (with its
// quotes), or an array element, by its index.
type jsonStep struct {
	name  []byte
	index int
}

// value reads the value at c.i, at the given depth, and appends it to
// c.out. It reports whether it succeeded; on failure c.err is set.
func (c *jsonChecker) value(depth int) bool {
	if c.i >= len(c.data) {
		return c.malformed()
	}
	switch b := c.data[c.i]; {
	case b == '{' || b == '[':
		if depth > MaxJSONDepth {
			what := c.root
			if what == "" {
				what = "the body"
			}
			return c.fail(fmt.Sprintf("is nested too deeply: objects and arrays may nest at most %d levels, counting %s as the first", MaxJSONDepth, what))
		}
		if b == '{' {
			return c.object(depth)
		}
		return c.array(depth)
	case b == '"':
		s, _, bad, ok := c.str()
		if ok && bad != "" {
			return c.fail(bad)
		}
		c.out = append(c.out, s...)
		return ok
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || '0' <= b && b <= '9':
		return c.number()
	}
	return c.malformed()
}

func (c *jsonChecker) object(depth int) bool {
	c.i++
	c.out = append(c.out, '{')
	for len(c.names) < depth {
		c.names = append(c.names, &nameSet{})
	}
	names := c.names[depth-1]
	names.reset()
	c.space()
	if c.i < len(c.data) && c.data[c.i] == '}' {
		c.i++
		c.out = append(c.out, '}')
		return true
	}
	for {
		if c.i >= len(c.data) || c.data[c.i] != '"' {
			return c.malformed()
		}
		raw, escaped, bad, ok := c.str()
		if !ok {
			return false
		}
		c.path = append(c.path, jsonStep{name: raw})
		if bad != "" {
			return c.fail("is a member name that " + bad)
		}
		name := raw[1 : len(raw)-1]
		if escaped {
			var s string
			_ = json.Unmarshal(raw, &s) // valid, surrogates paired: exact
			name = []byte(s)
		}
		if !names.add(name) {
			return c.fail("is a member name given twice in one object; JSON readers disagree on which one counts")
		}
		if depth == 1 {
			c.members++
		}
		c.out = append(c.out, raw...)
		if c.space(); c.i >= len(c.data) || c.data[c.i] != ':' {
			return c.malformed()
		}
		c.i++
		c.out = append(c.out, ':')
		if c.space(); !c.value(depth + 1) {
			return false
		}
		c.path = c.path[:len(c.path)-1]
		c.space()
		if c.i >= len(c.data) {
			return c.malformed()
		}
		switch c.data[c.i] {
		case ',':
			c.i++
			c.out = append(c.out, ',')
			c.space()
		case '}':
			c.i++
			c.out = append(c.out, '}')
			return true
		default:
			return c.malformed()
		}
	}
}

func (c *jsonChecker) array(depth int) bool {
	c.i++
	c.out = append(c.out, '[')
	c.space()
	if c.i < len(c.data) && c.data[c.i] == ']' {
		c.i++
		c.out = append(c.out, ']')
		return true
	}
	for n := 0; ; n++ {
		c.path = append(c.path, jsonStep{index: n})
		if !c.value(depth + 1) {
			return false
		}
		c.path = c.path[:len(c.path)-1]
		c.space()
		if c.i >= len(c.data) {
			return c.malformed()
		}
		switch c.data[c.i] {
		case ',':
			c.i++
			c.out = append(c.out, ',')
			c.space()
		case ']':
			c.i++
			c.out = append(c.out, ']')
			return true
		default:
			return c.malformed()
		}
	}
}

// str reads the string at c.i (its opening quote) and returns it as sent,
// quotes included, and whether it holds escapes. A string that is well
// formed but not valid Unicode is returned whole, with bad saying why; a
// malformed one fails (ok false).
func (c *jsonChecker) str() (raw []byte, escaped bool, bad string, ok bool) {
	start := c.i
	i := c.i + 1
	for i < len(c.data) {
		b := c.data[i]
		switch {
		case b == '"':
			c.i = i + 1
			return c.data[start:c.i], escaped, bad, true
		case b < 0x20:
			c.i = i
			return nil, false, "", c.malformed()
		case b < utf8.RuneSelf && b != '\\':
			i++
		case b != '\\':
			r, size := utf8.DecodeRune(c.data[i:])
			if r == utf8.RuneError && size == 1 && bad == "" {
				bad = "is not valid UTF-8"
			}
			i += size
		default:
			escaped = true
			if i+1 >= len(c.data) {
				c.i = i
				return nil, false, "", c.malformed()
			}
			if c.data[i+1] != 'u' {
				if !strings.ContainsRune(`"\/bfnrt`, rune(c.data[i+1])) {
					c.i = i
					return nil, false, "", c.malformed()
				}
				i += 2
				continue
			}
			u, ok := hex4(c.data[i+2:])
			if !ok {
				c.i = i
				return nil, false, "", c.malformed()
			}
			if u >= 0xd800 && u <= 0xdbff && i+12 <= len(c.data) && c.data[i+6] == '\\' && c.data[i+7] == 'u' {
				if lo, ok := hex4(c.data[i+8:]); ok && 0xdc00 <= lo && lo <= 0xdfff {
					i += 12 // a surrogate pair, high then low
					continue
				}
			}
			if u >= 0xd800 && u <= 0xdfff && bad == "" {
				bad = fmt.Sprintf(`is not valid Unicode: the escape %s is half of a UTF-16 surrogate pair without its other half (a pair is a \uD800-\uDBFF escape directly followed by a \uDC00-\uDFFF escape)`, c.data[i:i+6])
			}
			i += 6
		}
	}
	c.i = i
	return nil, false, "", c.malformed()
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, d := range b[:4] {
		switch {
		case '0' <= d && d <= '9':
			d -= '0'
		case 'a' <= d && d <= 'f':
			d -= 'a' - 10
		case 'A' <= d && d <= 'F':
			d -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// number reads a number, checking its grammar (RFC 8259 section 6).
func (c *jsonChecker) number() bool {
	start := c.i
	digits := func() int {
		n := 0
		for c.i < len(c.data) && '0' <= c.data[c.i] && c.data[c.i] <= '9' {
			c.i++
			n++
		}
		return n
	}
	if c.data[c.i] == '-' {
		c.i++
	}
	if c.i < len(c.data) && c.data[c.i] == '0' {
		c.i++
	} else if digits() == 0 {
		return c.malformed()
	}
	if c.i < len(c.data) && c.data[c.i] == '.' {
		c.i++
		if digits() == 0 {
			return c.malformed()
		}
	}
	if c.i < len(c.data) && (c.data[c.i] == 'e' || c.data[c.i] == 'E') {
		c.i++
		if c.i < len(c.data) && (c.data[c.i] == '+' || c.data[c.i] == '-') {
			c.i++
		}
		if digits() == 0 {
			return c.malformed()
		}
	}
	c.out = append(c.out, c.data[start:c.i]...)
	return true
}

func (c *jsonChecker) literal(word string) bool {
	if !bytes.HasPrefix(c.data[c.i:], []byte(word)) {
		return c.malformed()
	}
	c.i += len(word)
	c.out = append(c.out, word...)
	return true
}

// space skips white space; it returns true, to chain with other checks.
func (c *jsonChecker) space() bool {
	for c.i < len(c.data) {
		switch c.data[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return true
		}
	}
	return true
}

// malformed fails with a syntax error. The values checkJSON is given were
// read by encoding/json first, so this is a safety net.
func (c *jsonChecker) malformed() bool {
	return c.fail(fmt.Sprintf("is malformed JSON at byte %d of its value", c.i))
}

// fail records the first failure, for the value at c.path.
func (c *jsonChecker) fail(msg string) bool {
	if c.err == nil {
		c.err = &FieldError{Field: c.pathString(), Message: msg}
	}
	return false
}

// maxPathName is how much of a member name a path shows.
const maxPathName = 64

// pathString writes c.path below c.root: a member whose name is a plain
// word as .name, any other as ["name"] (its JSON text as sent, shortened),
// an array element as [i].
func (c *jsonChecker) pathString() string {
	var b strings.Builder
	b.WriteString(c.root)
	for _, s := range c.path {
		if s.name == nil {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		name := s.name[1 : len(s.name)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var dec string
			if json.Unmarshal(s.name, &dec) == nil && utf8.ValidString(dec) && !strings.ContainsRune(dec, utf8.RuneError) {
				name = []byte(dec)
			}
		}
		if plainName(name) {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.Write(name)
			continue
		}
		text := s.name
		if len(text) > maxPathName {
			cut := maxPathName
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
			text = append(text[:cut:cut], `…"`...)
		}
		b.WriteString("[")
		b.Write(text)
		b.WriteString("]")
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// plainName reports whether a member name can be written bare in a path:
// 1 to maxPathName bytes of letters, digits, '_' and '-'.
func plainName(name []byte) bool {
	if len(name) == 0 || len(name) > maxPathName {
		return false
	}
	for _, r := range string(name) {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// nameSet holds the member names of one object: a short list while it is
// small, a map once it is not.
type nameSet struct {
	list [][]byte
	m    map[string]struct{}
}

const nameSetList = 16

func (s *nameSet) reset() {
	s.list = s.list[:0]
	clear(s.m)
}

// add adds name, reporting false if it was already there.
func (s *nameSet) add(name []byte) bool {
	if len(s.list) < nameSetList {
		for _, n := range s.list {
			if bytes.Equal(n, name) {
				return false
			}
		}
		s.list = append(s.list, name)
		return true
	}
	if s.m == nil {
		s.m = make(map[string]struct{})
	}
	if len(s.m) == 0 {
		for _, n := range s.list {
			s.m[string(n)] = struct{}{}
		}
	}
	if _, dup := s.m[string(name)]; dup {
		return false
	}
	s.m[string(name)] = struct{}{}
	return true
}

// checkMemberNames checks the member names of data, one JSON object that
// encoding/json read without error, and returns why it refuses them ("" if
// it does not): every name must be given once, and, unless known is nil, be
// one of known, spelled exactly. encoding/json lets the last of two members
// of one name win, and takes "ITEMS", or "itemſ" with a long s, for the
// field "items". Names are compared unescaped ("\u0069tems" is "items").
// It reads data once, only skipping the members' values.
func checkMemberNames(data []byte, known []string) string {
	c := jsonChecker{data: data}
	var seen nameSet
	if c.space(); c.i >= len(c.data) || c.data[c.i] != '{' {
		return "must be a JSON object"
	}
	c.i++
	for {
		if c.space(); c.i >= len(c.data) || c.data[c.i] != '"' {
			return "" // the closing brace: encoding/json checked the rest
		}
		raw, escaped, _, ok := c.str()
		if !ok {
			return "is malformed JSON"
		}
		name := raw[1 : len(raw)-1]
		if escaped {
			var s string
			_ = json.Unmarshal(raw, &s) // encoding/json read it: valid
			name = []byte(s)
		}
		if known != nil && !slices.Contains(known, string(name)) {
			return fmt.Sprintf("has unknown field %q", name)
		}
		if !seen.add(name) {
			return fmt.Sprintf("has the member %q twice", name)
		}
		c.space()
		c.i++ // the colon
		c.space()
		c.skipValue()
		if c.space(); c.i < len(c.data) && c.data[c.i] == ',' {
			c.i++
		}
	}
}

// skipValue moves c.i past the value it is at, which must be valid JSON
// (it is not checked).
func (c *jsonChecker) skipValue() {
	depth := 0
	for ; c.i < len(c.data); c.i++ {
		switch c.data[c.i] {
		case '"':
			for c.i++; c.i < len(c.data) && c.data[c.i] != '"'; c.i++ {
				if c.data[c.i] == '\\' {
					c.i++
				}
			}
		case '{', '[':
			depth++
			continue
		case '}', ']':
			depth--
		case ',', ' ', '\t', '\r', '\n', ':':
			continue
		default: // a number or a literal
			for c.i+1 < len(c.data) && !strings.ContainsRune(",:]} \t\r\n", rune(c.data[c.i+1])) {
				c.i++
			}
		}
		if depth == 0 {
			c.i++
			return
		}
	}
}
