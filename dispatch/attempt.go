package dispatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	triggers "github.com/triggersapi/triggers"
	triggershttp "github.com/triggersapi/triggers/http"
	"github.com/triggersapi/triggers/internal/egress"
	"github.com/triggersapi/triggers/webhook"
)

// The outcomes of an attempt, as metrics and logs name them.
const (
	outcomeSucceeded = "succeeded"
	outcomeRetry     = "retry"
	outcomeFailed    = "failed"
)

// maxErrorBody is how much of a failed response's body the delivery log
// keeps in the attempt's error, in bytes.
const maxErrorBody = 200

// result is what one request got.
type result struct {
	status  int         // 0 when no response came
	header  http.Header // of the response
	err     string      // why the attempt failed, for the delivery log; "" on success
	logErr  string      // the same without the receiver's words, for the server's log
	latency time.Duration
}

func (r result) ok() bool { return r.status >= 200 && r.status <= 299 }

// attempt makes one attempt of a claimed delivery and records it.
func (d *Dispatcher) attempt(ctx context.Context, del triggers.Delivery) {
	sub, err := d.cfg.Store.GetSubscription(ctx, del.Tenant, del.SubscriptionID)
	switch {
	case triggers.ErrorCode(err) == triggers.ENOTFOUND:
		return // deleted since the claim: its deliveries stop
	case err != nil:
		d.logger.Warn("webhook delivery abandoned: reading its subscription failed", slog.String("tenant", del.Tenant),
			slog.String("subscription_id", del.SubscriptionID), slog.String("event_id", del.EventID), slog.Any("error", err))
		return
	case sub.Status != triggers.SubscriptionActive:
		return // disabled since the claim: its deliveries wait
	}
	start := d.now()
	o := triggers.DeliveryOutcome{Key: del.Key(), LeaseID: del.LeaseID}
	ev, err := d.cfg.Events.GetEvent(ctx, del.Tenant, del.EventID)
	var body []byte
	var res result
	switch {
	case triggers.ErrorCode(err) == triggers.ENOTFOUND:
		res = result{err: "event no longer exists", logErr: "event no longer exists"}
	case err != nil:
		d.logger.Warn("webhook delivery abandoned: reading its event failed", slog.String("tenant", del.Tenant),
			slog.String("subscription_id", del.SubscriptionID), slog.String("event_id", del.EventID), slog.Any("error", err))
		return
	default:
		if body, err = triggershttp.EventJSON(&ev); err != nil {
			d.logger.Error("webhook delivery failed: its stored event is not valid JSON", slog.String("tenant", del.Tenant),
				slog.String("event_id", del.EventID), slog.Any("error", err))
			res = result{err: "the event cannot be encoded", logErr: "event not encodable"}
			break
		}
		res = d.send(ctx, &sub, &ev, body, start)
		if ctx.Err() != nil {
			// Cut off by the end of a drain: not the endpoint's failure.
			d.abandon(del, "the dispatcher stopped during the attempt", 0)
			return
		}
	}
	end := d.now()
	o.Attempt = triggers.DeliveryAttempt{At: start, StatusCode: res.status, Error: res.err, Latency: res.latency}
	outcome := outcomeSucceeded
	switch {
	case body == nil: // nothing left to deliver
		o.Status, outcome = triggers.DeliveryFailed, outcomeFailed
	case res.ok():
		o.Status = triggers.DeliverySucceeded
		if sub.AckOnDelivery && ev.Status() == triggers.StatusPending {
			d.ack(ctx, &ev, del.Tenant)
		}
	default:
		if wait, again := triggers.NextDeliveryRetry(del.Tries+1, res.status, res.header, end, d.rand); again {
			o.Status, o.NextAttemptAt, outcome = triggers.DeliveryPending, end.Add(wait), outcomeRetry
		} else {
			o.Status, outcome = triggers.DeliveryFailed, outcomeFailed
		}
	}
	if _, err := d.cfg.Store.CompleteDelivery(ctx, o); err != nil {
		level := slog.LevelWarn
		if triggers.ErrorCode(err) == triggers.ENOTFOUND {
			level = slog.LevelDebug // its subscription was deleted meanwhile
		}
		d.logger.Log(ctx, level, "webhook delivery attempt not recorded (it will be attempted again if its lease expires)",
			slog.String("tenant", del.Tenant), slog.String("subscription_id", del.SubscriptionID),
			slog.String("event_id", del.EventID), slog.Any("error", err))
	}
	d.metrics.attempted(outcome, res.latency, body != nil)
	d.logAttempt(ctx, del, res, outcome, o.NextAttemptAt)
	if body != nil {
		d.health(ctx, sub, res.ok(), end)
	}
}

// send makes the request of one delivery, signed at now.
func (d *Dispatcher) send(ctx context.Context, sub *triggers.Subscription, ev *triggers.Event, body []byte, now time.Time) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		return result{err: "the subscription's url cannot be requested", logErr: "bad url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	if err := webhook.SetHeaders(req.Header, ev.ID, now, body, sub.SigningSecrets(now)...); err != nil {
		// Only a corrupted secret can get here; the log says which
		// subscription, never the secret.
		return result{err: "the delivery could not be signed", logErr: "signing failed: invalid secret"}
	}
	t0 := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		msg := describe(err, d.timeout)
		return result{err: msg, logErr: msg, latency: time.Since(t0)}
	}
	got, _ := egress.ReadBody(resp.Body, egress.MaxResponseBody)
	res := result{status: resp.StatusCode, header: resp.Header, latency: time.Since(t0)}
	if !res.ok() {
		res.logErr = fmt.Sprintf("HTTP %d", resp.StatusCode)
		res.err = res.logErr
		if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			res.err += ": redirects are not followed"
		} else if s := excerpt(got); s != "" {
			res.err += ": " + s
		}
	}
	return res
}

