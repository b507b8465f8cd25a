package triggers

import (
	"strings"
	"time"
)

// timestampLayout is the wire form of every timestamp the API sends (DESIGN
// §1): UTC, always six fraction digits.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// maxTimestampLen bounds the input of ParseTimestamp. The longest valid form,
// 2025-11-10T12:00:00.123456789+05:30, has 35 characters.
const maxTimestampLen = 64

// The instants ParseTimestamp can return: those of years 1 to 9999 in UTC,
// the years RFC 3339 can write.
var (
	minTimestamp = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTimestamp = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

// ParseTimestamp parses a timestamp given by a client, such as an inbox
// query bound (created_after, created_before; DESIGN §4), and returns it in
// UTC. It accepts RFC 3339 date-times and the ISO 8601 forms clients commonly
// send:
//
//	2025-11-10T12:00:00Z              UTC
//	2025-11-10T14:00:00+02:00         any offset from -23:59 to +23:59
//	2025-11-10T12:00:00.123456789Z    1 to 9 fraction digits
//	2025-11-10t12:00:00z              't' and 'z' in either case
//	2025-11-10T12:00:00               no offset: UTC
//	2025-11-10                        a date alone: midnight UTC
//
// Everything else is refused with an EINVALID error whose message gives the
// expected form and an example: an empty or over-long string, fields out of
// range (month 13, February 30, hour 24, second 60, offset +24:00), a
// time without seconds, instants before year 1 or after year 9999 in UTC, and
// anything before or after the timestamp, spaces included.
//
// A space is refused in place of 'T' as well, although RFC 3339 allows it:
// in a URL query a '+' decodes to a space, so an offset sent unescaped
// ("...12:00:00+02:00") arrives as "...12:00:00 02:00". Keeping spaces out of
// the grammar altogether means such a value is always refused, with a hint to
// escape the '+' as %2B, and never read as some other instant.
//
// The error carries no field name; callers name the parameter, typically
// with ErrorMessage(err) as a FieldError message.
func ParseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, timestampError("is empty")
	}
	if len(s) > maxTimestampLen {
		return time.Time{}, timestampError("is too long")
	}
	if strings.ContainsRune(s, ' ') {
		return time.Time{}, timestampError("contains a space; in a URL query, send a '+' as %2B")
	}
	p := tsParser{s: s, ok: true}
	year := p.num(4)
	p.lit('-')
	month := p.num(2)
	p.lit('-')
	day := p.num(2)
	if !p.ok {
		return time.Time{}, timestampError("")
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}, timestampError("has a date out of range")
	}
	if p.end() {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), nil
	}

	p.lit('T', 't')
	hour := p.num(2)
	p.lit(':')
	minute := p.num(2)
	p.lit(':')
	sec := p.num(2)
	nsec := 0
	if p.ok && p.peek('.') {
		p.i++
		nsec = p.fraction()
	}
	offset := 0
	switch {
	case !p.ok || p.end():
	case p.peek('Z', 'z'):
		p.i++
	case p.peek('+', '-'):
		sign := 1
		if p.s[p.i] == '-' {
			sign = -1
		}
		p.i++
		oh := p.num(2)
		p.lit(':')
		om := p.num(2)
		if p.ok && (oh > 23 || om > 59) {
			return time.Time{}, timestampError("has an offset out of range")
		}
		offset = sign * (oh*3600 + om*60)
	default:
		p.ok = false
	}
	if !p.ok || !p.end() {
		return time.Time{}, timestampError("")
	}
	if hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, timestampError("has a time out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if t.Before(minTimestamp) || t.After(maxTimestamp) {
		return time.Time{}, timestampError("is out of range: years 1 to 9999 in UTC")
	}
	return t, nil
}

// FormatTimestamp returns t in the API's wire form: UTC with exactly six
// fraction digits (truncated), e.g. 2025-11-10T12:00:00.123456Z. Its result
// parses back with ParseTimestamp to t truncated to the microsecond, for t in
// years 1 to 9999.
func FormatTimestamp(t time.Time) string {
	return string(AppendTimestamp(make([]byte, 0, len(timestampLayout)), t))
}

// AppendTimestamp appends t in the wire form of FormatTimestamp to b and
// returns the extended buffer, for encoders that write JSON by hand.
//
// An inbox page formats 50 or more instants, and time.Time.AppendFormat
// (which reads its layout on every call) was an eighth of the CPU of an
// inbox read; the digits are therefore written here, from the civil date
// of t's Unix seconds. Instants outside 1970-9999 (never an event's) go
// through AppendFormat. FuzzAppendTimestamp checks that both agree.
func AppendTimestamp(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < 0 || sec >= maxFastTimestamp {
		return t.UTC().AppendFormat(b, timestampLayout)
	}
	days, rem := sec/86400, sec%86400
	y, m, d := civilDate(days)
	us := t.Nanosecond() / 1000
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	h, mi, s := int(rem/3600), int(rem/60%60), int(rem%60)
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.')
	return append(b, byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), 'Z')
}

// maxFastTimestamp is the Unix second of 10000-01-01T00:00:00Z, where
// AppendTimestamp's four-digit year ends.
const maxFastTimestamp = 253402300800

// civilDate returns the proleptic Gregorian date of days since 1970-01-01
// (days >= 0): the days-to-civil algorithm of Howard Hinnant's
// chrono-compatible date algorithms, in eras of 400 years.
func civilDate(days int64) (year, month, day int) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March = 0
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day
}

func timestampError(reason string) *Error {
	msg := "must be an RFC 3339 timestamp such as 2025-11-10T12:00:00Z or 2025-11-10T14:00:00.5+02:00, or a date such as 2025-11-10 (no offset means UTC)"
	if reason != "" {
		msg += "; the value " + reason
	}
	return &Error{Code: EINVALID, Message: msg}
}

// daysIn returns the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// tsParser reads a timestamp left to right. After the first mismatch ok is
// false and every further read is a no-op returning 0.
type tsParser struct {
	s  string
	i  int
	ok bool
}

func (p *tsParser) end() bool { return p.i == len(p.s) }

// peek reports whether the next byte is one of cs.
func (p *tsParser) peek(cs ...byte) bool {
	if !p.ok || p.end() {
		return false
	}
	for _, c := range cs {
		if p.s[p.i] == c {
			return true
		}
	}
	return false
}

// lit consumes one byte that must be one of cs.
func (p *tsParser) lit(cs ...byte) {
	if !p.peek(cs...) {
		p.ok = false
		return
	}
	p.i++
}

// num consumes exactly n decimal digits and returns their value.
func (p *tsParser) num(n int) int {
	if !p.ok || len(p.s)-p.i < n {
		p.ok = false
		return 0
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c < '0' || c > '9' {
			p.ok = false
			return 0
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v
}

// fraction consumes 1 to 9 decimal digits and returns them as nanoseconds.
func (p *tsParser) fraction() int {
	v, n := 0, 0
	for ; !p.end() && '0' <= p.s[p.i] && p.s[p.i] <= '9'; p.i++ {
		if n == 9 {
			p.ok = false
			return 0
		}
		v = v*10 + int(p.s[p.i]-'0')
		n++
	}
	if n == 0 {
		p.ok = false
		return 0
	}
	for ; n < 9; n++ {
		v *= 10
	}
	return v
}
