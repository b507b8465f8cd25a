package triggers_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/triggersapi/triggers"
)

// parseAllowlistTests are the cases of TestParseAllowlist; they also seed
// FuzzParseAllowlist. A case with bad set must be refused with a message
// naming the bad entry; otherwise want is the result, formatted.
var parseAllowlistTests = []struct {
	name string
	in   string
	want []string
	bad  string
}{
	{name: "OKEmpty", in: "", want: nil},
	{name: "OKOnlySeparators", in: " , ,,", want: nil},
	{name: "OKIPv4", in: "10.0.0.1", want: []string{"10.0.0.1"}},
	{name: "OKIPv4CIDR", in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
	{name: "OKIPv4HostBitsCleared", in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
	{name: "OKIPv4Slash32", in: "192.0.2.7/32", want: []string{"192.0.2.7"}},
	{name: "OKIPv4All", in: "0.0.0.0/0", want: []string{"0.0.0.0/0"}},
	{name: "OKIPv6", in: "2001:db8::1", want: []string{"2001:db8::1"}},
	{name: "OKIPv6Uppercase", in: "2001:DB8:0:0::A", want: []string{"2001:db8::a"}},
	{name: "OKIPv6CIDR", in: "2001:db8::/32", want: []string{"2001:db8::/32"}},
	{name: "OKIPv6HostBitsCleared", in: "2001:db8:ffff::1/32", want: []string{"2001:db8::/32"}},
	{name: "OKIPv6Slash128", in: "2001:db8::1/128", want: []string{"2001:db8::1"}},
	{name: "OKIPv6All", in: "::/0", want: []string{"::/0"}},
	{name: "OKIPv6Loopback", in: "::1", want: []string{"::1"}},
	{name: "OKIPv4Mapped", in: "::ffff:10.0.0.1", want: []string{"10.0.0.1"}},
	{name: "OKIPv4MappedHex", in: "::ffff:a00:1", want: []string{"10.0.0.1"}},
	{name: "OKIPv4MappedCIDR", in: "::ffff:10.1.2.3/104", want: []string{"10.0.0.0/8"}},
	{name: "OKIPv4MappedSlash128", in: "::ffff:10.0.0.1/128", want: []string{"10.0.0.1"}},
	{name: "OKIPv4MappedAll", in: "::ffff:0:0/96", want: []string{"0.0.0.0/0"}},
	{name: "OKIPv4MappedWide", in: "::ffff:10.0.0.1/80", want: []string{"::/80"}},
	{name: "OKList", in: " 10.0.0.1 , 2001:db8::/32,192.168.0.0/16 ", want: []string{"10.0.0.1", "2001:db8::/32", "192.168.0.0/16"}},
	{name: "OKDuplicatesRemoved", in: "10.0.0.1,10.0.0.1/32,::ffff:10.0.0.1,10.0.0.1", want: []string{"10.0.0.1"}},
	{name: "OKDuplicatePrefixesRemoved", in: "10.0.0.0/8,10.9.9.9/8,2001:db8::/32,2001:db8::1/32", want: []string{"10.0.0.0/8", "2001:db8::/32"}},
	{name: "OKEmptyEntriesSkipped", in: ",10.0.0.1,,", want: []string{"10.0.0.1"}},

	{name: "ErrZone", in: "fe80::1%eth0", bad: "fe80::1%eth0"},
	{name: "ErrZoneCIDR", in: "fe80::1%eth0/64", bad: "fe80::1%eth0/64"},
	{name: "ErrEmptyZone", in: "fe80::1%", bad: "fe80::1%"},
	{name: "ErrIPv4Octet", in: "10.0.0.256", bad: "10.0.0.256"},
	{name: "ErrIPv4Short", in: "10.0.1", bad: "10.0.1"},
	{name: "ErrIPv4LeadingZero", in: "010.0.0.1", bad: "010.0.0.1"},
	{name: "ErrIPv4Bits", in: "10.0.0.0/33", bad: "10.0.0.0/33"},
	{name: "ErrIPv6Bits", in: "2001:db8::/129", bad: "2001:db8::/129"},
	{name: "ErrNegativeBits", in: "10.0.0.0/-1", bad: "10.0.0.0/-1"},
	{name: "ErrNoBits", in: "10.0.0.0/", bad: "10.0.0.0/"},
	{name: "ErrNoAddress", in: "/8", bad: "/8"},
	{name: "ErrNetmask", in: "10.0.0.0/255.0.0.0", bad: "10.0.0.0/255.0.0.0"},
	{name: "ErrHostname", in: "example.com", bad: "example.com"},
	{name: "ErrRange", in: "10.0.0.1-10.0.0.9", bad: "10.0.0.1-10.0.0.9"},
	{name: "ErrWildcard", in: "10.0.0.*", bad: "10.0.0.*"},
	{name: "ErrSpaceSeparated", in: "10.0.0.1 10.0.0.2", bad: "10.0.0.1 10.0.0.2"},
	{name: "ErrSemicolonSeparated", in: "10.0.0.1;10.0.0.2", bad: "10.0.0.1;10.0.0.2"},
	{name: "ErrBrackets", in: "[::1]", bad: "[::1]"},
	{name: "ErrPort", in: "10.0.0.1:80", bad: "10.0.0.1:80"},
	{name: "ErrSecondEntry", in: "10.0.0.1, nope ,10.0.0.2", bad: "nope"},
}

func TestParseAllowlist(t *testing.T) {
	for _, tt := range parseAllowlistTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseAllowlist(tt.in)
			if tt.bad != "" {
				if err == nil {
					t.Fatalf("ParseAllowlist(%q) = %v, want an error", tt.in, got)
				}
				checkCode(t, "ParseAllowlist", err, triggers.EINVALID)
				if msg := triggers.ErrorMessage(err); !strings.Contains(msg, `"`+tt.bad+`"`) {
					t.Errorf("ParseAllowlist(%q) message = %q, want it to name %q", tt.in, msg, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowlist(%q) error = %v", tt.in, err)
			}
			if tt.want == nil && got != nil {
				t.Fatalf("ParseAllowlist(%q) = %#v, want nil", tt.in, got)
			}
			if s := triggers.FormatAllowlist(got); !slices.Equal(s, tt.want) && len(s)+len(tt.want) > 0 {
				t.Fatalf("ParseAllowlist(%q) = %q, want %q", tt.in, s, tt.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want netip.Prefix
	}{
		{"192.0.2.1", netip.MustParsePrefix("192.0.2.1/32")},
		{"192.0.2.1/24", netip.MustParsePrefix("192.0.2.0/24")},
		{"2001:db8::1", netip.MustParsePrefix("2001:db8::1/128")},
		{"2001:db8::1/64", netip.MustParsePrefix("2001:db8::/64")},
		{"::ffff:192.0.2.1", netip.MustParsePrefix("192.0.2.1/32")},
		{"::ffff:192.0.2.1/120", netip.MustParsePrefix("192.0.2.0/24")},
	} {
		got, err := triggers.ParsePrefix(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParsePrefix(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", " 192.0.2.1", "fe80::1%eth0", "192.0.2.1/", "x"} {
		if got, err := triggers.ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatPrefix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"192.0.2.1/32", "192.0.2.1"},
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"2001:db8::1/128", "2001:db8::1"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::/0", "::/0"},
	} {
		if got := triggers.FormatPrefix(netip.MustParsePrefix(tt.in)); got != tt.want {
			t.Errorf("FormatPrefix(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := triggers.FormatAllowlist(nil); got == nil || len(got) != 0 {
		t.Errorf("FormatAllowlist(nil) = %#v, want an empty, non-nil slice", got)
	}
}

func TestValidateTenant(t *testing.T) {
	for _, in := range []string{"acme", "a", "dev", "A-b_c.9", strings.Repeat("t", 64)} {
		if err := triggers.ValidateTenant(in); err != nil {
			t.Errorf("ValidateTenant(%q) = %v, want nil", in, err)
		}
	}
	for _, in := range []string{"", strings.Repeat("t", 65), "a b", "a/b", "tenant\n", "\nacme", "café", "a:b", "a*"} {
		checkCode(t, "ValidateTenant("+in+")", triggers.ValidateTenant(in), triggers.EINVALID)
	}
}

func TestValidateRawKey(t *testing.T) {
	for _, in := range []string{"test-api-key-12345", strings.Repeat("k", 16), strings.Repeat("k", 256), "!\"#$%&'()*+,-./~", triggers.GenerateKey()} {
		if err := triggers.ValidateRawKey(in); err != nil {
			t.Errorf("ValidateRawKey(%q) = %v, want nil", in, err)
		}
	}
	for _, in := range []string{"", strings.Repeat("k", 15), strings.Repeat("k", 257), "test api key 12345", "test-api-key-12345\n",
		"test\tapi-key-12345", "test-api-key-1234\x7f", "test-api-key-1234é"} {
		checkCode(t, "ValidateRawKey("+in+")", triggers.ValidateRawKey(in), triggers.EINVALID)
	}
}

func TestValidateRateLimit(t *testing.T) {
	for _, n := range []int{0, 1, triggers.DefaultRateLimit, triggers.MaxRateLimit} {
		if err := triggers.ValidateRateLimit(n); err != nil {
			t.Errorf("ValidateRateLimit(%d) = %v, want nil", n, err)
		}
	}
	for _, n := range []int{-1, triggers.MaxRateLimit + 1, -1 << 63} {
		err := triggers.ValidateRateLimit(n)
		if err == nil {
			t.Errorf("ValidateRateLimit(%d) = nil, want an error", n)
			continue
		}
		checkCode(t, "ValidateRateLimit", err, triggers.EINVALID)
	}
}
