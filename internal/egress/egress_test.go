package egress_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/triggersapi/triggers/internal/egress"
)

// No test here sends a packet to anything but 127.0.0.1: public addresses
// appear only as resolver answers and dial targets recorded by a stub.

func TestForbidden(t *testing.T) {
	tests := []struct {
		addr      string
		forbidden bool
	}{
		// Public IPv4 (never contacted: only classified).
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.215.14", false},
		{"100.63.255.255", false}, // just below CGNAT
		{"100.128.0.0", false},    // just above CGNAT
		{"172.15.255.255", false}, // just below 172.16/12
		{"172.32.0.0", false},     // just above
		{"169.253.255.255", false},
		{"192.0.1.1", false},
		{"198.17.255.255", false},
		{"198.20.0.0", false},
		{"223.255.255.255", false},
		{"11.0.0.1", false},
		// Loopback, private, link-local, metadata.
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true}, // cloud metadata (AWS, GCP, Azure)
		{"169.254.170.2", true},   // ECS task metadata
		{"169.254.0.1", true},
		// Unspecified, "this network", broadcast, reserved, multicast.
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		// CGNAT, IETF, documentation, benchmarking, 6to4 relay.
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"192.0.0.170", true},
		{"192.0.2.1", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"192.88.99.1", true},
		// IPv6 public.
		{"2606:4700:4700::1111", false},
		{"2a00:1450:4001:80b::200e", false},
		{"2000::1", false},
		{"3ffe::1", false},
		// IPv6 loopback, unspecified, ULA, link-local, site-local, multicast.
		{"::1", true},
		{"::", true},
		{"fc00::1", true},
		{"fd12:3456:789a::1", true},
		{"fe80::1", true},
		{"febf::1", true},
		{"fec0::1", true},
		{"ff02::1", true},
		{"ff0e::1", true},
		{"fe80::1%eth0", true},
		{"2606:4700:4700::1111%eth0", true}, // any zone
		// IPv4-mapped: judged as the IPv4 address.
		{"::ffff:127.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:8.8.8.8", false},
		// IPv4-compatible (deprecated) and IPv4-translated: all refused.
		{"::127.0.0.1", true},
		{"::8.8.8.8", true},
		{"::ffff:0:8.8.8.8", true},
		// NAT64: judged by the embedded IPv4 address.
		{"64:ff9b::808:808", false}, // 8.8.8.8
		{"64:ff9b::7f00:1", true},   // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", true},
		{"64:ff9b::a00:1", true},
		{"64:ff9b:1::808:808", true}, // local-use NAT64 prefix
		// Transition and special IPv6 ranges.
		{"2001::1", true}, // Teredo
		{"2001:0:4136:e378::1", true},
		{"2001:2::1", true},       // benchmarking
		{"2001:db8::1", true},     // documentation
		{"3fff::1", true},         // documentation (RFC 9637)
		{"2002:7f00:1::1", true},  // 6to4 embedding 127.0.0.1
		{"2002:808:808::1", true}, // 6to4 embedding 8.8.8.8: refused too
		{"100::1", true},          // discard-only
		{"5f00::1", true},         // outside 2000::/3
		{"4000::1", true},         // unallocated
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := egress.Forbidden(a); got != tt.forbidden {
			t.Errorf("Forbidden(%s) = %v, want %v", tt.addr, got, tt.forbidden)
		}
		if a.Is4() {
			mapped := netip.AddrFrom16(a.As16())
			if got := egress.Forbidden(mapped); got != tt.forbidden {
				t.Errorf("Forbidden(%s) = %v, want %v as for %s", mapped, got, tt.forbidden, tt.addr)
			}
		}
	}
	if !egress.Forbidden(netip.Addr{}) {
		t.Error("Forbidden(zero Addr) = false, want true")
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw      string
		insecure bool
		ok       bool
	}{
		{"https://example.com/hooks", false, true},
		{"https://example.com:8443/hooks?x=1", false, true},
		{"https://EXAMPLE.com./hooks", false, true},
		{"HTTPS://example.com/", false, true},
		{"https://1.2.3.4/", false, true}, // form only: CheckHost judges the address
		{"https://[2606:4700::1]:443/", false, true},
		{"https://xn--bcher-kva.example/", false, true},
		{"https://my_host.example.com/", false, true},
		{"http://example.com/", true, true},
		{"https://example.com:65535/", false, true},
		{"http://example.com/", false, false},
		{"ftp://example.com/", true, false},
		{"file:///etc/passwd", true, false},
		{"javascript:alert(1)", true, false},
		{"mailto:a@example.com", true, false},
		{"https:example.com", false, false},
		{"//example.com/", false, false},
		{"/hooks", false, false},
		{"example.com/hooks", false, false},
		{"", false, false},
		{"https://", false, false},
		{"https:///path", false, false},
		{"https://user:pass@example.com/", false, false},
		{"https://user@example.com/", false, false},
		{"https://example.com:0/", false, false},
		{"https://example.com:65536/", false, false},
		{"https://example.com:99999999999999999999/", false, false},
		{"https://example.com:/", false, false},
		{"https://example.com:abc/", false, false},
		{"https://[fe80::1%25eth0]/", false, false},
		{"https://[1.2.3.4]/", false, false},
		{"https://[::1/", false, false},
		{"https://bücher.example/", false, false},
		{"https://exa mple.com/", false, false},
		{"https://-example.com/", false, false},
		{"https://example..com/", false, false},
		{"https://2130706433/", false, false}, // 127.0.0.1 in legacy decimal
		{"https://0x7f.1/", false, false},
		{"https://127.1/", false, false},
		{"https://0177.0.0.1/", false, false},
		{"https://example.com/" + strings.Repeat("a", 2100), false, false},
		{"https://" + strings.Repeat("a", 64) + ".com/", false, false},
	}
	for _, tt := range tests {
		u, err := egress.CheckURL(tt.raw, tt.insecure)
		if tt.ok != (err == nil) {
			t.Errorf("CheckURL(%q, %v) = %v, %v; want ok=%v", tt.raw, tt.insecure, u, err, tt.ok)
			continue
		}
		if err != nil {
			var e *egress.Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Errorf("CheckURL(%q) error %v is not an *egress.Error with a reason", tt.raw, err)
			}
		}
	}
}

