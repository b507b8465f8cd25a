package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	triggers "github.com/triggersapi/triggers"
)

// formatTime returns t in the wire form of every timestamp (DESIGN §1).
func formatTime(t time.Time) string { return triggers.FormatTimestamp(t) }

// eventJSON is an event on the wire.
type eventJSON struct {
	EventID        string          `json:"event_id"`
	CreatedAt      string          `json:"created_at"`
	Source         string          `json:"source"`
	EventType      string          `json:"event_type"`
	Payload        json.RawMessage `json:"payload"`
	Status         triggers.Status `json:"status"`
	Metadata       json.RawMessage `json:"metadata"`
	AcknowledgedAt string          `json:"acknowledged_at,omitempty"`
	Attempts       int             `json:"attempts"`
	LeaseExpiresAt string          `json:"lease_expires_at,omitempty"`
	DeadAt         string          `json:"dead_at,omitempty"`
	RequestID      string          `json:"request_id,omitempty"`
}

// toEventJSON returns e on the wire. e is as Service presents it: its
// LeaseExpiresAt is set only while the lease is held (DESIGN §10.1).
func toEventJSON(e *triggers.Event) eventJSON {
	out := eventJSON{EventID: e.ID, CreatedAt: formatTime(e.CreatedAt), Source: e.Source,
		EventType: e.EventType, Payload: e.Payload, Status: e.Status(), Metadata: e.Metadata,
		Attempts: e.Attempts}
	if !e.AcknowledgedAt.IsZero() {
		out.AcknowledgedAt = formatTime(e.AcknowledgedAt)
	}
	if !e.LeaseExpiresAt.IsZero() {
		out.LeaseExpiresAt = formatTime(e.LeaseExpiresAt)
	}
	if e.Status() == triggers.StatusDead { // an acknowledged event may keep its DeadAt
		out.DeadAt = formatTime(e.DeadAt)
	}
	return out
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":    "Triggers",
		"version": s.version,
		"links": map[string]string{
			"docs": "/docs", "openapi": "/openapi.json", "health": "/v1/health",
		},
		"request_id": infoFrom(r.Context()).id,
	})
}

type healthJSON struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	RequestID string `json:"request_id"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthJSON{Status: "healthy", Timestamp: formatTime(s.svc.Now()),
		Version: s.version, RequestID: infoFrom(r.Context()).id})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.writeError(w, r, triggers.Unavailable(err))
		return
	}
	writeJSON(w, http.StatusOK, healthJSON{Status: "ready", Timestamp: formatTime(s.svc.Now()),
		Version: s.version, RequestID: infoFrom(r.Context()).id})
}

// readJSONBody reads a JSON request body of at most limit bytes. It refuses
// a body that is not application/json (EMEDIATYPE) and stops reading at the
// limit (ETOOLARGE).
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if err := checkJSONType(r); err != nil {
		return nil, err
	}
	return readBody(w, r, limit)
}

// readOptionalJSONBody reads the body of a route where no body has a
// meaning (a receive with every default, an unconditional ack, a redrive):
// an empty or blank body is nil whatever its Content-Type, as these routes
// always accepted a request without one; any other body must be
// application/json (EMEDIATYPE) and at most limit bytes (ETOOLARGE).
func readOptionalJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if err := checkJSONType(r); err != nil {
		return nil, err
	}
	return body, nil
}

// checkJSONType refuses a request whose Content-Type is not application/json.
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return triggers.Errorf(triggers.EMEDIATYPE, "the body must be JSON sent with Content-Type: application/json (got %q)", ct)
	}
	return nil
}

// readBody reads the request body, stopping at limit bytes (ETOOLARGE).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	tooLarge := triggers.Errorf(triggers.ETOOLARGE, "the body is larger than the limit of %d bytes", limit)
	tooLarge.Details = map[string]any{"limit_bytes": limit}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, triggers.Errorf(triggers.EINVALID, "could not read the request body: %v", err)
	}
	return body, nil
}

type createResponse struct {
	EventID   string          `json:"event_id"`
	CreatedAt string          `json:"created_at"`
	Status    triggers.Status `json:"status"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
}

