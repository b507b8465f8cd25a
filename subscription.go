package triggers

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of webhook subscriptions (DESIGN §11.1).
const (
	// DefaultMaxSubscriptions is how many subscriptions a tenant may have
	// unless the server says otherwise (--max-subscriptions).
	DefaultMaxSubscriptions = 20
	// MaxSubscriptionURLLen bounds a subscription's url, in bytes.
	MaxSubscriptionURLLen = 2048
	// MaxSubscriptionDescriptionLen bounds a description, in runes.
	MaxSubscriptionDescriptionLen = 256
	// SecretRotationOverlap is how long a rotated-out secret keeps signing
	// beside the new one.
	SecretRotationOverlap = 24 * time.Hour
	// SubscriptionDisableAfter is how long a subscription's deliveries may
	// all fail before it is disabled.
	SubscriptionDisableAfter = 5 * 24 * time.Hour
)

// SubscriptionStatus is whether a subscription gets deliveries.
type SubscriptionStatus string

// The subscription statuses.
const (
	SubscriptionActive   SubscriptionStatus = "active"
	SubscriptionDisabled SubscriptionStatus = "disabled"
)

// Subscription is a tenant's webhook endpoint: every event created that
// matches Filter while it is active gets one delivery to URL (DESIGN §11).
type Subscription struct {
	ID          string
	Tenant      string
	URL         string
	Description string
	// Filter selects the events delivered; only Source, EventType,
	// Priority and Metadata are used. Its zero value matches every event.
	Filter        InboxFilter
	AckOnDelivery bool
	Status        SubscriptionStatus
	// Secret signs deliveries. PreviousSecret, until PreviousSecretUntil,
	// signs them too: the secret a rotation replaced.
	Secret              string
	PreviousSecret      string
	PreviousSecretUntil time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// FailingSince is when the subscription's deliveries started failing
	// without a success since; zero while the last attempt succeeded. The
	// dispatcher disables a subscription failing for
	// SubscriptionDisableAfter.
	FailingSince time.Time
}

// Matches reports whether e is one of the events the subscription
// delivers while it is active.
func (s *Subscription) Matches(e *Event) bool {
	return s.Status == SubscriptionActive && s.Filter.Matches(e)
}

// SigningSecrets returns the secrets that sign a delivery at now: the
// current one, then the previous one while its overlap lasts.
func (s *Subscription) SigningSecrets(now time.Time) []string {
	out := []string{s.Secret}
	if s.PreviousSecret != "" && now.Before(s.PreviousSecretUntil) {
		out = append(out, s.PreviousSecret)
	}
	return out
}

// SubscriptionSpec is a validated subscription body: a create's (URL set)
// or a patch's (only the fields given are set).
type SubscriptionSpec struct {
	URL           *string
	Description   *string
	Filter        *InboxFilter
	AckOnDelivery *bool
	Status        *SubscriptionStatus // patches only
}

// Apply sets the fields of spec that are given on sub.
func (spec SubscriptionSpec) Apply(sub *Subscription) {
	if spec.URL != nil {
		sub.URL = *spec.URL
	}
	if spec.Description != nil {
		sub.Description = *spec.Description
	}
	if spec.Filter != nil {
		sub.Filter = *spec.Filter
	}
	if spec.AckOnDelivery != nil {
		sub.AckOnDelivery = *spec.AckOnDelivery
	}
	if spec.Status != nil {
		sub.Status = *spec.Status
	}
}

// ParseNewSubscription validates a POST /v1/subscriptions body: {"url",
// "description", "filter": {"source", "event_type", "priority", "metadata"},
// "ack_on_delivery"}, only url required. The url is checked for form here
// (absolute, http or https, a host); which schemes and destinations are
// allowed is the server's to decide (DESIGN §11.1). Errors are EINVALID
// naming every invalid field.
func ParseNewSubscription(body []byte) (SubscriptionSpec, error) {
	spec, err := parseSubscription(body, false)
	if err != nil {
		return SubscriptionSpec{}, err
	}
	if spec.URL == nil {
		return SubscriptionSpec{}, InvalidFields(FieldError{Field: "url", Message: "is required"})
	}
	return spec, nil
}

// ParseSubscriptionPatch validates a PATCH /v1/subscriptions/{id} body:
// the fields of a create, all optional, and "status" ("active" or
// "disabled"). A field given replaces the stored one; the filter is
// replaced whole. Null is the same as absent, except for description,
// where it clears it.
func ParseSubscriptionPatch(body []byte) (SubscriptionSpec, error) {
	return parseSubscription(body, true)
}

