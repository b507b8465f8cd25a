package triggers_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/triggersapi/triggers"
)

func TestParseEventID(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want string // "" = refused
	}{
		{"OK", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"},
		{"OKUppercase", "0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"},
		{"OKMixedCase", "0192f3C4-5b6A-7c8D-9e0F-A1b2c3d4E5f6", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"},
		{"OKVersion4", "f47ac10b-58cc-4372-a567-0e02b2c3d479", "f47ac10b-58cc-4372-a567-0e02b2c3d479"},
		{"OKNil", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"},
		{"OKMax", "ffffffff-ffff-ffff-ffff-ffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"},

		{"ErrEmpty", "", ""},
		{"ErrShort", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f", ""},
		{"ErrLong", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f60", ""},
		{"ErrNoDashes", "0192f3c45b6a7c8d9e0fa1b2c3d4e5f6", ""},
		{"ErrDashMoved", "0192f3c45-b6a-7c8d-9e0f-a1b2c3d4e5f6", ""},
		{"ErrNotHex", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5fg", ""},
		{"ErrBraces", "{0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f}", ""},
		{"ErrURN", "urn:uuid:0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", ""},
		{"ErrSpace", " 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f", ""},
		{"ErrNonASCII", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5é", ""},
		{"ErrPathTraversal", "../../../../../../../../../etc/passw", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := triggers.ParseEventID(tt.in)
			if tt.want == "" {
				checkCode(t, "ParseEventID("+tt.in+")", err, triggers.EINVALIDID)
				if names := fieldNames(err); !slices.Equal(names, []string{"event_id"}) {
					t.Errorf("ParseEventID(%q) fields = %q, want [event_id]", tt.in, names)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseEventID(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := triggers.NewUUID()
		if got, err := triggers.ParseEventID(id); err != nil || got != id {
			t.Fatalf("ParseEventID(%q) = %q, %v, want it unchanged (lowercase)", id, got, err)
		}
		if id[14] != '4' {
			t.Fatalf("NewUUID() = %s, version %c, want 4", id, id[14])
		}
		if v := id[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
			t.Fatalf("NewUUID() = %s, variant digit %c, want one of 8 9 a b", id, v)
		}
		if seen[id] {
			t.Fatalf("NewUUID() = %s twice", id)
		}
		seen[id] = true
	}
}

func TestNewEventID(t *testing.T) {
	t0 := time.Date(2025, 11, 10, 12, 0, 0, 123_456_789, time.UTC)

	t.Run("OK", func(t *testing.T) {
		seen := map[string]bool{}
		for range 1000 {
			id := triggers.NewEventID(t0)
			if got, err := triggers.ParseEventID(id); err != nil || got != id {
				t.Fatalf("ParseEventID(%q) = %q, %v, want it unchanged (lowercase)", id, got, err)
			}
			if id[14] != '7' {
				t.Fatalf("NewEventID() = %s, version %c, want 7", id, id[14])
			}
			if v := id[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
				t.Fatalf("NewEventID() = %s, variant digit %c, want one of 8 9 a b", id, v)
			}
			ms, err := strconv.ParseInt(id[0:8]+id[9:13], 16, 64)
			if err != nil || ms != t0.UnixMilli() {
				t.Fatalf("NewEventID(%v) = %s, timestamp %d, want %d", t0, id, ms, t0.UnixMilli())
			}
			if seen[id] {
				t.Fatalf("NewEventID() = %s twice", id)
			}
			seen[id] = true
		}
	})

	t.Run("OKSortsByTime", func(t *testing.T) {
		var ids []string
		for i := range 2000 {
			// Steps of 1 ms, then growing steps up to many years.
			d := time.Duration(i) * time.Millisecond
			if i >= 1000 {
				d = time.Duration(i*i*i) * time.Second
			}
			ids = append(ids, triggers.NewEventID(t0.Add(d)))
		}
		if !slices.IsSorted(ids) {
			for i := 1; i < len(ids); i++ {
				if ids[i-1] >= ids[i] {
					t.Fatalf("NewEventID ids out of order at %d: %s >= %s", i, ids[i-1], ids[i])
				}
			}
		}
		if len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Fatal("NewEventID gave equal ids for different milliseconds")
		}
	})
}
