// Package egress guards the requests Triggers sends to tenant-chosen URLs
// (webhook deliveries) against server-side request forgery.
//
// A tenant chooses the URL, so without a guard a delivery could reach the
// server's own loopback interface, the private network it runs in, or the
// cloud metadata service at 169.254.169.254. The guard refuses such
// destinations at two moments:
//
//   - At create time, [CheckURL] checks the URL's form and [Guard.CheckHost]
//     resolves its host: every address must be allowed. This gives the
//     tenant an immediate 400 naming "url".
//   - At every connection, [Guard.DialContext] resolves the host again,
//     refuses if any address is forbidden, and dials an allowed address
//     itself, by IP, so the address checked is the address connected to: a
//     DNS answer that changes after the create-time check (DNS rebinding)
//     cannot get through. A net.Dialer Control hook checks the socket's
//     actual destination just before connect, as a second line of defence.
//
// [NewClient] builds the http.Client for deliveries on top of the guard: it
// never follows redirects (a redirect to a private address would bypass the
// create-time check, and following one is not what the tenant configured),
// ignores proxy environment variables, and times out after 15 s.
//
// # Forbidden addresses
//
// [Forbidden] is an allowlist in spirit: it refuses every special-purpose
// range of the IANA IPv4 and IPv6 special-purpose registries that is not
// globally reachable, and every IPv6 address outside 2000::/3 (global
// unicast) except NAT64 (64:ff9b::/96) embedding an allowed IPv4 address.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they map.
// Documentation and benchmarking ranges are refused too: they are never a
// real receiver, and refusing them keeps tests honest.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// forbidden4 are the IPv4 ranges refused (RFC 6890 and the IANA IPv4
// special-purpose registry).
var forbidden4 = mustPrefixes(
	"0.0.0.0/8",       // "this network", includes the unspecified 0.0.0.0
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // carrier-grade NAT shared space (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, includes cloud metadata 169.254.169.254
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
	"192.0.2.0/24",    // documentation TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private (RFC 1918)
	"198.18.0.0/15",   // benchmarking (RFC 2544)
	"198.51.100.0/24", // documentation TEST-NET-2
	"203.0.113.0/24",  // documentation TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, includes the broadcast 255.255.255.255
)

// forbidden6 are the IPv6 ranges inside 2000::/3 that are refused; every
// address outside 2000::/3 is refused anyway (see Forbidden).
var forbidden6 = mustPrefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID, ...
	"2001:db8::/32", // documentation
	"2002::/16",     // 6to4 (deprecated, RFC 7526): would tunnel to an embedded IPv4 address
	"3fff::/20",     // documentation (RFC 9637)
)

// nat64 is the well-known NAT64 prefix (RFC 6052): its last 32 bits are an
// IPv4 address, reached through a translator.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// globalUnicast6 is the only IPv6 space allocated for global unicast.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

func mustPrefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// Forbidden reports whether a webhook may not be delivered to ip: loopback,
// private (RFC 1918, IPv6 unique local fc00::/7), link-local (169.254.0.0/16
// with the cloud metadata address, fe80::/10), multicast, unspecified,
// carrier-grade NAT (100.64.0.0/10), 0.0.0.0/8, broadcast and the rest of
// 240.0.0.0/4, documentation and benchmarking ranges, IPv4-mapped,
// IPv4-compatible and IPv4-translated IPv6 forms, NAT64 (64:ff9b::/96)
// embedding a forbidden IPv4 address, the local-use NAT64 prefix, 6to4 and
// Teredo, and any IPv6 address outside global unicast 2000::/3. An invalid
// (zero) address and any address with a zone are forbidden.
func Forbidden(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return true
	}
	ip = ip.Unmap()
	if ip.Is4() {
		for _, p := range forbidden4 {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return Forbidden(netip.AddrFrom4([4]byte(b[12:])))
	}
	// Outside 2000::/3 lie ::/128, ::1, the IPv4-compatible ::/96 and
	// translated ::ffff:0:0:0/96 forms, 64:ff9b:1::/48, 100::/64, fc00::/7,
	// fe80::/10, fec0::/10, ff00::/8 and unallocated space.
	if !globalUnicast6.Contains(ip) {
		return true
	}
	for _, p := range forbidden6 {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ErrForbidden is wrapped by every refusal of a forbidden address, by
// CheckHost, DialContext and the dialer's Control hook; test with errors.Is.
var ErrForbidden = errors.New("egress: destination address is forbidden")

// Error is a refused destination. Reason is a short sentence about the URL,
// safe to show to the tenant (the message of a 400 "url" field error); it
// never contains a resolved address. Err, when set, is the cause, for logs.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "egress: " + e.Reason + ": " + e.Err.Error()
	}
	return "egress: " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(reason string) error { return &Error{Reason: reason} }

// maxURLLength bounds a webhook URL, as browsers and most servers do.
const maxURLLength = 2048

// CheckURL parses raw as a webhook destination and checks its form: an
// absolute URL with the https scheme (or http when allowInsecure), a host
// name or IP literal, no user information, and a port, if any, between 1
// and 65535. It does not resolve the host: call Guard.CheckHost for that.
// Errors are *Error with a Reason suited to a 400 "url" field error.
func CheckURL(raw string, allowInsecure bool) (*url.URL, error) {
	if raw == "" {
		return nil, refuse("must not be empty")
	}
	if len(raw) > maxURLLength {
		return nil, refuse(fmt.Sprintf("must be at most %d characters", maxURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refuse("must be a valid absolute URL")
	}
	want := "must be an absolute https:// URL"
	if allowInsecure {
		want = "must be an absolute http:// or https:// URL"
	}
	switch {
	case !u.IsAbs() || u.Opaque != "":
		return nil, refuse(want)
	case u.Scheme == "https", u.Scheme == "http" && allowInsecure:
	default:
		return nil, refuse(want)
	}
	if u.User != nil {
		return nil, refuse("must not contain a user name or password")
	}
	host := u.Hostname()
	if host == "" {
		return nil, refuse("must have a host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, refuse("port must be between 1 and 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, refuse("port must be between 1 and 65535")
	}
	if strings.HasPrefix(u.Host, "[") {
		// url.Parse checked the brackets; the inside must be an IPv6 literal
		// without a zone.
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return nil, refuse("host must be a valid IPv6 address")
		}
		return u, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return u, nil
	}
	if reason := checkHostname(host); reason != "" {
		return nil, refuse(reason)
	}
	return u, nil
}

// checkHostname returns why host is not a DNS name usable in a webhook URL,
// or "". Labels are letters, digits, hyphens and underscores; international
// names must be written in their ASCII (punycode) form. A name whose last
// label is numeric is refused: no top-level domain is, and resolvers read
// such names as IPv4 addresses in legacy forms (2130706433, 0x7f.1, 127.1).
func checkHostname(host string) string {
	const bad = "host must be a DNS name or an IP address"
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return bad
	}
	var last string
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return "host must be ASCII; write an international domain name in its punycode (xn--) form"
			default:
				return bad
			}
		}
		last = label
	}
	if looksNumeric(last) {
		return "host must be a DNS name or an IP address in standard form"
	}
	return ""
}

