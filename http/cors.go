package http

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// CORS for browser clients (DESIGN §7, docs/DECISIONS.md "CORS"). It is off
// unless Options.CORS allows origins. Then:
//
//   - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
//     answered 204 before routing and authentication, since browsers send it
//     without the API key; it spends no rate-limit budget. An allowed
//     origin's preflight carries the Access-Control-Allow-* headers; a
//     disallowed origin's carries none, so the browser refuses the request.
//   - Every other response to an allowed origin, errors included, carries
//     Access-Control-Allow-Origin and Access-Control-Expose-Headers.
//
// Access-Control-Allow-Credentials is never sent: the API key travels in a
// header, not a cookie.
const (
	corsAllowMethods  = "GET, HEAD, POST, DELETE"
	corsAllowHeaders  = "X-API-Key, Authorization, Content-Type, Idempotency-Key, X-Request-ID"
	corsExposeHeaders = "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, " +
		"RateLimit, RateLimit-Policy, Retry-After, Idempotent-Replayed"
	// corsMaxAge is how long (in seconds) a browser may cache a preflight.
	corsMaxAge = "600"
)

// CORSPolicy is the set of origins browsers may call the API from, as
// ParseCORSOrigins returns it; Options.CORS takes one. It is parsed, and so
// valid, by construction: NewServer has nothing left to check. The zero
// value allows no origin: CORS is off.
type CORSPolicy struct {
	p *corsPolicy // nil: CORS off
}

// Origins returns the allowed origins, normalized, in the order they were
// listed ("*" alone for every origin); nil when CORS is off.
func (c CORSPolicy) Origins() []string {
	if c.p == nil {
		return nil
	}
	return append([]string(nil), c.p.list...)
}

// String returns the origins comma-separated, as ParseCORSOrigins reads
// them back; "" when CORS is off.
func (c CORSPolicy) String() string { return strings.Join(c.Origins(), ",") }

// corsPolicy is what the middleware consults; a nil *corsPolicy means CORS
// is off.
type corsPolicy struct {
	any     bool            // "*": every origin
	origins map[string]bool // normalized origins
	list    []string        // the same, in the order given
}

// allowOrigin returns the Access-Control-Allow-Origin value for a request
// with this Origin header, and whether the origin is allowed at all.
func (p *corsPolicy) allowOrigin(origin string) (string, bool) {
	switch {
	case origin == "":
		return "", false
	case p.any:
		return "*", true
	case p.origins[origin]:
		return origin, true
	}
	return "", false
}

// withCORS answers preflights and adds the CORS headers to every other
// response; with CORS off it is next itself.
func (s *Server) withCORS(next http.Handler) http.Handler {
	if s.cors == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		allow, ok := s.cors.allowOrigin(r.Header.Get("Origin"))
		if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			infoFrom(r.Context()).route = "CORS preflight"
			h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
			if ok {
				h.Set("Access-Control-Allow-Origin", allow)
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// Whether the response carries CORS headers depends on Origin, so a
		// cache must key on it, whatever the origin.
		h.Add("Vary", "Origin")
		if ok {
			h.Set("Access-Control-Allow-Origin", allow)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// ParseCORSOrigins parses a comma-separated list of the origins allowed to
// call the API from a browser, each as ParseCORSOrigin accepts it. Blank
// entries and repeats are dropped; an empty list is the zero CORSPolicy
// (CORS off). "*" cannot be combined with other origins. An error names the
// bad entry.
func ParseCORSOrigins(list string) (CORSPolicy, error) {
	p := &corsPolicy{origins: map[string]bool{}}
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		o, err := ParseCORSOrigin(entry)
		if err != nil {
			return CORSPolicy{}, err
		}
		if !p.origins[o] {
			p.origins[o] = true
			p.list = append(p.list, o)
		}
	}
	switch {
	case len(p.list) == 0:
		return CORSPolicy{}, nil
	case p.origins["*"] && len(p.list) > 1:
		return CORSPolicy{}, errors.New(`CORS origin "*" allows every origin and cannot be combined with others`)
	}
	p.any = p.origins["*"]
	return CORSPolicy{p: p}, nil
}

// ParseCORSOrigin parses one allowed origin: "*" (every origin), or
// scheme://host[:port] with scheme http or https, and no path (not even a
// trailing "/"), query, fragment or user info. The host is a DNS name in
// ASCII (punycode for international names), an IPv4 address or a bracketed
// IPv6 address; wildcards are not supported. The result is the origin as
// browsers send it in the Origin header: scheme and host in lower case, an
// IP address in its canonical form and the scheme's default port dropped.
// The error names the entry.
func ParseCORSOrigin(s string) (string, error) {
	o, err := parseOrigin(s)
	if err != nil {
		return "", fmt.Errorf("CORS origin %q: %s", s, err)
	}
	return o, nil
}

func parseOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", errors.New(`want scheme://host[:port], e.g. https://app.example.com, or "*"`)
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("the scheme must be http or https")
	}
	if i := strings.IndexAny(rest, "/?#@"); i >= 0 {
		switch rest[i] {
		case '/':
			return "", errors.New("an origin has no path, not even a trailing /")
		case '@':
			return "", errors.New("an origin has no user info")
		default:
			return "", errors.New("an origin has no query or fragment")
		}
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", errors.New("unclosed [ in the IPv6 host")
		}
		addr, err := netip.ParseAddr(rest[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", errors.New("the host in [ ] is not an IPv6 address (without zone)")
		}
		host = "[" + addr.String() + "]"
		switch after := rest[end+1:]; {
		case after == "":
		case after[0] == ':':
			port = after[1:]
			if port == "" {
				return "", errors.New("empty port")
			}
		default:
			return "", errors.New("unexpected characters after the IPv6 host")
		}
	} else {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return "", errors.New("empty port")
			}
		}
		var err error
		if host, err = parseOriginHost(host); err != nil {
			return "", err
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] < '0' || port[0] > '9' {
			return "", errors.New("the port must be a number from 1 to 65535")
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = "" // browsers leave the default port out of Origin
		} else {
			port = strconv.Itoa(n)
		}
	}
	o := scheme + "://" + host
	if port != "" {
		o += ":" + port
	}
	return o, nil
}

// parseOriginHost checks a DNS name or an IPv4 address and returns it as
// an Origin header spells it.
func parseOriginHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("no host")
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" {
			return "", errors.New("the host has an empty label")
		}
		for i := 0; i < len(l); i++ {
			switch c := l[i]; {
			case c == '*':
				return "", errors.New("wildcards are not supported; list each origin")
			case c >= 0x80:
				return "", errors.New("write an international host name in its punycode (xn--) form")
			case c != '-' && (c < 'a' || c > 'z') && (c < '0' || c > '9'):
				return "", fmt.Errorf("the host has the invalid character %q", c)
			}
		}
	}
	// As in the URL standard, a host whose last label is a number is an
	// IPv4 address; only its dotted-decimal form is accepted here.
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is4() {
			return "", errors.New("the host is not a dotted-decimal IPv4 address")
		}
		return addr.String(), nil
	}
	return host, nil
}
