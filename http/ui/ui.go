// Package ui serves the Triggers web dashboard: a static page and its ES
// modules, embedded in the binary (go:embed), with no build step. The page
// needs no API key; its calls to /v1 carry the key the user enters.
//
// Every response carries a strict Content-Security-Policy (everything from
// the page's own origin, no inline script or style, no framing) and
// X-Content-Type-Options: nosniff. See docs/DASHBOARD.md.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assetsFS embed.FS

// CSP is the Content-Security-Policy of every dashboard response.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// contentTypes maps the asset extensions the dashboard uses to their types;
// a file with any other extension is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the dashboard: GET /ui and /ui/ are the page, /ui/NAME an
// asset; anything else under /ui/ is answered by the not-found handler it
// was given.
type Handler struct {
	assets   map[string]asset // by name, e.g. "app.js"
	notFound http.Handler
}

// New returns the dashboard handler over the embedded assets. notFound
// answers a request for an asset that does not exist, so that the API can
// answer it in its own error envelope; nil means http.NotFoundHandler().
// It runs after the dashboard's security headers are set.
func New(notFound http.Handler) *Handler {
	if notFound == nil {
		notFound = http.NotFoundHandler()
	}
	h := &Handler{assets: map[string]asset{}, notFound: notFound}
	sub, err := fs.Sub(assetsFS, "assets")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h.assets[name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return h
}

// Names returns the names of the served assets (for tests).
func (h *Handler) Names() []string {
	names := make([]string, 0, len(h.assets))
	for n := range h.assets {
		names = append(names, n)
	}
	return names
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", CSP)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")

	name := "index.html"
	if p := r.URL.Path; p != "/ui" && p != "/ui/" {
		name = strings.TrimPrefix(p, "/ui/")
	}
	a, ok := h.assets[name]
	if !ok {
		h.notFound.ServeHTTP(w, r)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	// Revalidate every time: a new binary may bring new assets.
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
