package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"

	triggers "github.com/triggersapi/triggers"
)

// The routes of push delivery (DESIGN §11): subscriptions, their secret,
// their delivery log, retry and replay. The bodies are validated and the
// work is done by Service (service_webhook.go); here are the wire forms,
// the log lines and the headers of an answer that carries a secret.

// MaxSubscriptionBodyBytes bounds the body of a subscription create, patch
// or replay: a url, a description and a filter fit in a few KiB.
const MaxSubscriptionBodyBytes = 64 << 10

// subscriptionJSON is a subscription on the wire. Secret is set only in
// the answers of a create and a rotation; RequestID only when the object
// is the whole answer.
type subscriptionJSON struct {
	SubscriptionID string          `json:"subscription_id"`
	URL            string          `json:"url"`
	Description    string          `json:"description"`
	Filter         json.RawMessage `json:"filter"`
	AckOnDelivery  bool            `json:"ack_on_delivery"`
	Status         string          `json:"status"`
	// FailingSince is when the subscription's deliveries started failing
	// without a success since: absent while they succeed. A subscription
	// failing for triggers.SubscriptionDisableAfter is disabled.
	FailingSince string `json:"failing_since,omitempty"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
	Secret       string `json:"secret,omitempty"`
	RequestID    string `json:"request_id,omitempty"`
}

// toSubscriptionJSON returns sub on the wire, without its secret.
func toSubscriptionJSON(sub *triggers.Subscription) subscriptionJSON {
	out := subscriptionJSON{SubscriptionID: sub.ID, URL: sub.URL, Description: sub.Description,
		Filter: triggers.MarshalFilter(sub.Filter), AckOnDelivery: sub.AckOnDelivery, Status: string(sub.Status),
		CreatedAt: formatTime(sub.CreatedAt), UpdatedAt: formatTime(sub.UpdatedAt)}
	if !sub.FailingSince.IsZero() {
		out.FailingSince = formatTime(sub.FailingSince)
	}
	return out
}

// subscriptionID returns the {subscription_id} path segment.
func subscriptionID(r *http.Request) string { return r.PathValue("subscription_id") }

// noStore marks an answer that carries a secret: no cache may keep it.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

// logSubscription writes the log line of a change to a subscription: what
// was done, to which subscription, by which key, and the host it delivers
// to. Never the secret, nor the whole url (its path or query may carry a
// receiver's token).
func (s *Server) logSubscription(r *http.Request, msg string, sub *triggers.Subscription) {
	info := infoFrom(r.Context())
	attrs := []slog.Attr{slog.String("request_id", info.id), slog.String("subscription_id", sub.ID)}
	if info.keyID != "" {
		attrs = append(attrs, slog.String("key_id", info.keyID))
	}
	if u, err := url.Parse(sub.URL); err == nil && u.Host != "" {
		attrs = append(attrs, slog.String("url_host", u.Host))
	}
	if sub.Status != "" {
		attrs = append(attrs, slog.String("status", string(sub.Status)))
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, msg, attrs...)
}

func (s *Server) handleCreateSubscription(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	body, err := s.readJSONBody(w, r, MaxSubscriptionBodyBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.svc.CreateSubscription(r.Context(), key.Tenant, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.logSubscription(r, "subscription created", &sub)
	out := toSubscriptionJSON(&sub)
	out.Secret, out.RequestID = sub.Secret, infoFrom(r.Context()).id
	noStore(w)
	w.Header().Set("Location", "/v1/subscriptions/"+sub.ID)
	writeJSON(w, http.StatusCreated, out)
}

// subscriptionsResponse is a page of subscriptions.
type subscriptionsResponse struct {
	Subscriptions []subscriptionJSON `json:"subscriptions"`
	Pagination    paginationJSON     `json:"pagination"`
	RequestID     string             `json:"request_id"`
}

// paginationJSON is the pagination member of a paged answer.
type paginationJSON struct {
	Limit      int    `json:"limit"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// parseQuery returns the request's query parameters, or the 400 of a query
// string that does not parse.
func parseQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, triggers.InvalidFields(triggers.FieldError{Field: "query", Message: "is not a valid URL query string: " + err.Error()})
	}
	return q, nil
}