// stubResolver answers from a map, and counts its calls; answers can change
// between calls (DNS rebinding).
type stubResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	calls   int
}

func (r *stubResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	addrs, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

func (r *stubResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.answers == nil {
		r.answers = map[string][]netip.Addr{}
	}
	r.answers[host] = nil
	for _, a := range addrs {
		r.answers[host] = append(r.answers[host], netip.MustParseAddr(a))
	}
}

// recordingDial records dial targets and connects nowhere.
type recordingDial struct {
	mu      sync.Mutex
	targets []string
}

var errNotConnecting = errors.New("test: not connecting")

func (d *recordingDial) dial(_ context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.targets = append(d.targets, network+" "+addr)
	return nil, errNotConnecting
}

func TestGuard_CheckHost(t *testing.T) {
	res := &stubResolver{}
	res.set("public.example", "8.8.8.8", "2606:4700:4700::1111")
	res.set("private.example", "10.0.0.7")
	res.set("mixed.example", "8.8.8.8", "192.168.0.1")
	res.set("metadata.example", "169.254.169.254")
	res.set("mapped.example", "::ffff:127.0.0.1")
	res.set("empty.example")
	tests := []struct {
		host         string
		allowPrivate bool
		wantErr      error // nil: allowed
	}{
		{"public.example", false, nil},
		{"8.8.8.8", false, nil},
		{"2606:4700:4700::1111", false, nil},
		{"private.example", false, egress.ErrForbidden},
		{"mixed.example", false, egress.ErrForbidden},
		{"metadata.example", false, egress.ErrForbidden},
		{"mapped.example", false, egress.ErrForbidden},
		{"127.0.0.1", false, egress.ErrForbidden},
		{"::1", false, egress.ErrForbidden},
		{"::ffff:169.254.169.254", false, egress.ErrForbidden},
		{"localhost", false, egress.ErrForbidden},
		{"api.LOCALHOST.", false, egress.ErrForbidden},
		{"missing.example", false, errors.New("dns")},
		{"empty.example", false, errors.New("any")},
		{"private.example", true, nil},
		{"127.0.0.1", true, nil},
		{"mixed.example", true, nil},
	}
	for _, tt := range tests {
		g := &egress.Guard{AllowPrivate: tt.allowPrivate, Resolver: res}
		err := g.CheckHost(context.Background(), tt.host)
		var e *egress.Error
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("CheckHost(%q, allowPrivate=%v) = %v, want nil", tt.host, tt.allowPrivate, err)
		case tt.wantErr != nil && !errors.As(err, &e):
			t.Errorf("CheckHost(%q) = %v, want an *egress.Error", tt.host, err)
		case tt.wantErr == egress.ErrForbidden && !errors.Is(err, egress.ErrForbidden):
			t.Errorf("CheckHost(%q) = %v, want ErrForbidden", tt.host, err)
		case tt.wantErr != nil && tt.wantErr != egress.ErrForbidden && errors.Is(err, egress.ErrForbidden):
			t.Errorf("CheckHost(%q) = %v, want a resolution error, not ErrForbidden", tt.host, err)
		}
		if e != nil && strings.ContainsAny(e.Reason, "0123456789:") {
			t.Errorf("CheckHost(%q) reason %q shows an address", tt.host, e.Reason)
		}
	}
	var dnsErr *net.DNSError
	err := (&egress.Guard{Resolver: res}).CheckHost(context.Background(), "missing.example")
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("CheckHost(unknown host) = %v, want it to wrap the resolver's *net.DNSError", err)
	}
}

