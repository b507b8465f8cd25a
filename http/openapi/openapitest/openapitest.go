// Package openapitest checks HTTP responses against the API's OpenAPI
// document (openapi.Document), so that every HTTP test also tests the contract:
//
//	v := openapitest.New(t)
//	resp, err := client.Do(req)
//	...
//	body, _ := io.ReadAll(resp.Body)
//	v.Check(t, req, reqBody, resp, body)
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/triggersapi/triggers/http/openapi"
)

// Validator checks responses against openapi.Document. Create one with New;
// it is safe for concurrent use, so parallel tests may share one.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	// errorSchema is components/schemas/Error, for responses to unknown routes.
	errorSchema *openapi3.Schema
	opts        *openapi3filter.Options
}

// New loads and validates openapi.Document and returns a Validator for it. It
// fails tb if the document does not load or is invalid.
//
// The document's servers are dropped, so that routes match on the request
// path alone, whatever host and port the test server listens on.
func New(tb testing.TB) *Validator {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
	if err != nil {
		tb.Fatalf("openapitest: loading openapi.json: %v", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc) // validates the document
	if err != nil {
		tb.Fatalf("openapitest: openapi.json: %v", err)
	}
	errRef := doc.Components.Schemas["Error"]
	if errRef == nil || errRef.Value == nil {
		tb.Fatal("openapitest: openapi.json has no components/schemas/Error")
	}
	opts := &openapi3filter.Options{
		MultiError: true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			// kin-openapi knows no "uuid" format by default.
			openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)),
		},
	}
	return &Validator{doc: doc, router: router, errorSchema: errRef.Value, opts: opts}
}

// Check fails tb unless resp, the response to req, is what the document
// allows: its status is one the operation lists explicitly (the "default"
// response does not count), its headers match the declared ones (X-Request-ID
// is required everywhere), its Content-Type is declared, and a JSON body
// (respBody, since resp.Body has usually been read already) matches the schema.
// When the body has a request_id, it must equal the X-Request-ID header.
//
// A request to a path or method the document does not know must be answered
// with an error envelope: 404 NOT_FOUND, 405 METHOD_NOT_ALLOWED (with an Allow
// header), or 401, 403 or 429 from the middleware that runs before routing.
// Any other response to such a request fails tb.
//
// Requests are not validated, since tests send invalid ones on purpose;
// reqBody only makes failure messages clearer.
func (v *Validator) Check(tb testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	tb.Helper()
	if err := v.check(req, resp, respBody); err != nil {
		tb.Errorf("openapitest: %s %s -> %d: %v\nrequest body: %s\nresponse headers: %v\nresponse body: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, err, excerpt(reqBody), resp.Header, excerpt(respBody))
	}
}

func (v *Validator) check(req *http.Request, resp *http.Response, body []byte) error {
	if err := checkRequestID(resp.Header, body); err != nil {
		return err
	}

	route, pathParams, err := v.router.FindRoute(req)
	if err != nil {
		if _, ok := errors.AsType[*routers.RouteError](err); !ok {
			return fmt.Errorf("finding the route: %w", err)
		}
		return v.checkUnknownRoute(err, resp, body)
	}

	op := route.Method + " " + route.Path
	responses := route.Operation.Responses
	ref := responses.Status(resp.StatusCode)
	if ref == nil {
		return fmt.Errorf("status %d is not documented for %s (documented: %s)",
			resp.StatusCode, op, strings.Join(documented(responses), ", "))
	}

	ct := resp.Header.Get("Content-Type")
	isJSON := isJSONMediaType(ct)
	if content := ref.Value.Content; len(content) > 0 || len(body) > 0 {
		if content.Get(ct) == nil {
			return fmt.Errorf("Content-Type %q is not documented for %s %d (documented: %s)",
				ct, op, resp.StatusCode, strings.Join(mediaTypes(content), ", "))
		}
	}

	opts := *v.opts
	// kin-openapi decodes JSON bodies only; other bodies (HTML, metrics) are
	// checked for their Content-Type above and nothing more.
	opts.ExcludeResponseBody = !isJSON
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      route,
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("response does not match %s %d: %w", op, resp.StatusCode, err)
	}
	return nil
}

// checkUnknownRoute checks the answer to a request no operation matches.
func (v *Validator) checkUnknownRoute(routeErr error, resp *http.Response, body []byte) error {
	var wantCode string
	switch resp.StatusCode {
	case http.StatusNotFound:
		wantCode = "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		wantCode = "METHOD_NOT_ALLOWED"
		if resp.Header.Get("Allow") == "" {
			return errors.New("405 response has no Allow header")
		}
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		// Authentication, allowlist and rate limit run before routing.
	default:
		return fmt.Errorf("the document has no such operation (%v) and the response is not a 404 or 405 error", routeErr)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		return errors.New("no X-Request-ID header")
	}
	if ct := resp.Header.Get("Content-Type"); !isJSONMediaType(ct) {
		return fmt.Errorf("error response has Content-Type %q, want application/json", ct)
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	opts := append([]openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(), openapi3.VisitAsResponse()},
		v.opts.SchemaValidationOptions...)
	if err := v.errorSchema.VisitJSON(value, opts...); err != nil {
		return fmt.Errorf("error body does not match components/schemas/Error: %w", err)
	}
	if wantCode != "" {
		if code := value.(map[string]any)["error"].(map[string]any)["code"]; code != wantCode {
			return fmt.Errorf("error.code = %v, want %s", code, wantCode)
		}
	}
	return nil
}

// checkRequestID checks that the response has an X-Request-ID header and
// that the request_id of a JSON body, if any, equals it.
func checkRequestID(h http.Header, body []byte) error {
	id := h.Get("X-Request-ID")
	if id == "" {
		return errors.New("no X-Request-ID header")
	}
	if !isJSONMediaType(h.Get("Content-Type")) {
		return nil
	}
	var b struct {
		RequestID *string `json:"request_id"`
		Error     *struct {
			RequestID *string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil // the schema check reports it
	}
	got := b.RequestID
	if got == nil && b.Error != nil {
		got = b.Error.RequestID
	}
	if got != nil && *got != id {
		return fmt.Errorf("body request_id = %q, want the X-Request-ID header %q", *got, id)
	}
	return nil
}

func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func documented(r *openapi3.Responses) []string {
	var codes []string
	for _, k := range r.Keys() {
		if k != "default" {
			codes = append(codes, k)
		}
	}
	slices.Sort(codes)
	return codes
}

func mediaTypes(c openapi3.Content) []string {
	var mts []string
	for mt := range c {
		mts = append(mts, mt)
	}
	slices.Sort(mts)
	return mts
}

// excerpt returns b as text, shortened to keep failure messages readable.
func excerpt(b []byte) string {
	const limit = 2000
	if len(b) > limit {
		return string(b[:limit]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}
