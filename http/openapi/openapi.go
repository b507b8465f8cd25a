// Package openapi holds the API's OpenAPI 3.1 document and the reference page
// rendered from it, both embedded in the binary.
//
// The document is written by hand and is the contract of DESIGN §1; the HTTP
// tests check every response against it with package openapitest.
package openapi

import _ "embed"

// Document is the OpenAPI 3.1 document of the v1 API, as JSON. It is served
// at /openapi.json. Callers must not modify it.
//
//go:embed openapi.json
var Document []byte

// DocsPage is the interactive reference page, served at /docs: an HTML
// file that loads its script (DocsScript, at /docs/reference.js) and its
// style sheet (DocsStyle, at /docs/reference.css) from its own origin, with
// nothing inline, so that it can be served under the dashboard's strict
// Content-Security-Policy. The script fetches openapi.json (relative to the
// page's URL) and renders it. Callers must not modify them.
//
//go:embed docs.html
var DocsPage []byte

// DocsScript is the script of DocsPage.
//
//go:embed reference.js
var DocsScript []byte

// DocsStyle is the style sheet of DocsPage.
//
//go:embed reference.css
var DocsStyle []byte
