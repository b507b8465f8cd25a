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

var splitListSeeds = []string{
	`{"items":[]}`, `{"items":[{"a":1}, {"b":[1,{"c":"]"}]} ,"x",1,null]}`, ` {"items" : [ 1 ] } `, `{"items":null}`,
	`{"items":{}}`, `{"items":[1],"x":2}`, `{"ITEMS":[1]}`, `{"items":[1],"items":[2]}`, `{"event_ids":["a"]}`, `[]`, `{"items":[1,]}`,
}

// TestSplitList_AgreesWithDecodeStrict checks SplitList against DecodeStrict
// into the bulk create's request struct.
func TestSplitList_AgreesWithDecodeStrict(t *testing.T) {
	for _, s := range splitListSeeds {
		checkSplitList(t, []byte(s))
	}
	if _, ok := SplitList([]byte(splitListSeeds[1]), "items"); !ok {
		t.Fatal("SplitList declined a plain bulk body")
	}
}

func FuzzSplitList(f *testing.F) {
	for _, s := range splitListSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkSplitList(t, []byte(s)) })
}

func checkSplitList(t *testing.T, data []byte) {
	t.Helper()
	fast, ok := SplitList(data, "items")
	if !ok {
		return
	}
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := DecodeStrict(data, &req); err != nil {
		t.Fatalf("SplitList(%q) accepted what DecodeStrict refuses: %v", data, err)
	}
	if len(fast) != len(req.Items) {
		t.Fatalf("SplitList(%q) = %d items, DecodeStrict %d", data, len(fast), len(req.Items))
	}
	for i := range fast {
		if !bytes.Equal(fast[i], req.Items[i]) {
			t.Fatalf("SplitList(%q)[%d] = %q, DecodeStrict %q", data, i, fast[i], req.Items[i])
		}
	}
}
