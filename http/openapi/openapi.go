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

// DocsPage is the interactive reference page, a self-contained HTML file that
// fetches openapi.json (relative to its own URL) and renders it. It is served
// at /docs. Callers must not modify it.
//
//go:embed docs.html
var DocsPage []byte
