// Package webhook signs and verifies Triggers webhook deliveries.
//
// Triggers pushes events with the Standard Webhooks signature scheme
// (https://www.standardwebhooks.com): every delivery carries three headers,
//
//	webhook-id:        the event ID (stable across retries: deduplicate on it)
//	webhook-timestamp: when this attempt was signed, in Unix seconds
//	webhook-signature: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// where key is the base64-decoded part of the subscription secret after
// "whsec_". While a secret is being rotated the header holds two signatures
// separated by a space, one per secret, so a receiver holding either secret
// accepts the delivery.
//
// A receiver calls [Verify] with its secret, the request headers and the raw
// body, before parsing the body, and answers 2xx only when it succeeds. The
// timestamp check (5 minutes either way by default) bounds how long a
// captured delivery can be replayed; use a [Verifier] to change the tolerance
// or the clock.
//
// The package has no dependencies beyond the standard library, so receivers
// can import it without the rest of Triggers.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks header names. http.Header canonicalizes them
// (Webhook-Id, ...); use them with Header.Get and Header.Set.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret Triggers issues; the rest is the base64
// (standard encoding, padded) of the signing key.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, in the past or the future, for [Verify] to accept it.
const DefaultTolerance = 5 * time.Minute

// sigLen is the length of the base64 part of a v1 signature.
var sigLen = base64.StdEncoding.EncodedLen(sha256.Size)

// secretKeySize is the number of random bytes in a secret made by NewSecret.
const secretKeySize = 32

// The errors Verify returns, possibly wrapped with detail; test them with
// errors.Is.
var (
	// ErrMissingHeaders: one of webhook-id, webhook-timestamp or
	// webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrInvalidTimestamp: webhook-timestamp is not Unix seconds.
	ErrInvalidTimestamp = errors.New("webhook: webhook-timestamp is not a Unix time in seconds")
	// ErrTimestampTooOld: the delivery was signed longer ago than the
	// tolerance (a replay, or a receiver clock far ahead).
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew: the delivery claims to be signed further in the
	// future than the tolerance (a receiver clock far behind).
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatchingSignature: no v1 signature in webhook-signature matches
	// the body and headers under the secret: the body or headers were
	// altered, or the secret is not the subscription's.
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
	// ErrInvalidSecret: the secret is empty or its key part is not base64.
	ErrInvalidSecret = errors.New("webhook: invalid secret")
)

// NewSecret returns a fresh secret: SecretPrefix followed by the base64 of 32
// random bytes. It fails only if the system's random source does.
func NewSecret() (string, error) {
	key := make([]byte, secretKeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// decodeSecret returns the HMAC key of a secret. The "whsec_" prefix is
// optional, as in the Standard Webhooks reference libraries, so a key pasted
// without it still works.
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: key is not base64", ErrInvalidSecret)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty key", ErrInvalidSecret)
	}
	return key, nil
}

// mac returns HMAC-SHA256(key, msgID "." unix "." body), written piece by
// piece so the body is never copied.
func mac(key []byte, msgID string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	var buf [24]byte
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(buf[:0], unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the v1 signature of one delivery under secret: "v1," followed
// by the base64 of HMAC-SHA256 over "{msgID}.{timestamp in Unix seconds}.{body}".
// It returns ErrInvalidSecret if the secret cannot be decoded.
func Sign(secret, msgID string, timestamp time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, timestamp.Unix(), body)), nil
}

// Signature returns the webhook-signature header value for one delivery: the
// v1 signature under each secret, in order, separated by single spaces. During
// a rotation the sender passes the new and the old secret, so a receiver
// holding either verifies. It fails if no secret is given or one is invalid.
func Signature(msgID string, timestamp time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret to sign with", ErrInvalidSecret)
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sig, err := Sign(s, msgID, timestamp, body)
		if err != nil {
			return "", fmt.Errorf("%w (secret %d of %d)", err, i+1, len(secrets))
		}
		sigs[i] = sig
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders sets the three Standard Webhooks headers of a delivery on h:
// webhook-id, webhook-timestamp (Unix seconds) and webhook-signature under
// every secret, as Signature does.
func SetHeaders(h http.Header, msgID string, timestamp time.Time, body []byte, secrets ...string) error {
	sig, err := Signature(msgID, timestamp, body, secrets...)
	if err != nil {
		return err
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verifier verifies deliveries with a chosen tolerance and clock. Its zero
// value behaves like the package-level [Verify]. It is safe for concurrent
// use if Now is.
type Verifier struct {
	// Tolerance is how far the webhook-timestamp may be from Now, in the
	// past or the future. Zero or negative means DefaultTolerance; the check
	// cannot be turned off.
	Tolerance time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Verify checks a delivery with the default tolerance and the system clock.
// See [Verifier.Verify].
func Verify(secret string, headers http.Header, body []byte) error {
	return Verifier{}.Verify(secret, headers, body)
}

// Verify checks that body and headers are a delivery signed with secret, and
// signed within the tolerance of now. body must be the raw request body,
// byte for byte, before any JSON decoding.
//
// The headers are checked in this order: all three present
// (ErrMissingHeaders), the timestamp well formed (ErrInvalidTimestamp) and
// within the tolerance (ErrTimestampTooOld, ErrTimestampTooNew), the secret
// usable (ErrInvalidSecret), then the signatures: it succeeds when any "v1,"
// entry of the space-separated webhook-signature list matches
// (ErrNoMatchingSignature otherwise). Entries of other versions are ignored.
// Comparisons are constant-time.
func (v Verifier) Verify(secret string, headers http.Header, body []byte) error {
	msgID := headers.Get(HeaderID)
	ts := headers.Get(HeaderTimestamp)
	sigs := strings.Join(headers.Values(HeaderSignature), " ")
	if msgID == "" || ts == "" || strings.TrimSpace(sigs) == "" {
		return ErrMissingHeaders
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return err
	}
	if err := v.checkTimestamp(unix); err != nil {
		return err
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	want := mac(key, msgID, unix, body)
	// A v1 signature is the padded base64 of 32 bytes: 44 characters,
	// decoding to at most 33 bytes whatever they are.
	var got [sha256.Size + 1]byte
	for entry := range strings.FieldsSeq(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" || len(sig) != sigLen {
			continue
		}
		n, err := base64.StdEncoding.Decode(got[:], []byte(sig))
		if err != nil || n != sha256.Size {
			continue
		}
		if subtle.ConstantTimeCompare(got[:n], want) == 1 {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// parseUnix parses a webhook-timestamp: decimal digits only, no sign.
func parseUnix(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, ErrInvalidTimestamp
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrInvalidTimestamp
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrInvalidTimestamp
	}
	return n, nil
}

func (v Verifier) checkTimestamp(unix int64) error {
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	// Compare in seconds, the header's precision: at exactly the tolerance
	// the delivery is accepted, one second beyond it is not.
	diff := now().Unix() - unix
	limit := int64(tol / time.Second)
	switch {
	case diff > limit:
		return fmt.Errorf("%w: signed %ds ago, tolerance %v", ErrTimestampTooOld, diff, tol)
	case -diff > limit:
		return fmt.Errorf("%w: signed %ds in the future, tolerance %v", ErrTimestampTooNew, -diff, tol)
	}
	return nil
}
