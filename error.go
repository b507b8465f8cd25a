package triggers

import (
	"errors"
	"fmt"
)

// Code classifies an Error. Each code is one row of the API's error table
// (DESIGN §1.2); the HTTP layer maps a code to its status and wire code in one
// place, so nothing below it needs to know about HTTP.
type Code string

// The error codes. Their string values are the codes clients see in the error
// envelope, except EINVALIDID, which is sent as VALIDATION_ERROR with status 422.
const (
	EINVALID      Code = "VALIDATION_ERROR"       // 400: bad body, field or query parameter
	EINVALIDID    Code = "INVALID_EVENT_ID"       // 422: an {event_id} path segment that is not a UUID
	EUNAUTHORIZED Code = "UNAUTHORIZED"           // 401
	EFORBIDDEN    Code = "FORBIDDEN"              // 403
	ENOTFOUND     Code = "NOT_FOUND"              // 404
	EMETHOD       Code = "METHOD_NOT_ALLOWED"     // 405
	ECONFLICT     Code = "CONFLICT"               // 409: already acknowledged
	ETOOLARGE     Code = "PAYLOAD_TOO_LARGE"      // 413
	EMEDIATYPE    Code = "UNSUPPORTED_MEDIA_TYPE" // 415
	EIDEMPOTENCY  Code = "IDEMPOTENCY_KEY_REUSED" // 422
	ERATELIMITED  Code = "RATE_LIMIT_EXCEEDED"    // 429
	EUNAVAILABLE  Code = "SERVICE_UNAVAILABLE"    // 503: the store cannot answer now
	EINTERNAL     Code = "INTERNAL_ERROR"         // 500: a bug
)

// Error is a domain error: a code, a message safe to show to the client, and
// optional details (always a JSON object on the wire). Errors that are not
// *Error are internal by definition and are never shown to clients.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	// Err is the underlying cause, kept for logs; it is never sent to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("triggers: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("triggers: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError names one invalid field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidFields returns an EINVALID error whose details list the fields, as
// DESIGN §1.2 asks: {"fields": [{"field": ..., "message": ...}]}.
func InvalidFields(fields ...FieldError) *Error {
	if fields == nil {
		fields = []FieldError{}
	}
	msg := "request is invalid"
	if len(fields) > 0 {
		msg = fields[0].Field + ": " + fields[0].Message
		if len(fields) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(fields)-1)
		}
	}
	return &Error{Code: EINVALID, Message: msg, Details: map[string]any{"fields": fields}}
}

// ErrorCode returns the code of err: the Code of the first *Error in its chain,
// or EINTERNAL for any other non-nil error, or "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, hiding internals.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// EventNotFound is the ENOTFOUND of an event that is unknown, of another
// tenant, expired or deleted. Every store returns it, so the message a
// client reads does not depend on the backend.
func EventNotFound() *Error { return Errorf(ENOTFOUND, "event not found") }

// The reasons of a CONFLICT (details.reason), one per way an event can be
// in another state than the request needs (DESIGN §10.3).
const (
	ReasonAlreadyAcknowledged = "already_acknowledged"
	ReasonLeaseLost           = "lease_lost"
	ReasonLeaseExpired        = "lease_expired"
	ReasonNotDead             = "not_dead"
)

// conflict returns an ECONFLICT with details.reason.
func conflict(reason, format string, args ...any) *Error {
	e := Errorf(ECONFLICT, format, args...)
	e.Details = map[string]any{"reason": reason}
	return e
}

// AlreadyAcknowledged is the ECONFLICT of acknowledging the event id a
// second time, or of acting on its lease after it was acknowledged, from a
// store or from a repeat within one bulk call.
func AlreadyAcknowledged(id string) *Error {
	return conflict(ReasonAlreadyAcknowledged, "event %s is already acknowledged", id)
}

// LeaseLost is the ECONFLICT of naming a lease that is not the event's
// current one: another receive leased it since, or the lease ended (nack,
// dead letter, redrive), or the event was never leased with that id.
func LeaseLost(id string) *Error {
	return conflict(ReasonLeaseLost, "the lease is no longer held on event %s", id)
}

// LeaseExpired is the ECONFLICT of nacking or extending the event's current
// lease after it expired (it may be received again at any moment).
func LeaseExpired(id string) *Error {
	return conflict(ReasonLeaseExpired, "the lease on event %s has expired", id)
}

// NotDead is the ECONFLICT of redriving an event that is not dead.
func NotDead(id string) *Error {
	return conflict(ReasonNotDead, "event %s is not dead", id)
}

// Unavailable wraps a store failure that a retry may cure (timeouts, throttling,
// a busy or unreachable database) as EUNAVAILABLE.
func Unavailable(err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "the store is unavailable, retry later", Err: err}
}