func (s *Server) handleCreateEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	body, err := readJSONBody(w, r, triggers.MaxEventBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	headerKey, err := triggers.IdempotencyKeyHeader(r.Header.Values("Idempotency-Key"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ne, err := triggers.ParseNewEvent(body, headerKey, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.CreateEvent(r.Context(), key.Tenant, ne)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msg := "event created"
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		msg = "event already created with this idempotency key; original response replayed"
	}
	writeJSON(w, http.StatusCreated, createResponse{EventID: res.Event.ID, CreatedAt: formatTime(res.Event.CreatedAt),
		Status: triggers.StatusPending, Message: msg, RequestID: infoFrom(r.Context()).id})
}

// eventID returns the {event_id} path segment, validated.
func eventID(r *http.Request) (string, error) {
	return triggers.ParseEventID(r.PathValue("event_id"))
}

func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id, err := eventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.svc.GetEvent(r.Context(), key.Tenant, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := toEventJSON(&e)
	out.RequestID = infoFrom(r.Context()).id
	writeJSON(w, http.StatusOK, out)
}

type ackResponse struct {
	EventID        string          `json:"event_id"`
	Status         triggers.Status `json:"status"`
	AcknowledgedAt string          `json:"acknowledged_at"`
	Message        string          `json:"message"`
	RequestID      string          `json:"request_id"`
}

func (s *Server) handleAckEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id, err := eventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The body is optional: {"lease_id"} makes the ack conditional
	// (DESIGN §10.3); none, as before leases, acknowledges unconditionally.
	body, err := readOptionalJSONBody(w, r, triggers.MaxEventBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	leaseID, err := triggers.ParseAckRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.svc.AckEvent(r.Context(), key.Tenant, id, leaseID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ackResponse{EventID: e.ID, Status: triggers.StatusAcknowledged,
		AcknowledgedAt: formatTime(e.AcknowledgedAt), Message: "event acknowledged", RequestID: infoFrom(r.Context()).id})
}

type deleteResponse struct {
	EventID   string `json:"event_id"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (s *Server) handleDeleteEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id, err := eventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.svc.DeleteEvent(r.Context(), key.Tenant, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The same answer whether or not it existed: deleting is idempotent, and
	// another tenant's event must look exactly like an unknown one.
	writeJSON(w, http.StatusOK, deleteResponse{EventID: id, Message: "event deleted", RequestID: infoFrom(r.Context()).id})
}

func (s *Server) handleInbox(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, triggers.InvalidFields(triggers.FieldError{Field: "query", Message: "is not a valid URL query string: " + err.Error()}))
		return
	}
	req, err := triggers.ParseInboxQuery(query)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	kinds := req.Filter.Kinds()
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	infoFrom(r.Context()).filters = kinds
	for _, k := range kinds {
		s.metrics.inboxFilters.WithLabelValues(k).Inc()
	}
	page, err := s.svc.Inbox(r.Context(), key.Tenant, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Written by hand rather than with json.Marshal: the stored payload and
	// metadata are compact JSON already, and encoding/json would validate and
	// compact every byte of them again (a sixth of the inbox's CPU time).
	size := 256
	for i := range page.Events {
		e := &page.Events[i]
		size += 224 + len(e.ID) + len(e.Source) + len(e.EventType) + len(e.Payload) + len(e.Metadata)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"events":[`...)
	for i := range page.Events {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendEvent(buf, &page.Events[i])
	}
	buf = append(buf, `],"pagination":{"limit":`...)
	buf = strconv.AppendInt(buf, int64(req.Limit), 10)
	if page.NextCursor != "" {
		buf = append(buf, `,"next_cursor":`...)
		buf = appendString(buf, page.NextCursor)
	}
	buf = append(buf, `},"request_id":`...)
	buf = appendString(buf, infoFrom(r.Context()).id)
	buf = append(buf, "}\n"...)
	// With its length known the body goes out in one write, not in chunks.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
}

// appendEvent appends the wire form of e (as eventJSON, without request_id).
// e.Payload and e.Metadata must be compact JSON, as stores return them.
func appendEvent(buf []byte, e *triggers.Event) []byte {
	return append(appendEventFields(buf, e), '}')
}

// appendEventFields appends the wire form of e without its closing brace,
// so that a receive can add the lease.
func appendEventFields(buf []byte, e *triggers.Event) []byte {
	status := e.Status()
	buf = append(buf, `{"event_id":`...)
	buf = appendString(buf, e.ID)
	buf = append(buf, `,"created_at":"`...)
	buf = triggers.AppendTimestamp(buf, e.CreatedAt)
	buf = append(buf, `","source":`...)
	buf = appendString(buf, e.Source)
	buf = append(buf, `,"event_type":`...)
	buf = appendString(buf, e.EventType)
	buf = append(buf, `,"payload":`...)
	buf = append(buf, e.Payload...)
	buf = append(buf, `,"status":"`...)
	buf = append(buf, status...)
	buf = append(buf, `","metadata":`...)
	buf = append(buf, e.Metadata...)
	if !e.AcknowledgedAt.IsZero() {
		buf = append(buf, `,"acknowledged_at":"`...)
		buf = triggers.AppendTimestamp(buf, e.AcknowledgedAt)
		buf = append(buf, '"')
	}
	buf = append(buf, `,"attempts":`...)
	buf = strconv.AppendInt(buf, int64(e.Attempts), 10)
	if !e.LeaseExpiresAt.IsZero() {
		buf = append(buf, `,"lease_expires_at":"`...)
		buf = triggers.AppendTimestamp(buf, e.LeaseExpiresAt)
		buf = append(buf, '"')
	}
	if status == triggers.StatusDead { // an acknowledged event may keep its DeadAt
		buf = append(buf, `,"dead_at":"`...)
		buf = triggers.AppendTimestamp(buf, e.DeadAt)
		buf = append(buf, '"')
	}
	return buf
}

// appendString appends s as a JSON string, escaped as encoding/json does.
// Strings of printable ASCII that encoding/json leaves as they are (ids,
// most sources and types) are copied without it.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
