package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	triggers "github.com/triggersapi/triggers"
)

// MaxBulkBytes is the body limit of a bulk request: BulkLimit times the
// single-event limit (DESIGN §5).
const MaxBulkBytes = triggers.BulkLimit * triggers.MaxEventBytes

// The bulk operations, as the op label of triggers_bulk_items_total and in
// the bulk log line.
const (
	bulkCreate = "create"
	bulkAck    = "ack"
	bulkDelete = "delete"
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
func readBulkBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readJSONBody(w, r, MaxBulkBytes)
	if err != nil {
		return err
	}
	if err := triggers.DecodeStrict(body, v); err != nil {
		// DecodeStrict's messages read "<subject> is ...", some naming the body.
		return triggers.InvalidFields(triggers.FieldError{Field: "body", Message: strings.TrimPrefix(err.Error(), "body ")})
	}
	return nil
}

func (s *Server) handleBulkCreate(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := readBulkBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.CreateEvents(r.Context(), key.Tenant, req.Items)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out bulkResponse[bulkCreated]
	for i, cr := range res {
		if cr.Err != nil {
			out.Failed = append(out.Failed, s.itemFailure(r, bulkCreate, i, cr.Err))
			continue
		}
		msg := "event created"
		if cr.Replayed {
			msg = "event already created with this idempotency key; original response replayed"
		}
		out.Successful = append(out.Successful, bulkCreated{Index: i, EventID: cr.Event.ID,
			CreatedAt: formatTime(cr.Event.CreatedAt), Status: triggers.StatusPending, Message: msg,
			IdempotentReplay: cr.Replayed})
	}
	finishBulk(s, w, r, bulkCreate, &out)
}

// readBulkIDs decodes the body of bulk ack and delete.
func (s *Server) readBulkIDs(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var req struct {
		EventIDs []string `json:"event_ids"`
	}
	if err := readBulkBody(w, r, &req); err != nil {
		return nil, err
	}
	return req.EventIDs, nil
}

func (s *Server) handleBulkAck(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	ids, err := s.readBulkIDs(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.AckEvents(r.Context(), key.Tenant, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out bulkResponse[bulkAcked]
	for i, ar := range res {
		if ar.Err != nil {
			out.Failed = append(out.Failed, s.itemFailure(r, bulkAck, i, ar.Err))
			continue
		}
		out.Successful = append(out.Successful, bulkAcked{Index: i, EventID: ar.Event.ID,
			Status: triggers.StatusAcknowledged, AcknowledgedAt: formatTime(ar.Event.AcknowledgedAt)})
	}
	finishBulk(s, w, r, bulkAck, &out)
}

func (s *Server) handleBulkDelete(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	ids, err := s.readBulkIDs(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.DeleteEvents(r.Context(), key.Tenant, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out bulkResponse[bulkDeleted]
	for i, dr := range res {
		if dr.Err != nil {
			out.Failed = append(out.Failed, s.itemFailure(r, bulkDelete, i, dr.Err))
			continue
		}
		out.Successful = append(out.Successful, bulkDeleted{Index: i, EventID: dr.EventID})
	}
	finishBulk(s, w, r, bulkDelete, &out)
}
