package http

import (
	"net/http"
	"net/url"

	triggers "github.com/triggersapi/triggers"
)

// The inbox statistics (DESIGN §12): GET /v1/stats. The query is parsed by
// triggers.ParseStatsQuery and the numbers are Service.Stats'; here is only
// the wire form.

// statsResponse is the 200 answer of GET /v1/stats.
type statsResponse struct {
	Pending int64 `json:"pending"`
	Leased  int64 `json:"leased"`
	Dead    int64 `json:"dead"`
	// OldestPendingCreatedAt is null when nothing is pending.
	OldestPendingCreatedAt  *string           `json:"oldest_pending_created_at"`
	OldestPendingAgeSeconds int64             `json:"oldest_pending_age_seconds"`
	PerMinute               []minuteStatsJSON `json:"per_minute"`
	// BySource is [] (never null) when nothing is pending.
	BySource    []sourceCountJSON `json:"by_source"`
	Approximate bool              `json:"approximate"`
	RequestID   string            `json:"request_id"`
}

// minuteStatsJSON is one minute of statsResponse.PerMinute.
type minuteStatsJSON struct {
	Minute       string `json:"minute"`
	Created      int64  `json:"created"`
	Acknowledged int64  `json:"acknowledged"`
}

// sourceCountJSON is one source of statsResponse.BySource.
type sourceCountJSON struct {
	Source  string `json:"source"`
	Pending int64  `json:"pending"`
}

// toStatsResponse returns st on the wire.
func toStatsResponse(st triggers.StatsResult, requestID string) statsResponse {
	out := statsResponse{Pending: st.Pending, Leased: st.Leased, Dead: st.Dead,
		OldestPendingAgeSeconds: st.OldestPendingAge, Approximate: st.Approximate, RequestID: requestID,
		PerMinute: make([]minuteStatsJSON, len(st.PerMinute)), BySource: make([]sourceCountJSON, len(st.BySource))}
	if !st.OldestPending.IsZero() {
		ts := formatTime(st.OldestPending)
		out.OldestPendingCreatedAt = &ts
	}
	for i, m := range st.PerMinute {
		out.PerMinute[i] = minuteStatsJSON{Minute: formatTime(m.Minute), Created: m.Created, Acknowledged: m.Acknowledged}
	}
	for i, c := range st.BySource {
		out.BySource[i] = sourceCountJSON{Source: c.Source, Pending: c.Pending}
	}
	return out
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, triggers.InvalidFields(triggers.FieldError{Field: "query", Message: "is not a valid URL query string: " + err.Error()}))
		return
	}
	req, err := triggers.ParseStatsQuery(query)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The request's log line names the kinds of filter used, never their
	// values, as the inbox's does.
	info := infoFrom(r.Context())
	info.filters = (triggers.InboxFilter{Source: req.Source, EventType: req.EventType}).Kinds()
	if len(info.filters) == 0 {
		info.filters = []string{"none"}
	}
	st, err := s.svc.Stats(r.Context(), key.Tenant, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toStatsResponse(st, info.id))
}