func TestGuard_DialContext(t *testing.T) {
	res := &stubResolver{}
	res.set("public.example", "8.8.8.8", "2606:4700:4700::1111")
	res.set("mapped.example", "::ffff:8.8.4.4")
	res.set("mixed.example", "8.8.8.8", "10.1.2.3")
	res.set("private.example", "192.168.1.10")
	tests := []struct {
		name         string
		network      string
		addr         string
		allowPrivate bool
		wantTargets  []string // what the guard dials, in order
		wantErr      error    // ErrForbidden, errNotConnecting or nil (any other error)
	}{
		{"OKPublicName", "tcp", "public.example:443", false,
			[]string{"tcp 8.8.8.8:443", "tcp [2606:4700:4700::1111]:443"}, errNotConnecting},
		{"OKPublicNameIPv4Only", "tcp4", "public.example:443", false, []string{"tcp4 8.8.8.8:443"}, errNotConnecting},
		{"OKPublicNameIPv6Only", "tcp6", "public.example:8443", false, []string{"tcp6 [2606:4700:4700::1111]:8443"}, errNotConnecting},
		{"OKMappedIsUnmapped", "tcp", "mapped.example:443", false, []string{"tcp 8.8.4.4:443"}, errNotConnecting},
		{"OKPublicLiteral", "tcp", "1.1.1.1:443", false, []string{"tcp 1.1.1.1:443"}, errNotConnecting},
		{"ErrPrivateName", "tcp", "private.example:443", false, nil, egress.ErrForbidden},
		{"ErrMixedName", "tcp", "mixed.example:443", false, nil, egress.ErrForbidden},
		{"ErrLoopbackLiteral", "tcp", "127.0.0.1:80", false, nil, egress.ErrForbidden},
		{"ErrMetadataLiteral", "tcp", "169.254.169.254:80", false, nil, egress.ErrForbidden},
		{"ErrMappedLiteral", "tcp", "[::ffff:10.0.0.1]:80", false, nil, egress.ErrForbidden},
		{"ErrLocalhost", "tcp", "localhost:80", false, nil, egress.ErrForbidden},
		{"ErrUDP", "udp", "public.example:53", false, nil, nil},
		{"ErrNoPort", "tcp", "public.example", false, nil, nil},
		{"ErrUnknownHost", "tcp", "missing.example:443", false, nil, nil},
		{"OKAllowPrivate", "tcp", "private.example:443", true, []string{"tcp 192.168.1.10:443"}, errNotConnecting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &egress.Guard{AllowPrivate: tt.allowPrivate, Resolver: res}
			rec := &recordingDial{}
			egress.SetDial(g, rec.dial)
			conn, err := g.DialContext(context.Background(), tt.network, tt.addr)
			if conn != nil {
				t.Fatal("DialContext returned a connection")
			}
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("DialContext(%s, %s) = %v, want %v", tt.network, tt.addr, err, tt.wantErr)
			}
			if tt.wantErr != egress.ErrForbidden && errors.Is(err, egress.ErrForbidden) {
				t.Fatalf("DialContext(%s, %s) = %v, not a forbidden destination", tt.network, tt.addr, err)
			}
			if strings.Join(rec.targets, ", ") != strings.Join(tt.wantTargets, ", ") {
				t.Fatalf("dialed %q, want %q", rec.targets, tt.wantTargets)
			}
		})
	}
}

