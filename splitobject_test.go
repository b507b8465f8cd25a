package triggers

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

var splitObjectSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"source":"s","event_type":"t","payload":{"a":[1,2,{"b":"}"}]},"metadata":{"priority":"high"}}`,
	`{"a":"\"}]","b":[{"c":"\\"}],"d":-1.5e+3,"e":true,"f":null}`, "{\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } \n}",
	`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"a\"b":1}`, `[1]`, `"x"`, `{"a":1} x`, `{"a":}`, `{"a":1,}`, ``, `{"a":[}`,
	`{"a":"\ud800"}`, `{"é":1,"e\u0301":2}`, `{"a":1e999}`, "{\"\xbb\":null}",
}

// TestSplitObject_AgreesWithTheDecoder checks decodeObject's fast path
// against encoding/json's decoder on the seeds: where the fast path answers,
// it answers exactly as the decoder does, and it declines every body the
// decoder refuses.
func TestSplitObject_AgreesWithTheDecoder(t *testing.T) {
	for _, s := range splitObjectSeeds {
		checkSplitObject(t, []byte(s))
	}
	// The fast path must not decline the common case.
	if _, ok := splitObject([]byte(splitObjectSeeds[3])); !ok {
		t.Fatal("splitObject declined a plain create body")
	}
}

func FuzzSplitObject(f *testing.F) {
	for _, s := range splitObjectSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkSplitObject(t, []byte(s)) })
}

func checkSplitObject(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := splitObject(data)
	slow, err := decodeObjectSlow(data)
	if !ok {
		return // the slow path answers, as before
	}
	if err != nil {
		t.Fatalf("splitObject(%q) accepted what the decoder refuses: %v", data, err)
	}
	if !maps.EqualFunc(fast, slow, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
		t.Fatalf("splitObject(%q) = %q, the decoder %q", data, fast, slow)
	}
}
