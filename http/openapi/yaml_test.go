package openapi_test

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	"github.com/triggersapi/triggers/http/openapi"
)

// sameAsJSON reports whether YAML text y, read by a YAML library, is the
// same value as JSON text j.
func sameAsJSON(t *testing.T, j, y []byte) bool {
	t.Helper()
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if err := yaml.Unmarshal(y, &fromYAML); err != nil {
		t.Fatalf("yaml.Unmarshal: %v\n%s", err, y)
	}
	return reflect.DeepEqual(fromJSON, normalize(fromYAML))
}

// normalize gives a YAML-decoded value JSON's types: float64 numbers,
// map[string]any objects.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normalize(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = normalize(x)
		}
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return v
}

func TestYAML_IsTheDocument(t *testing.T) {
	if !sameAsJSON(t, openapi.Document, openapi.YAML) {
		t.Fatal("openapi.yaml read as YAML differs from openapi.json")
	}
	doc, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
	if err != nil {
		t.Fatalf("LoadFromData(openapi.yaml) = %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("Validate(openapi.yaml) = %v", err)
	}
}

func TestToYAML(t *testing.T) {
	tests := []struct{ name, json string }{
		{"Scalars", `{"s":"x","n":1.5,"i":-7,"e":1e5,"t":true,"f":false,"z":null}`},
		{"StringsThatLookLikeOtherThings", `["yes","no","on","null","~","1","0x10","1e3",".5","-","- a","a: b","#x","&a","*a","!t","|","'q'","\"q\"","%","@","` + "`" + `"]`},
		{"Whitespace", `["", " ", "  lead", "trail  ", "a\nb", "\t", "\r\n"]`},
		{"Unicode", `["café ✓", "\u0000\u001f", "\u2028\u2029", "😀", "<&>"]`},
		{"Empty", `{"a":{},"b":[],"c":[{}],"d":[[]]}`},
		{"Nested", `{"a":[1,{"b":[{"c":{"d":[true]}}]},[2,[3]]]}`},
		{"TopLevelArray", `[{"a":1},{"b":2}]`},
		{"TopLevelScalar", `"just a string"`},
		{"KeysThatLookLikeOtherThings", `{"yes":1,"1":2,"":3,"a: b":4,"- x":5,"null":6}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, err := openapi.ToYAML([]byte(tt.json))
			if err != nil {
				t.Fatalf("ToYAML(%s) = %v", tt.json, err)
			}
			if !sameAsJSON(t, []byte(tt.json), y) {
				t.Fatalf("ToYAML(%s) reads back differently:\n%s", tt.json, y)
			}
		})
	}
	t.Run("ErrTrailingData", func(t *testing.T) {
		if _, err := openapi.ToYAML([]byte(`{} {}`)); err == nil {
			t.Fatal("ToYAML({} {}) error = nil")
		}
	})
}

// FuzzToYAML checks that any JSON value converted to YAML reads back, with a
// YAML library, as the same value.
func FuzzToYAML(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c"}]}`, `["yes","- x","a: b"]`, `{"":{}}`, `[[[]]]`, `"\u2028"`, `-0`, `1E+2`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		// Deep nesting is left out: block style indents each level, so
		// the YAML of a value nested thousands deep grows with the square
		// of the depth (the document is a few levels deep).
		if json.Unmarshal([]byte(s), &v) != nil || hasNonFinite(v) || depth(v) > 50 {
			return
		}
		y, err := openapi.ToYAML([]byte(s))
		if err != nil {
			t.Fatalf("ToYAML(%q) = %v", s, err)
		}
		if !sameAsJSON(t, []byte(s), y) {
			t.Fatalf("ToYAML(%q) reads back differently:\n%s", s, y)
		}
	})
}

func hasNonFinite(v any) bool {
	switch v := v.(type) {
	case float64:
		return math.IsInf(v, 0) || math.IsNaN(v)
	case map[string]any:
		for _, x := range v {
			if hasNonFinite(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasNonFinite(x) {
				return true
			}
		}
	}
	return false
}

func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			d = max(d, depth(x))
		}
		return d + 1
	case []any:
		for _, x := range v {
			d = max(d, depth(x))
		}
		return d + 1
	}
	return 0
}
