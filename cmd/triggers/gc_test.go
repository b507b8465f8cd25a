package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGC_DefaultsOnlyWhatTheEnvironmentLeaves(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{"NothingSet", nil, defaultGCPercent, defaultMemoryLimit},
		{"GOGCSet", map[string]string{"GOGC": "50"}, 77, defaultMemoryLimit},
		{"GOMEMLIMITSet", map[string]string{"GOMEMLIMIT": "1GiB"}, defaultGCPercent, math.MaxInt64},
		{"BothSet", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 77, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The runtime read the real environment at start; stand-ins of
			// what it set show which ones tuneGC leaves alone.
			oldPercent := debug.SetGCPercent(77)
			oldLimit := debug.SetMemoryLimit(math.MaxInt64)
			t.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })
			tuneGC(func(k string) string { return tc.env[k] }, logger)
			if got := debug.SetGCPercent(-1); got != tc.wantPercent {
				t.Errorf("GC percent = %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit = %d, want %d", got, tc.wantLimit)
			}
		})
	}
}
