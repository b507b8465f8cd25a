package http_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	triggershttp "github.com/triggersapi/triggers/http"
)

// TestEventJSON_IsGETWithoutRequestID checks that a webhook body is byte for
// byte what GET /v1/events/{id} answers, less its request_id and newline:
// numbers as sent, strings escaped as the API escapes them, every state's
// fields.
func TestEventJSON_IsGETWithoutRequestID(t *testing.T) {
	s := MustStart(t, nil)
	ctx := context.Background()
	cases := []struct{ name, body string }{
		{"Plain", `{"source":"billing","event_type":"invoice.paid","payload":{"amount":12.50,"n":1e3}}`},
		{"BigNumbers", `{"source":"s","event_type":"t","payload":{"big":123456789012345678901234567890,"neg":-0.000001e-7}}`},
		{"HTMLAndUnicode", `{"source":"<a&b>","event_type":"t\u2028","payload":{"s":"<script>&amp;\u2029 é 𝄞","e":"\u00e9"},"metadata":{"k":"<v>"}}`},
	}
	tail := regexp.MustCompile(`,"request_id":"[^"]*"}\n$`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := s.MustCreate(t, keyA, c.body)
			if c.name == "Plain" { // an acknowledged event shows acknowledged_at
				if r := s.Do(t, Req{Method: "POST", Path: "/v1/events/" + id + "/ack", Key: keyA}); r.StatusCode != 200 {
					t.Fatalf("ack = %d %s", r.StatusCode, r.Body)
				}
			}
			r := s.Do(t, Req{Method: "GET", Path: "/v1/events/" + id, Key: keyA})
			if r.StatusCode != 200 || !tail.Match(r.Body) {
				t.Fatalf("GET = %d %s", r.StatusCode, r.Body)
			}
			want := append(tail.ReplaceAll(r.Body, nil), '}')
			e, err := s.Service.GetEvent(ctx, "tenant-a", id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := triggershttp.EventJSON(&e)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("EventJSON() = %s, %v\nwant %s", got, err, want)
			}
		})
	}
}
