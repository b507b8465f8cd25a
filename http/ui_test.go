package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/triggersapi/triggers/http/ui"
)

// The dashboard is not part of the API (it is not in the OpenAPI document),
// so these tests use plain net/http instead of TestServer.Do.

func getUI(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

func checkUIHeaders(t *testing.T, path string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	if csp != ui.CSP {
		t.Errorf("%s: Content-Security-Policy = %q, want %q", path, csp, ui.CSP)
	}
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
		t.Errorf("%s: CSP %q allows inline code or another origin", path, csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", path, got)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("%s: no X-Request-ID", path)
	}
	if resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("%s: rate-limit headers on a page that needs no key", path)
	}
}

func TestUI_Page(t *testing.T) {
	ts := MustStart(t, nil)
	for _, path := range []string{"/ui", "/ui/"} {
		resp, body := getUI(t, ts.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200: %s", path, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		checkUIHeaders(t, path, resp)
		html := string(body)
		for _, want := range []string{`<html lang="en">`, `<script type="module" src="/ui/app.js">`, `role="status"`, `aria-live`, `name="viewport"`} {
			if !strings.Contains(html, want) {
				t.Errorf("GET %s: page lacks %q", path, want)
			}
		}
		// No inline script (the CSP would refuse it anyway) and no inline style.
		if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).MatchString(html) {
			t.Errorf("GET %s: page has an inline script", path)
		}
		if regexp.MustCompile(`(?i)\sstyle=|<style|\son[a-z]+=`).MatchString(html) {
			t.Errorf("GET %s: page has an inline style or event handler attribute", path)
		}
	}
}

func TestUI_PageNeedsNoKeyAndIgnoresOne(t *testing.T) {
	ts := MustStart(t, nil)
	req, _ := http.NewRequest("GET", ts.URL+"/ui/", nil)
	req.Header.Set("X-API-Key", "not-a-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/ with an unknown key: status %d, want 200", resp.StatusCode)
	}
}

func TestUI_Assets(t *testing.T) {
	ts := MustStart(t, nil)
	want := map[string]string{
		"app.js":      "text/javascript; charset=utf-8",
		"api.js":      "text/javascript; charset=utf-8",
		"json.js":     "text/javascript; charset=utf-8",
		"charts.js":   "text/javascript; charset=utf-8",
		"webhooks.js": "text/javascript; charset=utf-8",
		"style.css":   "text/css; charset=utf-8",
		"icon.svg":    "image/svg+xml",
		"index.html":  "text/html; charset=utf-8",
	}
	names := ui.New(nil).Names()
	if len(names) != len(want) {
		t.Errorf("served assets %v, want %d: update this test when adding one", names, len(want))
	}
	// Any URL with a scheme (http:, https:, //host) other than the SVG
	// namespace name, which is an identifier and never fetched.
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|https?:`)
	for _, name := range names {
		ct, ok := want[name]
		if !ok {
			t.Errorf("unexpected asset %s", name)
			continue
		}
		path := "/ui/" + name
		resp, body := getUI(t, ts.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Type"); got != ct {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, ct)
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: ETag %q, Cache-Control %q", path, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
		}
		checkUIHeaders(t, path, resp)
		text := strings.ReplaceAll(string(body), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s references %q: every reference must stay on the page's origin", path, m)
		}
		if regexp.MustCompile(`(?i)@import|url\(\s*['"]?(https?:|//)`).MatchString(text) {
			t.Errorf("%s imports from another origin", path)
		}
		// A conditional GET is answered 304.
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: status %d, want 304", path, r2.StatusCode)
		}
	}
}

func TestUI_ModulesImportOnlyRelative(t *testing.T) {
	ts := MustStart(t, nil)
	imports := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	// localStorage holds one thing only: the overview's warning threshold
	// (a preference, never the key); any other use of it is refused.
	threshold := regexp.MustCompile(`localStorage\.(getItem|setItem)\(THRESHOLD_STORAGE[,)]`)
	for _, name := range []string{"app.js", "api.js", "json.js", "charts.js", "webhooks.js"} {
		_, body := getUI(t, ts.URL+"/ui/"+name)
		body = threshold.ReplaceAll(body, nil)
		for _, m := range imports.FindAllStringSubmatch(string(body), -1) {
			if !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q: only relative modules of the dashboard", name, m[1])
			}
		}
		if regexp.MustCompile(`\beval\(|new Function\(|innerHTML|localStorage`).Match(body) {
			t.Errorf("%s uses eval, innerHTML or localStorage", name)
		}
	}
}

func TestUI_UnknownAsset(t *testing.T) {
	ts := MustStart(t, nil)
	for _, path := range []string{"/ui/nope.js", "/ui/assets/app.js", "/ui/app.js/x", "/ui/README.md"} {
		resp, body := getUI(t, ts.URL+path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
			continue
		}
		var env struct {
			Error struct {
				Code      string         `json:"code"`
				Details   map[string]any `json:"details"`
				RequestID string         `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Error.Code != "NOT_FOUND" || env.Error.Details == nil {
			t.Errorf("GET %s: body %s, want a NOT_FOUND error envelope", path, body)
		}
		if env.Error.RequestID == "" || env.Error.RequestID != resp.Header.Get("X-Request-ID") {
			t.Errorf("GET %s: request_id %q, X-Request-ID %q", path, env.Error.RequestID, resp.Header.Get("X-Request-ID"))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		// The API's own envelope writer, member order included.
		want := `{"error":{"code":"NOT_FOUND","message":"no dashboard asset ` + path + `; the dashboard is at /ui","details":{},"request_id":"` +
			resp.Header.Get("X-Request-ID") + `"}}` + "\n"
		if string(body) != want {
			t.Errorf("GET %s: body %s, want %s", path, body, want)
		}
		checkUIHeaders(t, path, resp)
	}
	// A wrong method is the API's usual 405.
	resp, err := http.Post(ts.URL+"/ui", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui: status %d, want 405", resp.StatusCode)
	}
}
