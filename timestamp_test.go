package triggers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
)

// parseTimestampTests are the cases of TestParseTimestamp; they also seed
// FuzzParseTimestamp. Cases with err set must be refused.
var parseTimestampTests = []struct {
	name string
	in   string
	want time.Time
	err  bool
}{
	{"OK", "2025-11-10T12:00:00Z", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKOffsetPlus", "2025-11-10T14:00:00+02:00", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKOffsetMinusHalfHour", "2025-11-10T06:30:00-05:30", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKOffsetMinusZero", "2025-11-10T12:00:00-00:00", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKOffsetLargest", "2025-11-10T23:59:00+23:59", time.Date(2025, 11, 10, 0, 0, 0, 0, time.UTC), false},
	{"OKOffsetChangesDay", "2025-11-10T00:30:00+01:00", time.Date(2025, 11, 9, 23, 30, 0, 0, time.UTC), false},
	{"OKFraction1", "2025-11-10T12:00:00.5Z", time.Date(2025, 11, 10, 12, 0, 0, 500_000_000, time.UTC), false},
	{"OKFraction6", "2025-11-10T12:00:00.123456Z", time.Date(2025, 11, 10, 12, 0, 0, 123_456_000, time.UTC), false},
	{"OKFraction9", "2025-11-10T12:00:00.123456789Z", time.Date(2025, 11, 10, 12, 0, 0, 123_456_789, time.UTC), false},
	{"OKFractionZeros", "2025-11-10T12:00:00.000000000Z", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKFractionOffset", "2025-11-10T14:00:00.000001+02:00", time.Date(2025, 11, 10, 12, 0, 0, 1000, time.UTC), false},
	{"OKLowercase", "2025-11-10t12:00:00z", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKNoOffset", "2025-11-10T12:00:00", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), false},
	{"OKNoOffsetFraction", "2025-11-10T12:00:00.25", time.Date(2025, 11, 10, 12, 0, 0, 250_000_000, time.UTC), false},
	{"OKDate", "2025-11-10", time.Date(2025, 11, 10, 0, 0, 0, 0, time.UTC), false},
	{"OKLeapDay", "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), false},
	{"OKLeapDay2000", "2000-02-29T23:59:59Z", time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC), false},
	{"OKFirstInstant", "0001-01-01T00:00:00Z", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), false},
	{"OKLastInstant", "9999-12-31T23:59:59.999999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), false},
	{"OKLastInstantOffset", "9999-12-31T23:59:59+00:01", time.Date(9999, 12, 31, 23, 58, 59, 0, time.UTC), false},
	{"OKUnixEpoch", "1970-01-01T00:00:00Z", time.Unix(0, 0).UTC(), false},

	{"ErrEmpty", "", time.Time{}, true},
	{"ErrTooLong", "2025-11-10T12:00:00.123456789" + strings.Repeat("0", 40) + "Z", time.Time{}, true},
	{"ErrSpaceSeparator", "2025-11-10 12:00:00Z", time.Time{}, true},
	{"ErrUnescapedPlus", "2025-11-10T12:00:00 02:00", time.Time{}, true}, // "+02:00" sent unescaped in a URL query
	{"ErrLeadingSpace", " 2025-11-10", time.Time{}, true},
	{"ErrTrailingSpace", "2025-11-10T12:00:00Z ", time.Time{}, true},
	{"ErrTrailingNewline", "2025-11-10\n", time.Time{}, true},
	{"ErrTrailingGarbage", "2025-11-10T12:00:00Zjunk", time.Time{}, true},
	{"ErrTrailingNUL", "2025-11-10T12:00:00Z\x00", time.Time{}, true},
	{"ErrTwoZones", "2025-11-10T12:00:00.123+02:00Z", time.Time{}, true},
	{"ErrDoubleZ", "2025-11-10T12:00:00ZZ", time.Time{}, true},
	{"ErrMonth13", "2025-13-01", time.Time{}, true},
	{"ErrMonth0", "2025-00-10T12:00:00Z", time.Time{}, true},
	{"ErrDay0", "2025-11-00", time.Time{}, true},
	{"ErrDay32", "2025-01-32", time.Time{}, true},
	{"ErrApril31", "2025-04-31T12:00:00Z", time.Time{}, true},
	{"ErrNotLeapDay", "2025-02-29", time.Time{}, true},
	{"ErrNotLeapDay1900", "1900-02-29", time.Time{}, true},
	{"ErrHour24", "2025-11-10T24:00:00Z", time.Time{}, true},
	{"ErrMinute60", "2025-11-10T12:60:00Z", time.Time{}, true},
	{"ErrLeapSecond", "2016-12-31T23:59:60Z", time.Time{}, true},
	{"ErrOffsetHour24", "2025-11-10T12:00:00+24:00", time.Time{}, true},   // time.Parse accepts it
	{"ErrOffsetMinute60", "2025-11-10T12:00:00+02:60", time.Time{}, true}, // time.Parse accepts it
	{"ErrOffsetNoColon", "2025-11-10T12:00:00+0200", time.Time{}, true},
	{"ErrOffsetHourOnly", "2025-11-10T12:00:00+02", time.Time{}, true},
	{"ErrOffsetOnDate", "2025-11-10Z", time.Time{}, true},
	{"ErrNoSeconds", "2025-11-10T12:00Z", time.Time{}, true},
	{"ErrNoTime", "2025-11-10T", time.Time{}, true},
	{"ErrOneDigitHour", "2025-11-10T1:00:00Z", time.Time{}, true}, // time.Parse accepts it
	{"ErrOneDigitMonth", "2025-1-10", time.Time{}, true},
	{"ErrCommaFraction", "2025-11-10T12:00:00,5Z", time.Time{}, true}, // time.Parse accepts it
	{"ErrEmptyFraction", "2025-11-10T12:00:00.Z", time.Time{}, true},
	{"ErrFraction10", "2025-11-10T12:00:00.1234567890Z", time.Time{}, true}, // time.Parse accepts it
	{"ErrYear0", "0000-12-31T23:59:59Z", time.Time{}, true},                 // time.Parse accepts it
	{"ErrYear0InUTC", "0001-01-01T00:30:00+01:00", time.Time{}, true},
	{"ErrYear10000InUTC", "9999-12-31T23:00:00-05:00", time.Time{}, true},
	{"ErrYear5Digits", "10000-01-01T00:00:00Z", time.Time{}, true},
	{"ErrNegativeYear", "-0001-01-01", time.Time{}, true},
	{"ErrBasicFormat", "20251110T120000Z", time.Time{}, true},
	{"ErrFullwidthDigits", "２０２５-11-10", time.Time{}, true},
	{"ErrRFC1123", "Mon, 10 Nov 2025 12:00:00 GMT", time.Time{}, true},
	{"ErrUnixSeconds", "1762776000", time.Time{}, true},
}

func TestParseTimestamp(t *testing.T) {
	for _, tt := range parseTimestampTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseTimestamp(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("ParseTimestamp(%q) = %v, want an error", tt.in, got)
				}
				checkCode(t, "ParseTimestamp", err, triggers.EINVALID)
				msg := triggers.ErrorMessage(err)
				if !strings.Contains(msg, "RFC 3339") || !strings.Contains(msg, "2025-11-10T12:00:00Z") {
					t.Errorf("ParseTimestamp(%q) message = %q, want the expected form and an example", tt.in, msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTimestamp(%q) error = %v", tt.in, err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("ParseTimestamp(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}

	t.Run("ErrSpaceHint", func(t *testing.T) {
		for _, in := range []string{"2025-11-10T12:00:00 02:00", "2025-11-10 12:00:00"} {
			_, err := triggers.ParseTimestamp(in)
			if msg := triggers.ErrorMessage(err); !strings.Contains(msg, "%2B") {
				t.Errorf("ParseTimestamp(%q) message = %q, want a hint to send '+' as %%2B", in, msg)
			}
		}
	})
}

func TestFormatTimestamp(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   time.Time
		want string
	}{
		{"OK", time.Date(2025, 11, 10, 12, 0, 0, 0, time.UTC), "2025-11-10T12:00:00.000000Z"},
		{"OKMicroseconds", time.Date(2025, 11, 10, 12, 0, 0, 123456000, time.UTC), "2025-11-10T12:00:00.123456Z"},
		{"OKTruncatesNanoseconds", time.Date(2025, 11, 10, 12, 0, 0, 999999999, time.UTC), "2025-11-10T12:00:00.999999Z"},
		{"OKConvertsToUTC", time.Date(2025, 11, 10, 14, 0, 0, 1000, time.FixedZone("", 2*3600)), "2025-11-10T12:00:00.000001Z"},
		{"OKFirstInstant", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00.000000Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := triggers.FormatTimestamp(tt.in)
			if got != tt.want {
				t.Fatalf("FormatTimestamp(%v) = %q, want %q", tt.in, got, tt.want)
			}
			if app := string(triggers.AppendTimestamp([]byte("at "), tt.in)); app != "at "+tt.want {
				t.Fatalf("AppendTimestamp(\"at \", %v) = %q, want %q", tt.in, app, "at "+tt.want)
			}
			back, err := triggers.ParseTimestamp(got)
			if want := tt.in.Truncate(time.Microsecond); err != nil || !back.Equal(want) {
				t.Fatalf("ParseTimestamp(%q) = %v, %v, want %v", got, back, err, want)
			}
		})
	}
}

// BenchmarkAppendTimestamp is the cost of one instant of an inbox page.
func BenchmarkAppendTimestamp(b *testing.B) {
	at := time.Date(2026, 12, 3, 4, 5, 6, 123456000, time.UTC)
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = triggers.AppendTimestamp(buf[:0], at)
	}
}
