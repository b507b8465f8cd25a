package http

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"

	triggers "github.com/triggersapi/triggers"
)

// MaxBulkBytes is the body limit of a bulk request: BulkLimit times the
// single-event limit (DESIGN §5).
const MaxBulkBytes = triggers.BulkLimit * triggers.MaxEventBytes

// The bulk operations, as the op label of triggers_bulk_items_total and in
// the bulk log line.
const (
	bulkCreate  = "create"
	bulkAck     = "ack"
	bulkDelete  = "delete"
	bulkNack    = "nack"
	bulkRedrive = "redrive"
)

// bulkFailure is one entry of a bulk response's "failed" list.
type bulkFailure struct {
	Index int           `json:"index"`
	Error bulkItemError `json:"error"`
}

type bulkItemError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

type bulkCreated struct {
	Index            int             `json:"index"`
	EventID          string          `json:"event_id"`
	CreatedAt        string          `json:"created_at"`
	Status           triggers.Status `json:"status"`
	Message          string          `json:"message"`
	IdempotentReplay bool            `json:"idempotent_replay,omitempty"`
}

type bulkAcked struct {
	Index          int             `json:"index"`
	EventID        string          `json:"event_id"`
	Status         triggers.Status `json:"status"`
	AcknowledgedAt string          `json:"acknowledged_at"`
}

type bulkNacked struct {
	Index       int             `json:"index"`
	EventID     string          `json:"event_id"`
	Status      triggers.Status `json:"status"`
	Attempts    int             `json:"attempts"`
	AvailableAt string          `json:"available_at"`
}

type bulkRedriven struct {
	Index    int             `json:"index"`
	EventID  string          `json:"event_id"`
	Status   triggers.Status `json:"status"`
	Attempts int             `json:"attempts"`
}

type bulkDeleted struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id"`
}

// bulkResponse is the 200 answer of every bulk operation; S is the type of
// a successful entry.
type bulkResponse[S any] struct {
	Successful []S           `json:"successful"`
	Failed     []bulkFailure `json:"failed"`
	RequestID  string        `json:"request_id"`
}

// itemFailure turns a per-item error into its "failed" entry, with the same
// wire code and message the error would have as a whole response. Internal
// errors and store failures are logged, since they need an operator.
func (s *Server) itemFailure(r *http.Request, op string, index int, err error) bulkFailure {
	status, e := wireError(err)
	switch status {
	case http.StatusInternalServerError:
		s.logger.ErrorContext(r.Context(), "internal error in bulk item", slog.String("request_id", infoFrom(r.Context()).id),
			slog.String("op", op), slog.Int("index", index), slog.Any("error", err))
	case http.StatusServiceUnavailable:
		s.logger.WarnContext(r.Context(), "store unavailable for bulk item", slog.String("request_id", infoFrom(r.Context()).id),
			slog.String("op", op), slog.Int("index", index), slog.Any("error", err))
	}
	return bulkFailure{Index: index, Error: bulkItemError(e)}
}

// finishBulk counts the item outcomes, logs the bulk line and writes the 200.
func finishBulk[S any](s *Server, w http.ResponseWriter, r *http.Request, op string, out *bulkResponse[S]) {
	if out.Successful == nil {
		out.Successful = []S{}
	}
	if out.Failed == nil {
		out.Failed = []bulkFailure{}
	}
	out.RequestID = infoFrom(r.Context()).id
	s.metrics.bulkItems.WithLabelValues(op, "OK").Add(float64(len(out.Successful)))
	byCode := map[string]int{}
	for _, f := range out.Failed {
		byCode[f.Error.Code]++
	}
	attrs := []slog.Attr{
		slog.String("request_id", out.RequestID),
		slog.String("op", op),
		slog.Int("items", len(out.Successful)+len(out.Failed)),
		slog.Int("succeeded", len(out.Successful)),
		slog.Int("failed", len(out.Failed)),
	}
	for code, n := range byCode {
		s.metrics.bulkItems.WithLabelValues(op, code).Add(float64(n))
	}
	if len(byCode) > 0 {
		codes := make([]any, 0, len(byCode))
		for code, n := range byCode {
			codes = append(codes, slog.Int(code, n))
		}
		attrs = append(attrs, slog.Group("failed_by_code", codes...))
	}
	if info := infoFrom(r.Context()); info.keyID != "" {
		attrs = append(attrs, slog.String("key_id", info.keyID))
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "bulk", attrs...)
	writeJSON(w, http.StatusOK, out)
}

// readBulkBody reads a bulk body and decodes it strictly into v, a struct
// with one list field: any failure is the whole request's.
func (s *Server) readBulkBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readJSONBody(w, r, MaxBulkBytes)
	if err != nil {
		return err
	}
	return triggers.DecodeStrict(body, v)
}

