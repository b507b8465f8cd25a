package triggers

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// NewEventID returns a new UUID version 7 (RFC 9562) for an event created at
// t: 48 bits of Unix milliseconds, then random bits. Ids sort roughly by
// creation time, which keeps index inserts local.
func NewEventID(t time.Time) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], uint64(t.UnixMilli())<<16)
	rand.Read(u[6:])
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return formatUUID(u)
}

// NewUUID returns a random UUID version 4 (RFC 9562), for identifiers that
// need no order, such as the request IDs the server makes up.
func NewUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// ParseEventID checks that s is a UUID in its 36-character text form (any
// version, either case) and returns it in lowercase, the form ids are stored
// in. It returns an EINVALIDID error otherwise.
func ParseEventID(s string) (string, error) {
	if !isUUID(s) {
		return "", &Error{Code: EINVALIDID, Message: "event_id must be a UUID such as 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6",
			Details: map[string]any{"fields": []FieldError{{Field: "event_id", Message: "must be a UUID"}}}}
	}
	return strings.ToLower(s), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
