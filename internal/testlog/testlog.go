// Package testlog is a log sink for tests: what a brick (in-process, or a
// brickd child process's stderr) logs, collected while the test reads it.
package testlog

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer collects writes from one goroutine (a logger, a pipe reader)
// while another reads them.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger logs into b as text, DEBUG and up.
func (b *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
