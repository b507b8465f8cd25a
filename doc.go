// Package triggers is the domain of Triggers, an event ingestion and inbox
// API: systems POST events, and a consumer reads its tenant's pending events
// oldest first, acknowledges or deletes them. The package holds the rules of
// that domain and imports nothing but the standard library.
//
// The domain types:
//
//   - Event is a stored event; NewEvent is one being created, validated by
//     ParseNewEvent. Its metadata carries the priority, the idempotency key and
//     the caller's own filterable fields.
//   - InboxFilter is what an inbox listing selects (source, event type,
//     priority, metadata conditions, a creation range); ParseInboxQuery reads
//     it, with the page size and a Cursor, from a query string. A Cursor
//     continues one listing and is bound to its filter by a hash.
//   - APIKey is a tenant's credential, with its own rate limit and optional
//     IP allowlist; only the key's hash is stored.
//   - Error is a failure with a Code (EINVALID, ENOTFOUND, ...), a message
//     safe for clients and details. Each Code is one row of the API's error
//     table; any error that is not an *Error is internal.
//
// Service applies the rules: validation, ids, the clock, tenancy,
// idempotency, retention, cursors and limits, and key management. It stores
// through the Store interface, which has storage verbs only.
//
// The subpackages:
//
//   - sqlite (embedded, one server) and dynamodb (any number of servers)
//     implement Store; storetest is the conformance suite both run.
//   - http serves the v1 API over a Service: routes, the request pipeline
//     (authentication, IP allowlist from package clientip, rate limit from
//     package ratelimit), JSON and the error envelope; http/openapi holds
//     the OpenAPI document and http/ui the dashboard.
//   - client is a Go client of the API, over HTTP only.
//   - internal/app reads the configuration and wires a store, the Service
//     and the HTTP server for the binaries in cmd/triggers and
//     cmd/triggers-lambda.
package triggers
