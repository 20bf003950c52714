package testenv

import (
	"bytes"
	"sync"
)

// LogBuffer collects log lines for a test: an io.Writer safe for
// concurrent writers and readers (the code under test logs from its own
// goroutines while the test reads).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
