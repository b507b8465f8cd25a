package triggers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DefaultRateLimit is the requests per minute of a key without its own limit.
const DefaultRateLimit = 1000

// MaxRateLimit bounds a key's limit, so that a typo cannot make it unlimited
// in effect and arithmetic on it cannot overflow.
const MaxRateLimit = 1_000_000

// APIKey is the stored record of one API key. The raw secret is never stored:
// only its SHA-256 Hash, and a short public ID for display and logs.
type APIKey struct {
	ID        string // public, e.g. "key_2f7mq3xkd5"
	Hash      string // hex SHA-256 of the raw key
	Tenant    string
	Name      string
	CreatedAt time.Time
	Active    bool
	// RateLimit is the key's requests per minute; 0 means the server default.
	RateLimit int
	// AllowedIPs are the prefixes a client IP must be in; empty allows all.
	AllowedIPs []netip.Prefix
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
}

// Usable reports whether k may authenticate a request at now.
func (k *APIKey) Usable(now time.Time) bool {
	return k.Active && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// HashKey returns the stored form of a raw key: hex SHA-256.
func HashKey(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// GenerateKey returns a new raw API key: "tk_" and 32 random bytes in base32.
func GenerateKey() string {
	var b [32]byte
	rand.Read(b[:])
	return "tk_" + lowerBase32.EncodeToString(b[:])
}

// NewKeyID returns a new public key id: "key_" and 10 random base32 characters.
func NewKeyID() string {
	var b [7]byte
	rand.Read(b[:])
	return "key_" + lowerBase32.EncodeToString(b[:])[:10]
}

var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidateTenant checks a tenant name: 1 to 64 of A-Z a-z 0-9 _ . -
func ValidateTenant(t string) error {
	if !tenantPattern.MatchString(t) {
		return Errorf(EINVALID, "tenant %q must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'", t)
	}
	return nil
}

// ValidateRawKey checks a raw key given explicitly (triggers keys create --key):
// 16 to 256 printable ASCII characters without spaces.
func ValidateRawKey(raw string) error {
	if len(raw) < 16 || len(raw) > 256 {
		return Errorf(EINVALID, "a key must be 16 to 256 characters, got %d", len(raw))
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] > '~' {
			return Errorf(EINVALID, "a key must be printable ASCII without spaces")
		}
	}
	return nil
}

// ValidateRateLimit checks a key's requests per minute (0 = server default).
func ValidateRateLimit(n int) error {
	if n < 0 || n > MaxRateLimit {
		return Errorf(EINVALID, "rate limit must be between 1 and %d requests per minute (0 for the server default), got %d", MaxRateLimit, n)
	}
	return nil
}

// ParseAllowlist parses a comma-separated list of IP addresses and CIDR
// prefixes, IPv4 or IPv6, into normalized prefixes: a bare address becomes a
// single-address prefix, host bits are cleared, IPv4-mapped IPv6 addresses
// become IPv4, duplicates go. Zones are refused. An empty list allows all.
// The error is EINVALID and names the first bad entry.
func ParseAllowlist(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := ParsePrefix(entry)
		if err != nil {
			return nil, Errorf(EINVALID, "invalid IP or CIDR entry %q: %v", entry, err)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// ParsePrefix parses one allowlist entry (an address or a CIDR prefix) into a
// normalized prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errors.New("zones are not allowed")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix")
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FormatPrefix writes a prefix as users gave it: a single address bare, a
// wider prefix in CIDR notation.
func FormatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// FormatAllowlist returns the prefixes as strings (FormatPrefix), never nil.
func FormatAllowlist(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, FormatPrefix(p))
	}
	return out
}
