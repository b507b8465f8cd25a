package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers/webhook"
)

// The Standard Webhooks reference test vector, from the specification's
// reference libraries: github.com/standard-webhooks/standard-webhooks,
// libraries/go/webhook_test.go (TestWebhookSign) and
// libraries/python/tests/test_webhooks.py (test_sign_function).
const (
	refSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	refUnix      = 1614265330
	refPayload   = `{"test": 2432232314}`
	refSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// refWrong is a well-formed v1 signature that matches nothing; the
	// reference tests use it as "invalid signature".
	refWrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

var refTime = time.Unix(refUnix, 0)

func TestSign_ReferenceVector(t *testing.T) {
	for _, secret := range []string{refSecret, strings.TrimPrefix(refSecret, webhook.SecretPrefix)} {
		got, err := webhook.Sign(secret, refMsgID, refTime, []byte(refPayload))
		if err != nil {
			t.Fatalf("Sign(%q) error: %v", secret, err)
		}
		if got != refSignature {
			t.Errorf("Sign(%q) = %q, want %q", secret, got, refSignature)
		}
	}
}

func TestSign_InvalidSecret(t *testing.T) {
	for _, secret := range []string{"", webhook.SecretPrefix, "whsec_not base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"} {
		if _, err := webhook.Sign(secret, refMsgID, refTime, nil); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("Sign(%q) error = %v, want ErrInvalidSecret", secret, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("NewSecret returned %q twice", a)
	}
	key, ok := strings.CutPrefix(a, webhook.SecretPrefix)
	if !ok {
		t.Fatalf("NewSecret() = %q, want prefix %q", a, webhook.SecretPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 32 {
		t.Fatalf("NewSecret() key %q decodes to %d bytes (err %v), want 32", key, len(raw), err)
	}
	if _, err := webhook.Sign(a, "id", refTime, nil); err != nil {
		t.Fatalf("Sign with NewSecret() = %v", err)
	}
}

func TestSignature_Rotation(t *testing.T) {
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of thirty-two bytes!"))
	got, err := webhook.Signature(refMsgID, refTime, []byte(refPayload), refSecret, other)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := webhook.Sign(other, refMsgID, refTime, []byte(refPayload))
	if want := refSignature + " " + second; got != want {
		t.Fatalf("Signature(two secrets) = %q, want %q", got, want)
	}
	if _, err := webhook.Signature(refMsgID, refTime, nil); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("Signature(no secret) error = %v, want ErrInvalidSecret", err)
	}
	if _, err := webhook.Signature(refMsgID, refTime, nil, refSecret, "whsec_!"); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("Signature(one bad secret) error = %v, want ErrInvalidSecret", err)
	}
}

// refHeaders returns the headers of the reference delivery with the given
// signature header value.
func refHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, refMsgID)
	h.Set(webhook.HeaderTimestamp, strconv.Itoa(refUnix))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

// at returns a verifier whose clock reads the reference time plus d.
func at(d time.Duration) webhook.Verifier {
	return webhook.Verifier{Now: func() time.Time { return refTime.Add(d) }}
}

func TestVerifier_Verify(t *testing.T) {
	const otherSecret = "whsec_" + "YW5vdGhlciBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyE=" // "another key of thirty-two bytes!"
	otherSig, err := webhook.Sign(otherSecret, refMsgID, refTime, []byte(refPayload))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(refPayload)
	tests := []struct {
		name    string
		v       webhook.Verifier
		secret  string
		headers http.Header
		body    []byte
		want    error // nil: success
	}{
		{"OK", at(0), refSecret, refHeaders(refSignature), body, nil},
		{"OKSecretWithoutPrefix", at(0), strings.TrimPrefix(refSecret, "whsec_"), refHeaders(refSignature), body, nil},
		{"OKCanonicalHeaderKeys", at(0), refSecret, http.Header{
			"Webhook-Id": {refMsgID}, "Webhook-Timestamp": {"1614265330"}, "Webhook-Signature": {refSignature}}, body, nil},
		{"ErrTamperedBody", at(0), refSecret, refHeaders(refSignature), []byte(`{"test": 2432232315}`), webhook.ErrNoMatchingSignature},
		{"ErrBodyWithTrailingNewline", at(0), refSecret, refHeaders(refSignature), []byte(refPayload + "\n"), webhook.ErrNoMatchingSignature},
		{"ErrTamperedID", at(0), refSecret, func() http.Header {
			h := refHeaders(refSignature)
			h.Set(webhook.HeaderID, "msg_other")
			return h
		}(), body, webhook.ErrNoMatchingSignature},
		{"ErrTamperedTimestamp", at(0), refSecret, func() http.Header {
			h := refHeaders(refSignature)
			h.Set(webhook.HeaderTimestamp, strconv.Itoa(refUnix+1))
			return h
		}(), body, webhook.ErrNoMatchingSignature},
		{"ErrWrongSecret", at(0), otherSecret, refHeaders(refSignature), body, webhook.ErrNoMatchingSignature},
		{"ErrWrongSignature", at(0), refSecret, refHeaders(refWrong), body, webhook.ErrNoMatchingSignature},
		// Rotation: the sender signs with the new and the old secret.
		{"OKRotationFirstSecret", at(0), refSecret, refHeaders(refSignature + " " + otherSig), body, nil},
		{"OKRotationSecondSecret", at(0), otherSecret, refHeaders(refSignature + " " + otherSig), body, nil},
		{"ErrRotationNeitherSecret", at(0), "whsec_" + base64.StdEncoding.EncodeToString([]byte("a third key, matching neither..")),
			refHeaders(refSignature + " " + otherSig), body, webhook.ErrNoMatchingSignature},
		// The reference tests' multi-signature case: other versions and
		// wrong v1 entries around the right one.
		{"OKAmongOthers", at(0), refSecret, refHeaders(refWrong + " v2," + refSignature[3:] + " " + refSignature + " " + refWrong), body, nil},
		{"OKSignaturesOnSeveralHeaderLines", at(0), refSecret, func() http.Header {
			h := refHeaders(refWrong)
			h.Add(webhook.HeaderSignature, refSignature)
			return h
		}(), body, nil},
		{"ErrOnlyOtherVersions", at(0), refSecret, refHeaders("v2," + refSignature[3:] + " v1a," + refSignature[3:]), body, webhook.ErrNoMatchingSignature},
		{"ErrSignatureWithoutVersion", at(0), refSecret, refHeaders(refSignature[3:]), body, webhook.ErrNoMatchingSignature},
		{"ErrSignatureNotBase64", at(0), refSecret, refHeaders("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O!="), body, webhook.ErrNoMatchingSignature},
		{"ErrSignatureTruncated", at(0), refSecret, refHeaders(refSignature[:len(refSignature)-4]), body, webhook.ErrNoMatchingSignature},
		{"ErrSignatureTooLong", at(0), refSecret, refHeaders(refSignature + "AAAA"), body, webhook.ErrNoMatchingSignature},
		{"ErrSignatureUnpadded33Bytes", at(0), refSecret, refHeaders("v1," + strings.Repeat("A", 44)), body, webhook.ErrNoMatchingSignature},
		{"ErrSignatureLowercaseVersion", at(0), refSecret, refHeaders("V1," + refSignature[3:]), body, webhook.ErrNoMatchingSignature},
		// Timestamps: the tolerance is inclusive, in whole seconds.
		{"OKFiveMinutesOld", at(5 * time.Minute), refSecret, refHeaders(refSignature), body, nil},
		{"OKFiveMinutesAhead", at(-5 * time.Minute), refSecret, refHeaders(refSignature), body, nil},
		{"ErrTooOld", at(5*time.Minute + time.Second), refSecret, refHeaders(refSignature), body, webhook.ErrTimestampTooOld},
		{"ErrTooNew", at(-5*time.Minute - time.Second), refSecret, refHeaders(refSignature), body, webhook.ErrTimestampTooNew},
		{"ErrReplayedDayLater", at(24 * time.Hour), refSecret, refHeaders(refSignature), body, webhook.ErrTimestampTooOld},
		{"OKCustomTolerance", webhook.Verifier{Tolerance: time.Hour, Now: at(time.Hour).Now}, refSecret, refHeaders(refSignature), body, nil},
		{"ErrCustomTolerance", webhook.Verifier{Tolerance: time.Minute, Now: at(2 * time.Minute).Now}, refSecret, refHeaders(refSignature), body, webhook.ErrTimestampTooOld},
		{"ErrZeroToleranceMeansDefault", webhook.Verifier{Tolerance: 0, Now: at(6 * time.Minute).Now}, refSecret, refHeaders(refSignature), body, webhook.ErrTimestampTooOld},
		{"ErrTimestampNotNumber", at(0), refSecret, func() http.Header {
			h := refHeaders(refSignature)
			h.Set(webhook.HeaderTimestamp, "hello")
			return h
		}(), body, webhook.ErrInvalidTimestamp},
		{"ErrTimestampSigned", at(0), refSecret, func() http.Header {
			h := refHeaders(refSignature)
			h.Set(webhook.HeaderTimestamp, "+1614265330")
			return h
		}(), body, webhook.ErrInvalidTimestamp},
		{"ErrTimestampMilliseconds", at(0), refSecret, func() http.Header {
			h := refHeaders(refSignature)
			h.Set(webhook.HeaderTimestamp, "1614265330000")
			return h
		}(), body, webhook.ErrTimestampTooNew},
		{"ErrTimestampHuge", at(0), refSecret, func() http.Header {
			h := refHeaders(refSignature)
			h.Set(webhook.HeaderTimestamp, strings.Repeat("9", 30))
			return h
		}(), body, webhook.ErrInvalidTimestamp},
		// Missing headers.
		{"ErrNoHeaders", at(0), refSecret, http.Header{}, body, webhook.ErrMissingHeaders},
		{"ErrMissingID", at(0), refSecret, func() http.Header { h := refHeaders(refSignature); h.Del(webhook.HeaderID); return h }(), body, webhook.ErrMissingHeaders},
		{"ErrMissingTimestamp", at(0), refSecret, func() http.Header { h := refHeaders(refSignature); h.Del(webhook.HeaderTimestamp); return h }(), body, webhook.ErrMissingHeaders},
		{"ErrMissingSignature", at(0), refSecret, func() http.Header { h := refHeaders(refSignature); h.Del(webhook.HeaderSignature); return h }(), body, webhook.ErrMissingHeaders},
		{"ErrBlankSignature", at(0), refSecret, refHeaders("   "), body, webhook.ErrMissingHeaders},
		// Malformed secrets.
		{"ErrEmptySecret", at(0), "", refHeaders(refSignature), body, webhook.ErrInvalidSecret},
		{"ErrPrefixOnlySecret", at(0), "whsec_", refHeaders(refSignature), body, webhook.ErrInvalidSecret},
		{"ErrSecretNotBase64", at(0), "whsec_$$$", refHeaders(refSignature), body, webhook.ErrInvalidSecret},
		{"ErrSecretURLEncoding", at(0), "whsec_" + base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe}), refHeaders(refSignature), body, webhook.ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Verify(tt.secret, tt.headers, tt.body)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify = %v, want success", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerify_RoundTripNow(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event_id":"0190f5c2-0000-7000-8000-000000000000","payload":{"n":1.50}}`)
	h := http.Header{}
	if err := webhook.SetHeaders(h, "0190f5c2-0000-7000-8000-000000000000", time.Now(), body, secret); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(secret, h, body); err != nil {
		t.Fatalf("Verify(SetHeaders(now)) = %v", err)
	}
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
	if err := webhook.Verify(secret, h, body); !errors.Is(err, webhook.ErrTimestampTooOld) {
		t.Fatalf("Verify(an hour old) = %v, want ErrTimestampTooOld", err)
	}
}

// FuzzVerify feeds arbitrary headers, bodies and secrets to Verify: it never
// panics, succeeds only when a signature computed by Sign is present, and
// every failure is one of the documented errors.
func FuzzVerify(f *testing.F) {
	f.Add(refSecret, refMsgID, "1614265330", refSignature, []byte(refPayload))
	f.Add(refSecret, refMsgID, "1614265330", refWrong+" v2,abc "+refSignature, []byte(refPayload))
	f.Add("whsec_", "", "", "", []byte(nil))
	f.Add("whsec_$$", "id", "-1", "v1,", []byte("x"))
	f.Add(refSecret, "a.b", "99999999999999999999", "v1,"+strings.Repeat("A", 44), []byte("{}"))
	f.Add(refSecret, "id", "1614265330", "v1,,, ,v1 v1,====", []byte("{}"))
	v := at(0)
	documented := []error{webhook.ErrMissingHeaders, webhook.ErrInvalidTimestamp, webhook.ErrTimestampTooOld,
		webhook.ErrTimestampTooNew, webhook.ErrNoMatchingSignature, webhook.ErrInvalidSecret}
	f.Fuzz(func(t *testing.T, secret, id, ts, sig string, body []byte) {
		h := http.Header{webhook.HeaderID: {id}, webhook.HeaderTimestamp: {ts}, webhook.HeaderSignature: {sig}}
		err := v.Verify(secret, h, body)
		if err == nil {
			unix, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("Verify accepted timestamp %q", ts)
			}
			want, serr := webhook.Sign(secret, id, time.Unix(unix, 0), body)
			if serr != nil || !containsField(sig, want) {
				t.Fatalf("Verify accepted signature %q, Sign gives %q (%v)", sig, want, serr)
			}
			return
		}
		for _, d := range documented {
			if errors.Is(err, d) {
				return
			}
		}
		t.Fatalf("Verify = %v: not a documented error", err)
	})
}

// containsField reports whether want is one of the whitespace-separated
// fields of s.
func containsField(s, want string) bool {
	for _, f := range strings.Fields(s) {
		if f == want {
			return true
		}
	}
	return false
}
