package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// parseLoopbackURL parses a base URL and accepts it only when it is http(s),
// has no path beyond "/", no query, and its host is localhost, an address in
// 127.0.0.0/8 or ::1 (IPv4-mapped forms included). This tool generates heavy
// load; it must never be pointed at another machine.
func parseLoopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid -url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid -url %q: scheme must be http or https", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("invalid -url %q: credentials in the URL are not supported", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("invalid -url %q: give the base URL only (scheme://host:port)", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("refusing -url %q: host must be localhost, 127.0.0.0/8 or ::1", raw)
	}
	u.Path = ""
	return u, nil
}

// isLoopbackHost reports whether host (without port or brackets) names the
// loopback interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	return a.Unmap().IsLoopback()
}

// isLoopbackAddr reports whether a connected socket's remote address is a
// loopback address. The dialer checks it, so that "localhost" resolving
// somewhere else is caught too.
func isLoopbackAddr(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