func parseSubscription(body []byte, patch bool) (SubscriptionSpec, error) {
	top, err := decodeBody(body, false)
	if err != nil {
		return SubscriptionSpec{}, err
	}
	var spec SubscriptionSpec
	var bad []FieldError
	fail := func(field, msg string) { bad = append(bad, FieldError{Field: field, Message: msg}) }
	known := "url, description, filter, ack_on_delivery"
	if patch {
		known += ", status"
	}
	for _, name := range sortedKeys(top) {
		raw := top[name]
		if isNull(raw) {
			if name == "description" {
				spec.Description = new(string)
			}
			continue
		}
		switch name {
		case "url":
			if u, ok := parseURLField(raw, fail); ok {
				spec.URL = &u
			}
		case "description":
			var d string
			switch {
			case json.Unmarshal(raw, &d) != nil:
				fail(name, "must be a string")
			case utf8.RuneCountInString(d) > MaxSubscriptionDescriptionLen:
				fail(name, fmt.Sprintf("must be at most %d characters", MaxSubscriptionDescriptionLen))
			default:
				spec.Description = &d
			}
		case "filter":
			if f, ok := parseSubscriptionFilter(raw, fail); ok {
				spec.Filter = &f
			}
		case "ack_on_delivery":
			var b bool
			if json.Unmarshal(raw, &b) != nil {
				fail(name, "must be true or false")
				continue
			}
			spec.AckOnDelivery = &b
		case "status":
			if !patch {
				fail(name, "unknown field; known: "+known)
				continue
			}
			var st string
			_ = json.Unmarshal(raw, &st)
			if st != string(SubscriptionActive) && st != string(SubscriptionDisabled) {
				fail(name, `must be "active" or "disabled"`)
				continue
			}
			s := SubscriptionStatus(st)
			spec.Status = &s
		default:
			fail(name, "unknown field; known: "+known)
		}
	}
	if len(bad) > 0 {
		return SubscriptionSpec{}, InvalidFields(bad...)
	}
	return spec, nil
}

// parseURLField reads the url field: an absolute http or https URL with a
// host, no user information and no fragment.
func parseURLField(raw json.RawMessage, fail func(field, msg string)) (string, bool) {
	const field = "url"
	var s string
	if json.Unmarshal(raw, &s) != nil {
		fail(field, "must be a string")
		return "", false
	}
	if len(s) > MaxSubscriptionURLLen {
		fail(field, fmt.Sprintf("must be at most %d bytes", MaxSubscriptionURLLen))
		return "", false
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || s != strings.TrimSpace(s):
		fail(field, "must be an absolute URL such as https://example.com/hooks")
	case u.Scheme != "https" && u.Scheme != "http":
		fail(field, "must be an https:// URL")
	case u.Host == "" || u.Hostname() == "":
		fail(field, "must name a host")
	case u.User != nil:
		fail(field, "must not carry user information (user:password@)")
	case u.Fragment != "" || strings.Contains(s, "#"):
		fail(field, "must not have a fragment (#...)")
	default:
		return u.String(), true
	}
	return "", false
}

// parseSubscriptionFilter reads a filter object: source, event_type,
// priority and metadata, meaning what the inbox's parameters of the same
// names mean and checked by the same code.
func parseSubscriptionFilter(raw json.RawMessage, fail func(field, msg string)) (InboxFilter, bool) {
	obj, err := decodeObject(raw)
	if err != nil {
		fail("filter", "must be an object: it "+err.Error())
		return InboxFilter{}, false
	}
	q := url.Values{}
	ok := true
	for _, name := range sortedKeys(obj) {
		v := obj[name]
		if isNull(v) {
			continue
		}
		switch name {
		case "source", "event_type", "priority":
			var s string
			if json.Unmarshal(v, &s) != nil {
				fail("filter."+name, "must be a string")
				ok = false
				continue
			}
			q.Set(name, s)
		case "metadata":
			md, err := decodeObject(v)
			if err != nil {
				fail("filter.metadata", "must be an object of metadata key to string value: it "+err.Error())
				ok = false
				continue
			}
			for _, k := range sortedKeys(md) {
				var s string
				if isNull(md[k]) || json.Unmarshal(md[k], &s) != nil {
					fail("filter.metadata."+k, "must be a string")
					ok = false
					continue
				}
				q.Set("metadata."+k, s)
			}
		default:
			fail("filter."+name, "unknown field; known: source, event_type, priority, metadata")
			ok = false
		}
	}
	p := inboxQuery{q: q}
	var f InboxFilter
	p.metadataFilters(&f)
	p.textFilters(&f)
	p.priority(&f)
	for _, b := range p.bad {
		fail("filter."+b.Field, b.Message)
	}
	return f, ok && len(p.bad) == 0
}