// answerBulk writes the answer to a bulk request whose service call
// returned res and err: err fails the whole request; otherwise item turns
// each result into its "successful" entry, or returns the item's error for
// its "failed" entry.
func answerBulk[R, S any](s *Server, w http.ResponseWriter, r *http.Request, op string, res []R, err error, item func(int, R) (S, error)) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out bulkResponse[S]
	for i, x := range res {
		ok, err := item(i, x)
		if err != nil {
			out.Failed = append(out.Failed, s.itemFailure(r, op, i, err))
			continue
		}
		out.Successful = append(out.Successful, ok)
	}
	finishBulk(s, w, r, op, &out)
}

func (s *Server) handleBulkCreate(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	body, err := s.readJSONBody(w, r, MaxBulkBytes)
	if err == nil {
		var ok bool
		if req.Items, ok = triggers.SplitList(body, "items"); !ok {
			err = triggers.DecodeStrict(body, &req) // says what is wrong
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.CreateEvents(r.Context(), key.Tenant, req.Items)
	answerBulk(s, w, r, bulkCreate, res, err, func(i int, cr triggers.CreateResult) (bulkCreated, error) {
		msg := "event created"
		if cr.Replayed {
			msg = "event already created with this idempotency key; original response replayed"
		}
		return bulkCreated{Index: i, EventID: cr.Event.ID, CreatedAt: formatTime(cr.Event.CreatedAt),
			Status: triggers.StatusPending, Message: msg, IdempotentReplay: cr.Replayed}, cr.Err
	})
}

// readBulkIDs decodes the body of bulk delete and redrive.
func (s *Server) readBulkIDs(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var req struct {
		EventIDs []string `json:"event_ids"`
	}
	if err := s.readBulkBody(w, r, &req); err != nil {
		return nil, err
	}
	return req.EventIDs, nil
}

// handleBulkAck acknowledges {"event_ids": [...]} or, conditionally on
// their leases, {"items": [{"event_id", "lease_id"}]}: exactly one of the two.
func (s *Server) handleBulkAck(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	var req struct {
		EventIDs json.RawMessage `json:"event_ids"`
		Items    json.RawMessage `json:"items"`
	}
	if err := s.readBulkBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	hasIDs, hasItems := len(req.EventIDs) > 0 && !isJSONNull(req.EventIDs), len(req.Items) > 0 && !isJSONNull(req.Items)
	var res []triggers.AckResult
	var err error
	switch {
	case hasIDs && hasItems:
		err = triggers.InvalidFields(triggers.FieldError{Field: "items",
			Message: "give event_ids or items, not both"})
	case hasItems:
		var items []json.RawMessage
		if json.Unmarshal(req.Items, &items) != nil {
			err = triggers.InvalidFields(triggers.FieldError{Field: "items",
				Message: "must be an array of 1 to 25 objects {\"event_id\", \"lease_id\"}"})
			break
		}
		res, err = s.svc.AckItems(r.Context(), key.Tenant, items)
	default:
		var ids []string
		if hasIDs && json.Unmarshal(req.EventIDs, &ids) != nil {
			err = triggers.InvalidFields(triggers.FieldError{Field: "event_ids",
				Message: "must be an array of 1 to 25 event id strings"})
			break
		}
		res, err = s.svc.AckEvents(r.Context(), key.Tenant, ids)
	}
	answerBulk(s, w, r, bulkAck, res, err, func(i int, ar triggers.AckResult) (bulkAcked, error) {
		return bulkAcked{Index: i, EventID: ar.Event.ID, Status: triggers.StatusAcknowledged,
			AcknowledgedAt: formatTime(ar.Event.AcknowledgedAt)}, ar.Err
	})
}

func isJSONNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func (s *Server) handleBulkNack(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := s.readBulkBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.NackEvents(r.Context(), key.Tenant, req.Items)
	answerBulk(s, w, r, bulkNack, res, err, func(i int, er triggers.EventResult) (bulkNacked, error) {
		if er.Err != nil {
			return bulkNacked{}, er.Err
		}
		s.metrics.nacks.Inc()
		return bulkNacked{Index: i, EventID: er.Event.ID, Status: triggers.StatusPending,
			Attempts: er.Event.Attempts, AvailableAt: s.availableAt(&er.Event)}, nil
	})
}

func (s *Server) handleBulkRedrive(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	ids, err := s.readBulkIDs(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.RedriveEvents(r.Context(), key.Tenant, ids)
	answerBulk(s, w, r, bulkRedrive, res, err, func(i int, er triggers.EventResult) (bulkRedriven, error) {
		if er.Err != nil {
			return bulkRedriven{}, er.Err
		}
		s.metrics.redriven.Inc()
		return bulkRedriven{Index: i, EventID: er.Event.ID, Status: triggers.StatusPending,
			Attempts: er.Event.Attempts}, nil
	})
}

func (s *Server) handleBulkDelete(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	ids, err := s.readBulkIDs(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.DeleteEvents(r.Context(), key.Tenant, ids)
	answerBulk(s, w, r, bulkDelete, res, err, func(i int, dr triggers.DeleteResult) (bulkDeleted, error) {
		return bulkDeleted{Index: i, EventID: dr.EventID}, dr.Err
	})
}