// TestGuard_DNSRebinding: the host passes the create-time check with a
// public address, then resolves to loopback; the dial is refused and nothing
// is dialed.
func TestGuard_DNSRebinding(t *testing.T) {
	res := &stubResolver{}
	res.set("rebind.example", "8.8.8.8")
	g := &egress.Guard{Resolver: res}
	rec := &recordingDial{}
	egress.SetDial(g, rec.dial)
	if err := g.CheckHost(context.Background(), "rebind.example"); err != nil {
		t.Fatalf("CheckHost before rebinding = %v", err)
	}
	for _, evil := range []string{"127.0.0.1", "169.254.169.254", "::1", "::ffff:10.0.0.1", "fd00::1"} {
		res.set("rebind.example", evil)
		if _, err := g.DialContext(context.Background(), "tcp", "rebind.example:443"); !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("DialContext after rebinding to %s = %v, want ErrForbidden", evil, err)
		}
	}
	if len(rec.targets) != 0 {
		t.Fatalf("dialed %q after rebinding", rec.targets)
	}
	if res.calls != 6 {
		t.Fatalf("resolver called %d times, want 6: once per check and per dial", res.calls)
	}
}

func TestGuard_Control(t *testing.T) {
	g := &egress.Guard{}
	tests := []struct {
		address string
		allowed bool
	}{
		{"8.8.8.8:443", true},
		{"[2606:4700:4700::1111]:443", true},
		{"127.0.0.1:443", false},
		{"[::1]:443", false},
		{"[::ffff:169.254.169.254]:80", false},
		{"10.0.0.1:80", false},
		{"not-an-ip:80", false},
		{"", false},
	}
	for _, tt := range tests {
		err := g.Control(context.Background(), "tcp", tt.address, nil)
		if tt.allowed != (err == nil) || err != nil && !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("Control(%q) = %v, want allowed=%v", tt.address, err, tt.allowed)
		}
	}
	if err := (&egress.Guard{AllowPrivate: true}).Control(context.Background(), "tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("Control(AllowPrivate, loopback) = %v, want nil", err)
	}
}

// TestGuard_ControlBeforeConnect: the Control hook alone, in a real dialer,
// stops a connection to a loopback listener before connect: the listener
// never sees it.
func TestGuard_ControlBeforeConnect(t *testing.T) {
	srv, conns := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	d := &net.Dialer{ControlContext: (&egress.Guard{}).Control}
	if c, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String()); !errors.Is(err, egress.ErrForbidden) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial with the guard's Control hook = %v, want ErrForbidden", err)
	}
	// A request that does connect: the server must have seen one connection
	// (the server registers connections in accept order).
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := conns.Load(); n != 1 {
		t.Fatalf("server saw %d connections, want 1 (the refused dial must not connect)", n)
	}
}

