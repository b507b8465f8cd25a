package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
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
func (s *Server) readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if err := checkJSONType(r); err != nil {
		return nil, err
	}
	return s.readBody(w, r, limit)
}

// readOptionalJSONBody reads the body of a route where no body has a
// meaning (a receive with every default, an unconditional ack, a redrive):
// an empty or blank body is nil whatever its Content-Type, as these routes
// always accepted a request without one; any other body must be
// application/json (EMEDIATYPE) and at most limit bytes (ETOOLARGE).
func (s *Server) readOptionalJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		// Too large, so not blank: its media type is checked before its
		// size, as for every other body (API.md). A smaller body is read
		// first, since a blank one needs no media type.
		if err := checkJSONType(r); err != nil {
			return nil, err
		}
	}
	body, err := s.readBody(w, r, limit)
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

type createResponse struct {
	EventID   string          `json:"event_id"`
	CreatedAt string          `json:"created_at"`
	Status    triggers.Status `json:"status"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
}

func (s *Server) handleCreateEvent(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	body, err := s.readJSONBody(w, r, triggers.MaxEventBytes)
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
	body, err := s.readOptionalJSONBody(w, r, triggers.MaxEventBytes)
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
	head := []byte(`{"events":[`)
	tail := append([]byte(nil), `],"pagination":{"limit":`...)
	tail = strconv.AppendInt(tail, int64(req.Limit), 10)
	if page.NextCursor != "" {
		tail = append(tail, `,"next_cursor":`...)
		tail = appendString(tail, page.NextCursor)
	}
	tail = append(tail, `},"request_id":`...)
	tail = appendString(tail, infoFrom(r.Context()).id)
	tail = append(tail, "}\n"...)
	writeEvents(w, head, page.Events, endEvent, tail)
}

// writeEvents writes a 200 whose JSON body is head, the events separated by
// commas, then trailer, with its Content-Length; each event is its wire
// form up to its metadata (appendEventHead, its payload, appendEventMiddle,
// its metadata) and then what end appends. The body is written by hand
// rather than with json.Marshal: the stored payload and metadata are
// compact JSON already, and encoding/json would validate and compact every
// byte of them again (a sixth of the inbox's CPU time).
//
// It never holds the whole body (issue 14): a page of large events would
// be held twice, as events and as their wire form, for as long as a slow
// client takes to read it. It first writes the events without their
// payload and metadata (the skeleton, a few hundred bytes each), which
// gives the exact length, since payload and metadata are copied verbatim;
// then it sends the body in chunks of about writeChunk bytes through a
// pooled buffer, a large payload or metadata straight from the event, and
// drops each event's payload and metadata once sent, so that what was sent
// can be reclaimed while the rest goes out. events is the caller's to give
// up: their Payload and Metadata are nil afterwards. It stops at the first
// write error (the client is gone, or the write timeout passed), which
// withRequestLog logs.
func writeEvents(w http.ResponseWriter, head []byte, events []triggers.Event, end func([]byte, *triggers.Event) []byte, trailer []byte) {
	b := eventBuffers.Get().(*eventBuffer)
	defer b.release()
	n := len(head) + len(trailer) + max(len(events)-1, 0)
	for i := range events {
		e := &events[i]
		b.skel = appendEventHead(b.skel, e)
		b.marks = append(b.marks, len(b.skel))
		b.skel = appendEventMiddle(b.skel, e)
		b.marks = append(b.marks, len(b.skel))
		b.skel = end(b.skel, e)
		b.marks = append(b.marks, len(b.skel))
		n += len(e.Payload) + len(e.Metadata)
	}
	n += len(b.skel)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)

	b.w = w
	b.chunk = append(b.chunk, head...)
	from := 0
	for i := range events {
		e := &events[i]
		if i > 0 {
			b.chunk = append(b.chunk, ',')
		}
		m := b.marks[3*i : 3*i+3]
		b.chunk = append(b.chunk, b.skel[from:m[0]]...)
		b.put(e.Payload)
		b.chunk = append(b.chunk, b.skel[m[0]:m[1]]...)
		b.put(e.Metadata)
		b.chunk = append(b.chunk, b.skel[m[1]:m[2]]...)
		from = m[2]
		e.Payload, e.Metadata = nil, nil
		if len(b.chunk) >= writeChunk {
			b.flush()
		}
		if b.err != nil {
			return
		}
	}
	b.chunk = append(b.chunk, trailer...)
	b.flush()
}

// writeChunk is about how many bytes writeEvents hands to the connection
// at a time: enough to take few system calls, small beside a page.
const writeChunk = 32 << 10

// eventBuffer is writeEvents' working memory, pooled (eventBuffers) so
// that a page costs no fresh chunk buffer: the skeleton of the events and
// where each one's payload and metadata go (three marks per event), and
// the chunk being filled for the writer w, with its first write error.
type eventBuffer struct {
	skel  []byte
	marks []int
	chunk []byte
	w     io.Writer
	err   error
}

var eventBuffers = sync.Pool{New: func() any { return &eventBuffer{chunk: make([]byte, 0, 2*writeChunk)} }}

// put adds raw JSON to the body: into the chunk, or, when large, written
// as it is after the chunk.
func (b *eventBuffer) put(raw []byte) {
	if len(raw) < writeChunk/2 {
		b.chunk = append(b.chunk, raw...)
		return
	}
	b.flush()
	if b.err == nil {
		_, b.err = b.w.Write(raw)
	}
}

// flush writes the chunk, unless a write failed already.
func (b *eventBuffer) flush() {
	if b.err == nil && len(b.chunk) > 0 {
		_, b.err = b.w.Write(b.chunk)
	}
	b.chunk = b.chunk[:0]
}

// release empties b and puts it back in the pool, unless a page of many
// events grew it beyond what an ordinary page needs.
func (b *eventBuffer) release() {
	if cap(b.skel) > 256<<10 || cap(b.chunk) > 4*writeChunk {
		return
	}
	*b = eventBuffer{skel: b.skel[:0], marks: b.marks[:0], chunk: b.chunk[:0]}
	eventBuffers.Put(b)
}

// appendEvent appends the wire form of e (as eventJSON, without request_id).
// e.Payload and e.Metadata must be compact JSON, as stores return them.
func appendEvent(buf []byte, e *triggers.Event) []byte { return appendWith(buf, e, endEvent) }

// appendWith appends the wire form of e with end as its last part.
func appendWith(buf []byte, e *triggers.Event, end func([]byte, *triggers.Event) []byte) []byte {
	buf = appendEventHead(buf, e)
	buf = append(buf, e.Payload...)
	buf = appendEventMiddle(buf, e)
	buf = append(buf, e.Metadata...)
	return end(buf, e)
}

// appendEventHead appends the start of e's wire form, up to its payload.
func appendEventHead(buf []byte, e *triggers.Event) []byte {
	buf = append(buf, `{"event_id":`...)
	buf = appendString(buf, e.ID)
	buf = append(buf, `,"created_at":"`...)
	buf = triggers.AppendTimestamp(buf, e.CreatedAt)
	buf = append(buf, `","source":`...)
	buf = appendString(buf, e.Source)
	buf = append(buf, `,"event_type":`...)
	buf = appendString(buf, e.EventType)
	return append(buf, `,"payload":`...)
}

// appendEventMiddle appends what comes between e's payload and metadata.
func appendEventMiddle(buf []byte, e *triggers.Event) []byte {
	buf = append(buf, `,"status":"`...)
	buf = append(buf, e.Status()...)
	return append(buf, `","metadata":`...)
}

// appendEventTail appends the fields after e's metadata, without the
// closing brace, so that a receive can add the lease.
func appendEventTail(buf []byte, e *triggers.Event) []byte {
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
	if e.Status() == triggers.StatusDead { // an acknowledged event may keep its DeadAt
		buf = append(buf, `,"dead_at":"`...)
		buf = triggers.AppendTimestamp(buf, e.DeadAt)
		buf = append(buf, '"')
	}
	return buf
}

// endEvent ends an event of the inbox: its last fields and the brace.
func endEvent(buf []byte, e *triggers.Event) []byte { return append(appendEventTail(buf, e), '}') }

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
