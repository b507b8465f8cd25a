package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// StatsOptions selects the events Stats counts; zero fields are left out,
// and both combine with AND. The server checks them as the inbox's
// filters: an invalid one is a VALIDATION_ERROR naming it.
type StatsOptions struct {
	Source    string // exact match
	EventType string // exact match
}

// values encodes o as query parameters.
func (o StatsOptions) values() url.Values {
	v := url.Values{}
	if o.Source != "" {
		v.Set("source", o.Source)
	}
	if o.EventType != "" {
		v.Set("event_type", o.EventType)
	}
	return v
}

// Stats are the inbox statistics of the key's tenant, for the events
// matching StatsOptions (GET /v1/stats; docs/API.md §3.11).
type Stats struct {
	// Pending counts the pending events, leased or not: those Inbox lists.
	Pending int64 `json:"pending"`
	// Leased counts the pending events under an unexpired lease (a subset
	// of Pending).
	Leased int64 `json:"leased"`
	// Dead counts the dead events (InboxQuery{Status: StatusDead}).
	Dead int64 `json:"dead"`
	// OldestPendingCreatedAt is when the oldest pending event was created;
	// zero when none is pending.
	OldestPendingCreatedAt time.Time `json:"oldest_pending_created_at"`
	// OldestPendingAge is how long the oldest pending event has waited, in
	// whole seconds; 0 when none is pending.
	OldestPendingAge time.Duration `json:"-"`
	// PerMinute holds the last 60 minutes, oldest first, the current one
	// last, every minute present.
	PerMinute []MinuteStats `json:"per_minute"`
	// BySource holds the sources with the most pending events, most first
	// (ties by name), at most 20; empty when nothing is pending.
	BySource []SourceCount `json:"by_source"`
	// Approximate is true when the counts may be briefly off (a server on
	// DynamoDB, which keeps them with counters); false when they are exact.
	Approximate bool      `json:"approximate"`
	RequestID   string    `json:"request_id"`
	RateLimit   RateLimit `json:"-"`
}

// MinuteStats counts one minute of Stats.PerMinute.
type MinuteStats struct {
	Minute time.Time `json:"minute"` // the minute's first instant, UTC
	// Created counts the events created in this minute, whatever became
	// of them since.
	Created int64 `json:"created"`
	// Acknowledged counts the acknowledgements made in this minute.
	Acknowledged int64 `json:"acknowledged"`
}

// SourceCount is how many pending events one source has.
type SourceCount struct {
	Source  string `json:"source"`
	Pending int64  `json:"pending"`
}

// Stats returns the inbox statistics of the key's tenant: the counts of
// pending, leased and dead events, the age of the oldest pending one, the
// events created and acknowledged per minute over the last hour and the
// sources with the most pending events. It is retried like any GET.
func (c *Client) Stats(ctx context.Context, opts StatsOptions) (*Stats, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/stats", query: opts.values(), retryable: true, auth: true})
	if err != nil {
		return nil, err
	}
	var body struct {
		Stats
		AgeSeconds int64 `json:"oldest_pending_age_seconds"`
	}
	if err := decode(resp, &body); err != nil {
		return nil, err
	}
	out := &body.Stats
	out.OldestPendingAge = time.Duration(body.AgeSeconds) * time.Second
	out.RateLimit = resp.rateLimit
	return out, nil
}
