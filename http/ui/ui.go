// Package ui serves the Triggers web dashboard: a static page and its ES
// modules, embedded in the binary (go:embed), with no build step. The page
// needs no API key; its calls to /v1 carry the key the user enters.
//
// Every response carries a strict Content-Security-Policy (everything from
// the page's own origin, no inline script or style, no framing) and
// X-Content-Type-Options: nosniff (SetHeaders; the API reference page at
// /docs is served the same way). A Range header is ignored (Asset). See
// docs/DASHBOARD.md.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
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

// Asset is one static file served under the dashboard's headers
// (SetHeaders): its body whole, with an ETag, and a 304 to a matching
// If-None-Match. Range is ignored: the files are small, and a response of
// many ranges can be many times larger than the file; the answer is always
// the whole file (RFC 9110 allows ignoring Range), so never 206 or 416.
type Asset struct {
	body        []byte
	contentType string
	etag        string
}

// NewAsset returns the asset of body with its Content-Type.
func NewAsset(body []byte, contentType string) *Asset {
	sum := sha256.Sum256(body)
	return &Asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// SetHeaders sets the security headers of every dashboard response (and of
// the API reference page): the strict CSP, nosniff, no referrer, no framing.
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// ServeHTTP answers a GET or HEAD of the asset, with SetHeaders.
func (a *Asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	SetHeaders(hdr)
	hdr.Set("ETag", a.etag)
	// Revalidate every time: a new binary may bring new assets.
	hdr.Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	w.Write(a.body)
}

// etagMatch reports whether an If-None-Match header matches etag (weakly,
// as RFC 9110 §13.1.2 compares for If-None-Match).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// Handler serves the dashboard: GET /ui and /ui/ are the page, /ui/NAME an
// asset; anything else under /ui/ is answered by the not-found handler it
// was given.
type Handler struct {
	assets   map[string]*Asset // by name, e.g. "app.js"
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
	h := &Handler{assets: map[string]*Asset{}, notFound: notFound}
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
		h.assets[name] = NewAsset(body, ct)
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
	name := "index.html"
	if p := r.URL.Path; p != "/ui" && p != "/ui/" {
		name = strings.TrimPrefix(p, "/ui/")
	}
	a, ok := h.assets[name]
	if !ok {
		SetHeaders(w.Header())
		h.notFound.ServeHTTP(w, r)
		return
	}
	a.ServeHTTP(w, r)
}
