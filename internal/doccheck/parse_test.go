package doccheck_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/triggersapi/triggers/internal/doccheck"
)

func TestParse(t *testing.T) {
	const doc = "# Title\n\n" +
		"```sh\ncurl -s http://localhost:8080/v1/health\n```\n" +
		"```\n{\"status\":\"healthy\"}\n```\n" +
		"```sh\ntriggers keys list\n```\n" + // no curl, not marked: text
		"<!-- doccheck: run -->\n```sh\ntriggers keys create --tenant t\n```\n" +
		"<!-- doccheck: serve --trusted-proxies 127.0.0.1 -->\n<!-- doccheck: expect 200 403 -->\n" +
		"<!-- doccheck: setup triggers keys create --tenant t --key k -->\n```bash\ncurl a\ncurl b\n```\n" +
		"<!-- doccheck: skip (needs AWS) -->\n```sh\ncurl https://example.com\n```\n" +
		"```console\n$ curl -s localhost:8080/\n{\"name\":\"Triggers\"}\n```\n" +
		"```go\nfmt.Println(\"curl\")\n```\n"
	blocks, err := doccheck.Parse("x.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, b := range blocks {
		lines = append(lines, b.Line)
	}
	if want := []int{3, 13, 19, 24, 27}; !slices.Equal(lines, want) {
		t.Fatalf("blocks at lines %v, want %v", lines, want)
	}
	if b := blocks[1]; !b.Run || b.HasCurl {
		t.Errorf("run block = %+v", b)
	}
	if b := blocks[2]; !slices.Equal(b.Expect, []int{200, 403}) || !slices.Equal(b.ServeFlags, []string{"--trusted-proxies", "127.0.0.1"}) ||
		len(b.Setup) != 1 || b.Script != "curl a\ncurl b\n" {
		t.Errorf("marked block = %+v", b)
	}
	if b := blocks[3]; b.Skip != "needs AWS" {
		t.Errorf("skipped block = %+v", b)
	}
	if b := blocks[4]; b.Script != "curl -s localhost:8080/\n" {
		t.Errorf("console block script = %q", b.Script)
	}
}

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"UnknownMarker", "<!-- doccheck: expcet 200 -->\n```sh\ncurl x\n```\n", "unknown marker"},
		{"SkipWithoutReason", "<!-- doccheck: skip -->\n```sh\ncurl x\n```\n", "reason"},
		{"BadStatus", "<!-- doccheck: expect 2000 -->\n```sh\ncurl x\n```\n", "not an HTTP status"},
		{"NotAboveBlock", "<!-- doccheck: expect 200 -->\n\n```sh\ncurl x\n```\n", "not directly above"},
		{"NotRunnable", "<!-- doccheck: expect 200 -->\n```json\n{}\n```\n", "does not run"},
		{"Unclosed", "```sh\ncurl x\n", "unclosed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := doccheck.Parse("x.md", tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
