package http_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	triggers "github.com/triggersapi/triggers"
	"github.com/triggersapi/triggers/clientip"
	triggershttp "github.com/triggersapi/triggers/http"
)

// mustKey creates a key of tenant-a with the allowlist and returns it raw.
func (s *TestServer) mustKey(tb testing.TB, allowlist string) string {
	tb.Helper()
	ips, err := triggers.ParseAllowlist(allowlist)
	if err != nil {
		tb.Fatal(err)
	}
	_, raw, err := s.Service.CreateKey(tb.Context(), triggers.KeySpec{Tenant: "tenant-a", AllowedIPs: ips})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// The test client connects from 127.0.0.1.
func TestAllowlist(t *testing.T) {
	direct := MustStart(t, nil)
	proxied := MustStartWith(t, nil, &triggershttp.Options{ClientIP: clientip.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})})
	tests := []struct {
		name      string
		s         *TestServer
		allowlist string
		xff       string
		status    int
		clientIP  string // details.client_ip of a 403
	}{
		{"NoListAllowsAll", direct, "", "", 200, ""},
		{"PeerInList", direct, "127.0.0.0/8", "", 200, ""},
		{"PeerInListAsIPv6Mapped", direct, "::ffff:127.0.0.1", "", 200, ""},
		{"ErrPeerNotInList", direct, "10.0.0.0/8,2001:db8::/32", "", 403, "127.0.0.1"},
		{"ErrSpoofedXFFFromUntrustedPeer", direct, "10.0.0.0/8", "10.1.2.3", 403, "127.0.0.1"},
		{"TrustedProxyXFFInList", proxied, "10.0.0.0/8", "10.1.2.3", 200, ""},
		{"TrustedProxySpoofedLeftmostIgnored", proxied, "10.0.0.0/8", "10.9.9.9, 203.0.113.7", 403, "203.0.113.7"},
		{"TrustedProxyIPv6Client", proxied, "2001:db8::/32", "2001:db8::42", 200, ""},
		{"ErrTrustedProxyGarbageChain", proxied, "10.0.0.0/8", "10.1.2.3, garbage", 403, "unknown"},
		{"TrustedProxyGarbageChainNoList", proxied, "", "garbage", 200, ""},
		{"TrustedProxyNoXFFIsPeer", proxied, "127.0.0.1", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.s.mustKey(t, tt.allowlist)
			h := map[string]string{}
			if tt.xff != "" {
				h["X-Forwarded-For"] = tt.xff
			}
			r := tt.s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: raw, Header: h})
			if r.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", r.StatusCode, r.Body, tt.status)
			}
			if tt.status == 403 {
				e := r.JSON(t)["error"].(map[string]any)
				if e["code"] != "FORBIDDEN" || e["details"].(map[string]any)["client_ip"] != tt.clientIP {
					t.Fatalf("403 body = %s, want FORBIDDEN with client_ip %s", r.Body, tt.clientIP)
				}
				for _, p := range strings.Split(tt.allowlist, ",") {
					if strings.Contains(string(r.Body), p) {
						t.Fatalf("403 body reveals the allowlist entry %s: %s", p, r.Body)
					}
				}
			}
		})
	}
}

func TestAllowlist_BlockedAttemptIsLoggedAndCounted(t *testing.T) {
	s := MustStart(t, nil)
	raw := s.mustKey(t, "10.0.0.0/8")
	r := s.Do(t, Req{Method: "POST", Path: "/v1/events", Key: raw, Body: `{"source":"a","event_type":"b","payload":{"x":1}}`,
		Header: map[string]string{"X-Request-ID": "blocked-1"}})
	if r.StatusCode != 403 {
		t.Fatalf("status %d, want 403", r.StatusCode)
	}
	var line string
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, "blocked by IP allowlist") {
			line = l
		}
	}
	for _, want := range []string{`"request_id":"blocked-1"`, `"key_id":"key_`, `"client_ip":"127.0.0.1"`} {
		if !strings.Contains(line, want) {
			t.Fatalf("blocked-attempt log line lacks %s: %q", want, line)
		}
	}
	if m := string(s.Do(t, Req{Method: "GET", Path: "/metrics"}).Body); !strings.Contains(m, "triggers_http_allowlist_blocked_total 1") {
		t.Fatal("metrics do not count the blocked attempt")
	}
	if events := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: keyA}).JSON(t)["events"].([]any); len(events) != 0 {
		t.Fatal("a blocked create stored an event")
	}
}

func TestAllowlist_ChangeAppliesWithinFiveSeconds(t *testing.T) {
	s := MustStart(t, nil)
	raw := s.mustKey(t, "10.0.0.0/8")
	if r := s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: raw}); r.StatusCode != 403 {
		t.Fatalf("status %d, want 403", r.StatusCode)
	}
	k, err := s.Service.Authenticate(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	empty := []netip.Prefix{}
	if _, err := s.Service.UpdateKey(t.Context(), k.ID, triggers.KeyUpdate{AllowedIPs: &empty}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Do(t, Req{Method: "GET", Path: "/v1/inbox", Key: raw}).StatusCode != 200 {
		if time.Now().After(deadline) {
			t.Fatal("a cleared allowlist still refuses after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
