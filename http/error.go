package http

import (
	"errors"
	"log/slog"
	"net/http"

	triggers "github.com/triggersapi/triggers"
)

// codeStatus maps each domain code to its HTTP status and wire code: the one
// place where the error model meets HTTP (DESIGN §1.2).
var codeStatus = map[triggers.Code]struct {
	status int
	wire   string
}{
	triggers.EINVALID:      {http.StatusBadRequest, "VALIDATION_ERROR"},
	triggers.EINVALIDID:    {http.StatusUnprocessableEntity, "VALIDATION_ERROR"},
	triggers.EUNAUTHORIZED: {http.StatusUnauthorized, "UNAUTHORIZED"},
	triggers.EFORBIDDEN:    {http.StatusForbidden, "FORBIDDEN"},
	triggers.ENOTFOUND:     {http.StatusNotFound, "NOT_FOUND"},
	triggers.EMETHOD:       {http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	triggers.ECONFLICT:     {http.StatusConflict, "CONFLICT"},
	triggers.ETOOLARGE:     {http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
	triggers.EMEDIATYPE:    {http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
	triggers.EIDEMPOTENCY:  {http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED"},
	triggers.ERATELIMITED:  {http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED"},
	triggers.EUNAVAILABLE:  {http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"},
	eURITooLong:            {http.StatusRequestURITooLong, string(eURITooLong)},
	eHeadersTooLong:        {http.StatusRequestHeaderFieldsTooLarge, string(eHeadersTooLong)},
	triggers.EINTERNAL:     {http.StatusInternalServerError, "INTERNAL_ERROR"},
}

// ErrorStatus returns the HTTP status and wire code for err.
func ErrorStatus(err error) (int, string) {
	m, ok := codeStatus[triggers.ErrorCode(err)]
	if !ok {
		m = codeStatus[triggers.EINTERNAL]
	}
	return m.status, m.wire
}

// errorObject is an error on the wire. It is the "error" member of the
// envelope (with the request ID, errorDetail) and of a failed bulk item.
type errorObject struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// errorBody is the error envelope, the body of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail is the envelope's error: the wire error, then the request ID.
type errorDetail struct {
	errorObject
	RequestID string `json:"request_id"`
}

// wireError returns the HTTP status of err and its wire form, for a whole
// response (writeError) and a bulk item (itemFailure) alike. An internal
// error shows neither its message nor its details: they are for the logs.
func wireError(err error) (int, errorObject) {
	status, wire := ErrorStatus(err)
	details := map[string]any{}
	var te *triggers.Error
	if errors.As(err, &te) && te.Details != nil && status != http.StatusInternalServerError {
		details = te.Details
	}
	return status, errorObject{Code: wire, Message: triggers.ErrorMessage(err), Details: details}
}

// writeError writes err in the error envelope. Internal errors are logged
// with the request ID and shown to the client without their details;
// unavailability is logged too, since it needs an operator.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, e := wireError(err)
	info := infoFrom(r.Context())
	info.errCode = e.Code
	closeUnreadBody(w, r, info)
	switch status {
	case http.StatusInternalServerError:
		s.logger.ErrorContext(r.Context(), "internal error", slog.String("request_id", info.id), slog.Any("error", err))
	case http.StatusServiceUnavailable:
		s.logger.WarnContext(r.Context(), "store unavailable", slog.String("request_id", info.id), slog.Any("error", err))
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	s.metrics.errors.WithLabelValues(e.Code).Inc()
	writeJSON(w, status, errorBody{Error: errorDetail{errorObject: e, RequestID: info.id}})
}