// looksNumeric reports whether a label is a decimal, octal or hex number.
func looksNumeric(label string) bool {
	s := strings.ToLower(label)
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		s = rest
		if s == "" {
			return true
		}
		for i := 0; i < len(s); i++ {
			if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Resolver resolves host names; *net.Resolver implements it. network is
// "ip", "ip4" or "ip6".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialFunc dials one resolved address ("ip:port").
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Guard decides which destinations outgoing webhook requests may reach. Its
// zero value forbids the addresses of Forbidden and resolves with
// net.DefaultResolver. A Guard must not be changed once in use; it is safe
// for concurrent use.
type Guard struct {
	// AllowPrivate lifts every address check (the server's
	// --webhook-allow-private, for local development and tests).
	AllowPrivate bool
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver

	// dial, when set by tests, replaces the real dialer for one resolved
	// address, so that tests can see what would be dialed without
	// connecting anywhere.
	dial dialFunc
}

func (g *Guard) resolver() Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// isLocalhostName reports whether host is "localhost" or a name under it,
// which RFC 6761 reserves for the loopback interface.
func isLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// resolve returns the addresses of host (an IP literal is its own single
// address), each unmapped, refusing with an *Error wrapping ErrForbidden if
// any is forbidden. network is "ip", "ip4" or "ip6".
func (g *Guard) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if !g.AllowPrivate && Forbidden(a) {
			return nil, &Error{Reason: "must not point to a private, loopback, link-local or otherwise reserved address", Err: ErrForbidden}
		}
		return []netip.Addr{a}, nil
	}
	if !g.AllowPrivate && isLocalhostName(host) {
		return nil, &Error{Reason: "must not point to a private, loopback, link-local or otherwise reserved address", Err: ErrForbidden}
	}
	addrs, err := g.resolver().LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, &Error{Reason: "host cannot be resolved", Err: err}
	}
	if len(addrs) == 0 {
		return nil, &Error{Reason: "host cannot be resolved", Err: errors.New("no addresses")}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if !g.AllowPrivate && Forbidden(a) {
			return nil, &Error{Reason: "host resolves to a private, loopback, link-local or otherwise reserved address", Err: ErrForbidden}
		}
		out = append(out, a)
	}
	return out, nil
}

// CheckHost is the create-time check of a webhook host (a DNS name or an IP
// literal, as url.URL.Hostname returns it): an IP literal must be allowed,
// and a name must resolve, with every address allowed. Errors are *Error; a
// forbidden address wraps ErrForbidden, a resolution failure wraps the
// resolver's error (a *net.DNSError says whether it is temporary).
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	_, err := g.resolve(ctx, "ip", host)
	return err
}

// DialContext dials addr ("host:port") over TCP for an outgoing webhook
// request, for use as http.Transport.DialContext. It resolves the host with
// the guard's Resolver, refuses if any address is forbidden (an error
// wrapping ErrForbidden, before any connection is attempted), then dials the
// resolved addresses by IP, in order, until one connects. The socket's
// destination is checked once more just before connect (see Control).
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ipNetwork := "ip"
	switch network {
	case "tcp":
	case "tcp4":
		ipNetwork = "ip4"
	case "tcp6":
		ipNetwork = "ip6"
	default:
		return nil, fmt.Errorf("egress: dial %s %s: only tcp is allowed", network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: %w", addr, err)
	}
	addrs, err := g.resolve(ctx, ipNetwork, host)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: %w", addr, err)
	}
	dial := g.dial
	if dial == nil {
		d := &net.Dialer{ControlContext: g.Control}
		dial = d.DialContext
	}
	var errs []error
	for _, a := range addrs {
		if ipNetwork == "ip4" && !a.Is4() || ipNetwork == "ip6" && !a.Is6() {
			continue
		}
		conn, err := dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("egress: dial %s: no %s address", addr, ipNetwork)
	}
	return nil, fmt.Errorf("egress: dial %s: %w", addr, errors.Join(errs...))
}

// Control checks the destination of a socket just before it connects; it is
// the net.Dialer ControlContext hook of the guard's dialer, a second line of
// defence behind DialContext's own check. address is the "ip:port" the
// socket is about to connect to; c is not used.
func (g *Guard) Control(_ context.Context, network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s %s: not an IP address", ErrForbidden, network, address)
	}
	if Forbidden(ap.Addr()) {
		return fmt.Errorf("%w: %s %s", ErrForbidden, network, address)
	}
	return nil
}
