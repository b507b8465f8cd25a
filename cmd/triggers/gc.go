package main

import (
	"log/slog"
	"runtime/debug"
)

// The garbage collector's settings for `triggers serve` when the
// environment leaves them to us (docs/PERFORMANCE.md, "Garbage collector").
// Go's default, GOGC=100, collects each time the heap doubles; a server
// whose live heap is a few tens of MB then spends a tenth of its CPU in
// the collector under load. GOGC=400 measured +30 % inbox reads, +12 %
// bulk creates and +15 % creates beside readers, for about 12-15 MB more
// RSS in the load harness. The soft memory limit caps what the higher
// target costs when the live heap is large (a full inbox page cache): near
// it the collector runs as often as it must, whatever GOGC says.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 256 << 20
)

// tuneGC applies defaultGCPercent unless GOGC is set, and
// defaultMemoryLimit unless GOMEMLIMIT is set (the runtime has read both
// already), and says what it did.
func tuneGC(getenv func(string) string, logger *slog.Logger) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
		logger.Debug("garbage collector target set", "gogc", defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
		logger.Debug("garbage collector soft memory limit set", "bytes", defaultMemoryLimit)
	}
}
