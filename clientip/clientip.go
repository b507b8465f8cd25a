// Package clientip finds the IP address of the client behind a request, as
// a configured policy, and matches it against allowlists.
//
// The client IP is the TCP peer, unless the peer is a trusted proxy. Behind
// trusted proxies, X-Forwarded-For is read from the right, skipping trusted
// hops: the first untrusted address is the client. Entries to its left were
// written by the client itself and prove nothing. Without X-Forwarded-For, a
// trusted proxy's X-Real-IP is used. Headers from untrusted peers are
// ignored. A forwarded chain from a trusted peer that cannot be parsed leaves
// the client IP unknown (the zero netip.Addr): the resolver refuses rather
// than guesses, and an allowlist then refuses the request.
//
// All addresses are returned unmapped: an IPv4-mapped IPv6 address
// (::ffff:192.0.2.1) is the IPv4 address it maps, so IPv4 rules match it.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver extracts client IPs under one trusted-proxy policy. Its zero value
// trusts no proxy. It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts proxies in the given prefixes.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// maxForwardedEntries bounds the X-Forwarded-For entries examined; a longer
// chain is treated as malformed.
const maxForwardedEntries = 64

// ClientIP returns the client IP of r, or the zero Addr when it is unknown.
func (res *Resolver) ClientIP(r *http.Request) netip.Addr {
	return res.Resolve(r.RemoteAddr, r.Header)
}

// Resolve returns the client IP for a TCP peer address ("host:port" or a
// bare host) and the request headers, or the zero Addr when it is unknown.
func (res *Resolver) Resolve(remoteAddr string, h http.Header) netip.Addr {
	peer, ok := ParseAddr(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !res.trustedAddr(peer) {
		return peer
	}
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		return res.fromForwardedFor(xff)
	}
	if real := h.Values("X-Real-IP"); len(real) > 0 {
		if len(real) > 1 {
			return netip.Addr{}
		}
		a, ok := ParseAddr(strings.TrimSpace(real[0]))
		if !ok {
			return netip.Addr{}
		}
		return a
	}
	return peer
}

// fromForwardedFor walks the X-Forwarded-For entries (all header lines, in
// order) from the right and returns the first that is not a trusted proxy.
// If every entry is trusted, the leftmost is the client.
func (res *Resolver) fromForwardedFor(values []string) netip.Addr {
	var entries []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			entries = append(entries, strings.TrimSpace(e))
			if len(entries) > maxForwardedEntries {
				return netip.Addr{}
			}
		}
	}
	var client netip.Addr
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := ParseAddr(entries[i])
		if !ok {
			return netip.Addr{} // a malformed chain: refuse rather than guess
		}
		client = a
		if !res.trustedAddr(a) {
			return a
		}
	}
	return client
}

func (res *Resolver) trustedAddr(a netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseAddr parses an address as peers and proxies write it: a bare IPv4 or
// IPv6 address, "ipv4:port", or "[ipv6]:port"; the port is dropped and the
// address unmapped. Zones are refused: they name a local interface, never a
// remote client.
func ParseAddr(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return valid(a)
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return valid(a)
}

func valid(a netip.Addr) (netip.Addr, bool) {
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Allowed reports whether ip may use a key with this allowlist: an empty
// list allows every address, known or not; a non-empty list allows only the
// addresses it contains, and never an unknown (zero) one.
func Allowed(ip netip.Addr, allowlist []netip.Prefix) bool {
	if len(allowlist) == 0 {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range allowlist {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