func (s *Server) handleListSubscriptions(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.svc.ListSubscriptions(r.Context(), key.Tenant, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := subscriptionsResponse{Subscriptions: make([]subscriptionJSON, 0, len(page.Subscriptions)),
		Pagination: paginationJSON{Limit: page.Limit, NextCursor: page.NextCursor}, RequestID: infoFrom(r.Context()).id}
	for i := range page.Subscriptions {
		out.Subscriptions = append(out.Subscriptions, toSubscriptionJSON(&page.Subscriptions[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// writeSubscription answers 200 with sub, without its secret.
func writeSubscription(w http.ResponseWriter, r *http.Request, sub *triggers.Subscription) {
	out := toSubscriptionJSON(sub)
	out.RequestID = infoFrom(r.Context()).id
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetSubscription(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	sub, err := s.svc.GetSubscription(r.Context(), key.Tenant, subscriptionID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeSubscription(w, r, &sub)
}

func (s *Server) handleUpdateSubscription(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	body, err := s.readJSONBody(w, r, MaxSubscriptionBodyBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.svc.UpdateSubscription(r.Context(), key.Tenant, subscriptionID(r), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.logSubscription(r, "subscription updated", &sub)
	writeSubscription(w, r, &sub)
}

// deleteSubscriptionResponse answers a delete, as deleteResponse does for
// an event.
type deleteSubscriptionResponse struct {
	SubscriptionID string `json:"subscription_id"`
	Message        string `json:"message"`
	RequestID      string `json:"request_id"`
}

func (s *Server) handleDeleteSubscription(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	id := subscriptionID(r)
	if err := s.svc.DeleteSubscription(r.Context(), key.Tenant, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	canon, _ := triggers.ParseEventID(id) // the Service accepted it: a UUID
	s.logSubscription(r, "subscription deleted", &triggers.Subscription{ID: canon})
	writeJSON(w, http.StatusOK, deleteSubscriptionResponse{SubscriptionID: canon, Message: "subscription deleted",
		RequestID: infoFrom(r.Context()).id})
}

// secretResponse is the answer of GET /v1/subscriptions/{id}/secret.
type secretResponse struct {
	Secret    string `json:"secret"`
	RequestID string `json:"request_id"`
}

func (s *Server) handleSubscriptionSecret(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	sub, err := s.svc.GetSubscription(r.Context(), key.Tenant, subscriptionID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, secretResponse{Secret: sub.Secret, RequestID: infoFrom(r.Context()).id})
}

func (s *Server) handleRotateSecret(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	// No body has a meaning; one sent must still be JSON of the usual size.
	if _, err := s.readOptionalJSONBody(w, r, MaxSubscriptionBodyBytes); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.svc.RotateSecret(r.Context(), key.Tenant, subscriptionID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.logSubscription(r, "subscription secret rotated", &sub)
	out := toSubscriptionJSON(&sub)
	out.Secret, out.RequestID = sub.Secret, infoFrom(r.Context()).id
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}

// deliveryJSON is a delivery on the wire. RequestID is set when the
// delivery is the whole answer (a retry).
type deliveryJSON struct {
	EventID        string        `json:"event_id"`
	Status         string        `json:"status"`
	NextAttemptAt  string        `json:"next_attempt_at,omitempty"`
	Attempts       []attemptJSON `json:"attempts"`
	SubscriptionID string        `json:"subscription_id,omitempty"`
	RequestID      string        `json:"request_id,omitempty"`
}

// attemptJSON is one attempt of a delivery's log.
type attemptJSON struct {
	At         string  `json:"at"`
	StatusCode int     `json:"status_code,omitempty"`
	Error      string  `json:"error,omitempty"`
	LatencyMS  float64 `json:"latency_ms"`
}

// toDeliveryJSON returns d on the wire: next_attempt_at only while it is
// pending, the attempts oldest first.
func toDeliveryJSON(d *triggers.Delivery) deliveryJSON {
	out := deliveryJSON{EventID: d.EventID, Status: string(d.Status), Attempts: make([]attemptJSON, 0, len(d.Attempts))}
	if d.Status == triggers.DeliveryPending && !d.NextAttemptAt.IsZero() {
		out.NextAttemptAt = formatTime(d.NextAttemptAt)
	}
	for _, a := range d.Attempts {
		out.Attempts = append(out.Attempts, attemptJSON{At: formatTime(a.At), StatusCode: a.StatusCode, Error: a.Error,
			LatencyMS: float64(a.Latency.Microseconds()) / 1000})
	}
	return out
}

// deliveriesResponse is a page of a subscription's deliveries.
type deliveriesResponse struct {
	Deliveries []deliveryJSON `json:"deliveries"`
	Pagination paginationJSON `json:"pagination"`
	RequestID  string         `json:"request_id"`
}

func (s *Server) handleDeliveries(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	q, err := parseQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.svc.Deliveries(r.Context(), key.Tenant, subscriptionID(r), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := deliveriesResponse{Deliveries: make([]deliveryJSON, 0, len(page.Deliveries)),
		Pagination: paginationJSON{Limit: page.Limit, NextCursor: page.NextCursor}, RequestID: infoFrom(r.Context()).id}
	for i := range page.Deliveries {
		out.Deliveries = append(out.Deliveries, toDeliveryJSON(&page.Deliveries[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRetryDelivery(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	if _, err := s.readOptionalJSONBody(w, r, MaxSubscriptionBodyBytes); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.RetryDelivery(r.Context(), key.Tenant, subscriptionID(r), r.PathValue("event_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info := infoFrom(r.Context())
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "delivery retry queued", slog.String("request_id", info.id),
		slog.String("subscription_id", d.SubscriptionID), slog.String("event_id", d.EventID))
	out := toDeliveryJSON(&d)
	out.SubscriptionID, out.RequestID = d.SubscriptionID, info.id
	writeJSON(w, http.StatusAccepted, out)
}

// replayResponse is the answer of a replay.
type replayResponse struct {
	Queued int `json:"queued"`
	// NextCreatedAfter is where to go on when the range held more events
	// than one replay queues (triggers.MaxReplayEvents).
	NextCreatedAfter string `json:"next_created_after,omitempty"`
	RequestID        string `json:"request_id"`
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request, key triggers.APIKey) {
	body, err := s.readJSONBody(w, r, MaxSubscriptionBodyBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.Replay(r.Context(), key.Tenant, subscriptionID(r), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info := infoFrom(r.Context())
	out := replayResponse{Queued: res.Queued, RequestID: info.id}
	if !res.NextAfter.IsZero() {
		out.NextCreatedAfter = formatTime(res.NextAfter)
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "replay queued", slog.String("request_id", info.id),
		slog.String("subscription_id", r.PathValue("subscription_id")), slog.Int("queued", res.Queued),
		slog.Bool("more", out.NextCreatedAfter != ""))
	writeJSON(w, http.StatusAccepted, out)
}
