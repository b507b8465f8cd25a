package http

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	triggers "github.com/triggersapi/triggers"
)

// The routes of leases (DESIGN §10): receive, nack, extend, redrive and
// their bulk forms; the conditional ack is handleAckEvent's optional body
// and handleBulkAck's items form. The bodies are validated by the parsers
// of package triggers (lease.go), the work is Service's (service_lease.go):
// here are only the wire forms, the log line of a receive and the metrics.

// leaseJSON is a lease on the wire: the id that acts on it and its expiry.
type leaseJSON struct {
	LeaseID   string `json:"lease_id"`
	ExpiresAt string `json:"expires_at"`
}

func (s *Server) handleReceive(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	body, err := s.readOptionalJSONBody(w, r, triggers.MaxEventBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := triggers.ParseReceiveRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.releaseBody(r) // parsed: a long poll must not hold the body budget
	info := infoFrom(r.Context())
	kinds := req.Filter.Kinds()
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	info.filters = kinds
	res, err := s.svc.Receive(r.Context(), key.Tenant, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	redelivered := 0
	for i := range res.Events {
		if res.Events[i].Attempts > 1 {
			redelivered++
		}
	}
	s.metrics.leasesGranted.Add(float64(len(res.Events)))
	s.metrics.redeliveries.Add(float64(redelivered))
	s.metrics.deadLettered.Add(float64(res.DeadLettered))
	attrs := []slog.Attr{
		slog.String("request_id", info.id),
		slog.Int("leased", len(res.Events)),
		slog.Int("redelivered", redelivered),
		slog.Int("dead_lettered", res.DeadLettered),
		slog.Int64("waited_ms", res.Waited.Milliseconds()),
		slog.Int("wait_seconds", int(req.Wait/time.Second)),
		slog.Int("max_events", req.MaxEvents),
		slog.String("filters", strings.Join(kinds, ",")),
	}
	if info.keyID != "" {
		attrs = append(attrs, slog.String("key_id", info.keyID))
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "receive", attrs...)

	// Written as the inbox is (writeEvents), with each event's lease.
	tail := append([]byte(nil), `],"request_id":`...)
	tail = appendString(tail, info.id)
	tail = append(tail, "}\n"...)
	writeEvents(w, []byte(`{"events":[`), res.Events, endReceived, tail)
}

// appendReceived appends the wire form of a received event: the event, as
// appendEvent writes it, with its "lease".
func appendReceived(buf []byte, e *triggers.Event) []byte { return appendWith(buf, e, endReceived) }

// endReceived ends a received event: its last fields, its lease and the
// brace.
func endReceived(buf []byte, e *triggers.Event) []byte {
	buf = appendEventTail(buf, e)
	buf = append(buf, `,"lease":{"lease_id":`...)
	buf = appendString(buf, e.LeaseID)
	buf = append(buf, `,"expires_at":"`...)
	buf = triggers.AppendTimestamp(buf, e.LeaseExpiresAt)
	return append(buf, `"}}`...)
}

type nackResponse struct {
	EventID     string          `json:"event_id"`
	Status      triggers.Status `json:"status"`
	Attempts    int             `json:"attempts"`
	AvailableAt string          `json:"available_at"`
	Message     string          `json:"message"`
	RequestID   string          `json:"request_id"`
}

func (s *Server) handleNackEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id, body, err := s.eventIDAndBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := triggers.ParseNackRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.svc.NackEvent(r.Context(), key.Tenant, id, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.nacks.Inc()
	writeJSON(w, http.StatusOK, nackResponse{EventID: e.ID, Status: triggers.StatusPending, Attempts: e.Attempts,
		AvailableAt: s.availableAt(&e), Message: "lease ended; the event will be received again from available_at",
		RequestID: infoFrom(r.Context()).id})
}

// availableAt is when a nacked event can be received again: its nack delay's
// end, or (without a delay, which Service does not show once it has passed)
// now.
func (s *Server) availableAt(e *triggers.Event) string {
	if e.AvailableAt.IsZero() {
		return formatTime(s.svc.Now())
	}
	return formatTime(e.AvailableAt)
}

type extendResponse struct {
	EventID   string    `json:"event_id"`
	Lease     leaseJSON `json:"lease"`
	RequestID string    `json:"request_id"`
}

func (s *Server) handleExtendLease(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id, body, err := s.eventIDAndBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := triggers.ParseExtendRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.svc.ExtendLease(r.Context(), key.Tenant, id, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Service never shows a lease id; the caller's is the event's lease.
	writeJSON(w, http.StatusOK, extendResponse{EventID: e.ID,
		Lease:     leaseJSON{LeaseID: req.LeaseID, ExpiresAt: formatTime(e.LeaseExpiresAt)},
		RequestID: infoFrom(r.Context()).id})
}

type redriveResponse struct {
	EventID   string          `json:"event_id"`
	Status    triggers.Status `json:"status"`
	Attempts  int             `json:"attempts"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
}

func (s *Server) handleRedriveEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id, body, err := s.eventIDAndBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := parseEmptyBody(body); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.svc.RedriveEvent(r.Context(), key.Tenant, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.redriven.Inc()
	writeJSON(w, http.StatusOK, redriveResponse{EventID: e.ID, Status: triggers.StatusPending, Attempts: e.Attempts,
		Message: "event redriven: pending and available again", RequestID: infoFrom(r.Context()).id})
}

// eventIDAndBody returns the path's event id (EINVALIDID, 422, first, as
// every route on one event answers) and the optional JSON body of a route
// on one event.
func (s *Server) eventIDAndBody(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	id, err := eventID(r)
	if err != nil {
		return "", nil, err
	}
	body, err := s.readOptionalJSONBody(w, r, triggers.MaxEventBytes)
	return id, body, err
}

// parseEmptyBody accepts the body of a route that takes none: nothing, or
// an empty JSON object. Anything else is EINVALID naming each field, so
// that a field a client thought meant something is not silently ignored.
func parseEmptyBody(body []byte) error {
	if body == nil {
		return nil
	}
	if !utf8.Valid(body) {
		return triggers.InvalidFields(triggers.FieldError{Field: "body", Message: "is not valid UTF-8"})
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return triggers.InvalidFields(triggers.FieldError{Field: "body", Message: "must be empty or an empty JSON object {}"})
	}
	var bad []triggers.FieldError
	for _, name := range slices.Sorted(maps.Keys(m)) {
		bad = append(bad, triggers.FieldError{Field: name, Message: "unknown field: this request takes no fields"})
	}
	if bad != nil {
		return triggers.InvalidFields(bad...)
	}
	return nil
}