// ack acknowledges a delivered event for a subscription with
// ack_on_delivery. An event acknowledged meanwhile, or gone, is no error.
func (d *Dispatcher) ack(ctx context.Context, ev *triggers.Event, tenant string) {
	_, err := d.cfg.Events.AckEvent(ctx, tenant, ev.ID, "")
	if c := triggers.ErrorCode(err); c != "" && c != triggers.ECONFLICT && c != triggers.ENOTFOUND {
		d.logger.Warn("webhook ack_on_delivery: acknowledging the event failed", slog.String("tenant", tenant),
			slog.String("event_id", ev.ID), slog.Any("error", err))
	}
}

// health keeps the subscription's FailingSince and disables it after
// SubscriptionDisableAfter of failures. It writes only on a transition,
// and fn checks the stored subscription again, so concurrent attempts agree.
func (d *Dispatcher) health(ctx context.Context, sub triggers.Subscription, ok bool, now time.Time) {
	var fn func(*triggers.Subscription) error
	disable := false
	switch {
	case ok && !sub.FailingSince.IsZero():
		fn = func(s *triggers.Subscription) error {
			if s.FailingSince.IsZero() {
				return errNoChange
			}
			s.FailingSince = time.Time{}
			return nil
		}
	case !ok && sub.FailingSince.IsZero():
		fn = func(s *triggers.Subscription) error {
			if !s.FailingSince.IsZero() {
				return errNoChange
			}
			s.FailingSince = now
			return nil
		}
	case !ok && now.Sub(sub.FailingSince) >= triggers.SubscriptionDisableAfter:
		disable = true
		fn = func(s *triggers.Subscription) error {
			if s.Status != triggers.SubscriptionActive || s.FailingSince.IsZero() ||
				now.Sub(s.FailingSince) < triggers.SubscriptionDisableAfter {
				return errNoChange
			}
			// FailingSince stays, to show since when; making the
			// subscription active again clears it (Service.UpdateSubscription).
			s.Status, s.UpdatedAt = triggers.SubscriptionDisabled, now
			return nil
		}
	default:
		return
	}
	_, err := d.cfg.Store.UpdateSubscription(ctx, sub.Tenant, sub.ID, fn)
	switch {
	case errors.Is(err, errNoChange), triggers.ErrorCode(err) == triggers.ENOTFOUND:
	case err != nil:
		d.logger.Warn("webhook subscription health not recorded", slog.String("tenant", sub.Tenant),
			slog.String("subscription_id", sub.ID), slog.Any("error", err))
	case disable:
		d.logger.Warn("webhook subscription disabled: its deliveries have all failed since "+
			sub.FailingSince.Format(time.RFC3339), slog.String("tenant", sub.Tenant), slog.String("subscription_id", sub.ID))
	}
}

// logAttempt writes the attempt's one log line: never the payload, the
// secret, the url or the receiver's answer.
func (d *Dispatcher) logAttempt(ctx context.Context, del triggers.Delivery, res result, outcome string, next time.Time) {
	attrs := []slog.Attr{slog.String("tenant", del.Tenant), slog.String("subscription_id", del.SubscriptionID),
		slog.String("event_id", del.EventID), slog.Int("attempt", del.Tries+1)}
	if res.status != 0 {
		attrs = append(attrs, slog.Int("status_code", res.status))
	}
	if res.logErr != "" {
		attrs = append(attrs, slog.String("error", res.logErr))
	}
	attrs = append(attrs, slog.Float64("latency_ms", float64(res.latency.Microseconds())/1000), slog.String("outcome", outcome))
	if !next.IsZero() {
		attrs = append(attrs, slog.Time("next_attempt_at", next))
	}
	level := slog.LevelInfo
	if outcome == outcomeFailed {
		level = slog.LevelWarn
	}
	d.logger.LogAttrs(ctx, level, "webhook delivery attempt", attrs...)
}

// describe says why no response came, in words fit for the tenant's
// delivery log: never a resolved address of a refused destination.
func describe(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		ee   *egress.Error
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
		ne   net.Error
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
	)
	switch {
	case errors.Is(err, egress.ErrForbidden):
		return "destination refused: it resolves to a loopback, private, link-local or otherwise reserved address"
	case errors.As(err, &ee):
		return "destination refused: " + ee.Reason
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "DNS lookup failed: no such host"
		}
		return "DNS lookup failed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timeout: no complete response within %s", timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled: the dispatcher stopped"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the receiver"
	case errors.As(err, &cert), errors.As(err, &ua), errors.As(err, &hn):
		return "TLS certificate not valid: " + truncate(err.Error(), 160)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response"
	default:
		return truncate(err.Error(), 200)
	}
}

// excerpt returns the start of a response body fit for the delivery log:
// valid UTF-8, control characters as spaces, at most maxErrorBody bytes.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), maxErrorBody)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