// newCountingServer starts a loopback test server and counts the
// connections it accepts.
func newCountingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestNewClient(t *testing.T) {
	var gotUA, gotPath string
	srv, conns := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotPath = r.UserAgent(), r.URL.Path
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://receiver.test/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := &stubResolver{}
	res.set("receiver.test", "127.0.0.1")
	base := "http://receiver.test:" + port

	t.Run("ErrLoopbackRefusedBeforeConnecting", func(t *testing.T) {
		c := egress.NewClient(&egress.Guard{Resolver: res}, "Triggers/test")
		_, err := c.Post(base+"/hook", "application/json", strings.NewReader("{}"))
		if !errors.Is(err, egress.ErrForbidden) {
			t.Fatalf("Post to a loopback receiver = %v, want ErrForbidden", err)
		}
		if n := conns.Load(); n != 0 {
			t.Fatalf("server saw %d connections, want 0", n)
		}
	})
	t.Run("OKAllowPrivate", func(t *testing.T) {
		c := egress.NewClient(&egress.Guard{AllowPrivate: true, Resolver: res}, "Triggers/test")
		resp, err := c.Post(base+"/hook", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := egress.ReadBody(resp.Body, egress.MaxResponseBody); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusNoContent || gotUA != "Triggers/test" || gotPath != "/hook" {
			t.Fatalf("got %d, User-Agent %q, path %q; want 204, Triggers/test, /hook", resp.StatusCode, gotUA, gotPath)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("server saw %d connections, want 1: the refused request must not have connected", n)
		}
	})
	t.Run("RedirectNotFollowed", func(t *testing.T) {
		c := egress.NewClient(&egress.Guard{AllowPrivate: true, Resolver: res}, "Triggers/test")
		resp, err := c.Post(base+"/redirect", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		egress.ReadBody(resp.Body, egress.MaxResponseBody)
		if resp.StatusCode != http.StatusFound || gotPath != "/redirect" {
			t.Fatalf("got %d after path %q, want the 302 itself", resp.StatusCode, gotPath)
		}
	})
	t.Run("ProxyEnvironmentIgnored", func(t *testing.T) {
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
		t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
		c := egress.NewClient(&egress.Guard{AllowPrivate: true, Resolver: res}, "")
		resp, err := c.Get(base + "/hook")
		if err != nil {
			t.Fatalf("Get with proxy variables set = %v, want a direct request", err)
		}
		egress.ReadBody(resp.Body, egress.MaxResponseBody)
		if gotUA != "Go-http-client/1.1" {
			t.Fatalf("User-Agent %q with an empty default, want Go's own", gotUA)
		}
	})
}

func TestReadBody(t *testing.T) {
	body := &trackingBody{r: strings.NewReader(strings.Repeat("x", 10000))}
	got, err := egress.ReadBody(body, egress.MaxResponseBody)
	if err != nil || len(got) != egress.MaxResponseBody || !body.closed {
		t.Fatalf("ReadBody(10000 bytes) = %d bytes, %v, closed %v; want %d, nil, true", len(got), err, body.closed, egress.MaxResponseBody)
	}
	short := &trackingBody{r: strings.NewReader("oops")}
	if got, err := egress.ReadBody(short, egress.MaxResponseBody); err != nil || string(got) != "oops" || !short.closed {
		t.Fatalf("ReadBody(oops) = %q, %v, closed %v", got, err, short.closed)
	}
}

type trackingBody struct {
	r      io.Reader
	closed bool
}

func (b *trackingBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *trackingBody) Close() error               { b.closed = true; return nil }

// FuzzCheckURL: CheckURL never panics; what it accepts is absolute, https
// (or http when allowed), has a host and no user information, and is
// accepted again in its String form.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/hooks", "http://example.com", "https://[::1]:443/",
		"https://user@example.com", "https://example.com:0", "https://0x7f.1/", "https://[fe80::1%25eth0]/",
		"https://bücher.example", "javascript:alert(1)", "https:///x", "", "https://a..b/", "https://example.com:/"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, insecure bool) {
		u, err := egress.CheckURL(raw, insecure)
		if err != nil {
			var e *egress.Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("CheckURL(%q) = %v: not an *egress.Error with a reason", raw, err)
			}
			return
		}
		if u.Scheme != "https" && !(insecure && u.Scheme == "http") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("CheckURL(%q) accepted %#v", raw, u)
		}
		if _, err := egress.CheckURL(u.String(), insecure); err != nil {
			t.Fatalf("CheckURL(%q) accepted, but not its String %q: %v", raw, u.String(), err)
		}
	})
}
