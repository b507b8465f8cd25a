package clientip_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/triggersapi/triggers/clientip"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestResolver_Resolve(t *testing.T) {
	oneProxy := prefixes("10.0.0.1/32")
	twoProxies := prefixes("10.0.0.0/24", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		realIP  []string
		want    string // "" = unknown
	}{
		{"DirectPeer", nil, "203.0.113.7:5555", nil, nil, "203.0.113.7"},
		{"DirectPeerIPv6", nil, "[2001:db8::7]:5555", nil, nil, "2001:db8::7"},
		{"DirectPeerMapped", nil, "[::ffff:203.0.113.7]:5555", nil, nil, "203.0.113.7"},
		{"PeerWithoutPort", nil, "203.0.113.7", nil, nil, "203.0.113.7"},
		{"UntrustedPeerHeadersIgnored", nil, "203.0.113.7:1", []string{"1.1.1.1"}, []string{"2.2.2.2"}, "203.0.113.7"},
		{"UntrustedPeerSpoofedXFF", oneProxy, "198.51.100.9:1", []string{"10.0.0.1"}, nil, "198.51.100.9"},
		{"OneTrustedProxy", oneProxy, "10.0.0.1:1", []string{"203.0.113.7"}, nil, "203.0.113.7"},
		{"OneProxySpoofedLeftmost", oneProxy, "10.0.0.1:1", []string{"6.6.6.6, 203.0.113.7"}, nil, "203.0.113.7"},
		{"TwoTrustedProxies", twoProxies, "10.0.0.2:1", []string{"6.6.6.6, 203.0.113.7, 10.0.0.5"}, nil, "203.0.113.7"},
		{"TwoProxiesIPv6Hop", twoProxies, "10.0.0.2:1", []string{"203.0.113.7, 2001:db8:ffff::1"}, nil, "203.0.113.7"},
		{"SeveralXFFHeaders", twoProxies, "10.0.0.2:1", []string{"6.6.6.6", "203.0.113.7", "10.0.0.9"}, nil, "203.0.113.7"},
		{"XFFWithPorts", oneProxy, "10.0.0.1:1", []string{"203.0.113.7:4444"}, nil, "203.0.113.7"},
		{"XFFIPv6WithPort", oneProxy, "10.0.0.1:1", []string{"[2001:db8::7]:4444"}, nil, "2001:db8::7"},
		{"XFFMappedClient", oneProxy, "10.0.0.1:1", []string{"::ffff:203.0.113.7"}, nil, "203.0.113.7"},
		{"AllHopsTrusted", twoProxies, "10.0.0.2:1", []string{"10.0.0.3, 10.0.0.4"}, nil, "10.0.0.3"},
		{"RealIPFromTrustedPeer", oneProxy, "10.0.0.1:1", nil, []string{"203.0.113.7"}, "203.0.113.7"},
		{"XFFBeatsRealIP", oneProxy, "10.0.0.1:1", []string{"203.0.113.8"}, []string{"203.0.113.7"}, "203.0.113.8"},
		{"TrustedPeerNoHeaders", oneProxy, "10.0.0.1:1", nil, nil, "10.0.0.1"},
		{"ErrGarbageXFF", oneProxy, "10.0.0.1:1", []string{"not-an-ip"}, nil, ""},
		{"ErrGarbageHopInChain", twoProxies, "10.0.0.2:1", []string{"203.0.113.7, junk, 10.0.0.5"}, nil, ""},
		{"ErrEmptyXFFEntry", oneProxy, "10.0.0.1:1", []string{"203.0.113.7,"}, nil, ""},
		{"ErrZoneInXFF", oneProxy, "10.0.0.1:1", []string{"fe80::1%eth0"}, nil, ""},
		{"ErrGarbageRealIP", oneProxy, "10.0.0.1:1", nil, []string{"1.2.3"}, ""},
		{"ErrTwoRealIPs", oneProxy, "10.0.0.1:1", nil, []string{"1.2.3.4", "5.6.7.8"}, ""},
		{"ErrGarbagePeer", nil, "nonsense", nil, nil, ""},
		{"GarbageLeftOfClientIgnored", oneProxy, "10.0.0.1:1", []string{"junk, 203.0.113.7"}, nil, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.realIP {
				h.Add("X-Real-IP", v)
			}
			got := clientip.New(tt.trusted).Resolve(tt.peer, h)
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Fatalf("Resolve(%q, XFF %q, X-Real-IP %q) = %v, want %v", tt.peer, tt.xff, tt.realIP, got, want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	list := prefixes("10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32")
	tests := []struct {
		name string
		ip   netip.Addr
		list []netip.Prefix
		want bool
	}{
		{"EmptyListAllowsAll", netip.MustParseAddr("8.8.8.8"), nil, true},
		{"EmptyListAllowsUnknown", netip.Addr{}, nil, true},
		{"InPrefix", netip.MustParseAddr("10.2.3.4"), list, true},
		{"SingleAddress", netip.MustParseAddr("203.0.113.7"), list, true},
		{"NeighbourRefused", netip.MustParseAddr("203.0.113.8"), list, false},
		{"MappedMatchesIPv4Rule", netip.MustParseAddr("::ffff:10.9.9.9"), list, true},
		{"IPv6", netip.MustParseAddr("2001:db8::1"), list, true},
		{"IPv6Outside", netip.MustParseAddr("2001:db9::1"), list, false},
		{"UnknownRefused", netip.Addr{}, list, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientip.Allowed(tt.ip, tt.list); got != tt.want {
				t.Fatalf("Allowed(%v) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

// FuzzResolve checks the forwarded-header parser: it never panics, returns
// either the zero Addr or an unmapped address without a zone, never trusts
// headers from an untrusted peer, and agrees with net/netip on single
// entries: a lone X-Forwarded-For entry that netip parses (without a zone)
// is the client when the peer is a trusted proxy and the entry is not.
func FuzzResolve(f *testing.F) {
	// Seeds: plain, IPv6, mapped, ports, spoofed chains, garbage.
	for _, s := range []string{"203.0.113.7", "2001:db8::7", "::ffff:1.2.3.4", "1.2.3.4:80", "[::1]:80",
		"6.6.6.6, 203.0.113.7", "a, b", "", ",", "fe80::1%eth0", "1.2.3.4, 10.0.0.1", " 1.2.3.4 "} {
		f.Add(s)
	}
	trusted := clientip.New(prefixes("10.0.0.0/8"))
	f.Fuzz(func(t *testing.T, xff string) {
		h := http.Header{"X-Forwarded-For": {xff}}
		got := trusted.Resolve("10.0.0.1:1", h)
		if got.IsValid() && (got.Is4In6() || got.Zone() != "") {
			t.Fatalf("Resolve(XFF %q) = %v: mapped or zoned", xff, got)
		}
		if untrusted := clientip.New(nil).Resolve("198.51.100.1:1", h); untrusted != netip.MustParseAddr("198.51.100.1") {
			t.Fatalf("untrusted peer with XFF %q resolved to %v", xff, untrusted)
		}
		if a, err := netip.ParseAddr(xff); err == nil && a.Zone() == "" && !netip.MustParsePrefix("10.0.0.0/8").Contains(a.Unmap()) {
			if got != a.Unmap() {
				t.Fatalf("Resolve(XFF %q) = %v, netip parses %v", xff, got, a.Unmap())
			}
		}
	})
}

// BenchmarkResolveAndAllow measures the per-request cost of the allowlist
// stage: extracting the client IP behind two trusted proxies and matching it
// against a list of 10 prefixes.
func BenchmarkResolveAndAllow(b *testing.B) {
	res := clientip.New(prefixes("10.0.0.0/24", "2001:db8:ffff::/48"))
	list := prefixes("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/25", "2001:db8:1::/48", "2001:db8:2::/48",
		"172.16.0.0/12", "100.64.0.0/10", "192.168.0.0/16", "203.0.113.128/26", "203.0.113.200/32")
	h := http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.200, 10.0.0.5"}}
	b.ReportAllocs()
	for b.Loop() {
		if !clientip.Allowed(res.Resolve("10.0.0.2:5555", h), list) {
			b.Fatal("refused")
		}
	}
}
