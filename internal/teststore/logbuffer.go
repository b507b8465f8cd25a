package teststore

import (
	"bytes"
	"sync"
)

// LogBuffer collects what a logger or a child process writes while a test
// reads it: a bytes.Buffer whose Write and String are safe for concurrent
// use, since a server's goroutines log while the test looks at the lines.
// The zero LogBuffer is empty and ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
