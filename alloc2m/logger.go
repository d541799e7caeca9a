package alloc2m

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// pebbleLogger routes Pebble's log lines to slog. Pebble calls Fatalf when
// it can no longer trust its own state (a failed WAL write or sync, a failed
// MANIFEST update) and expects it not to return. We panic with a
// fatalError: in the goroutine of a commit (DB.Apply) the store recovers it,
// marks itself failed and returns ErrFailed to the caller, whose reply was
// never sent; anywhere else (Pebble's background flushes and compactions) it
// takes the process down, as Pebble's default logger would, and the
// restart recovers from what was durable.
//
// Error lines are rate-limited: a flush that keeps failing (a full disk) is
// retried by Pebble without pause and would log thousands of lines a second.
type pebbleLogger struct {
	l   *slog.Logger
	lim *limiter
}

func newPebbleLogger(l *slog.Logger) *pebbleLogger {
	return &pebbleLogger{l: l, lim: newLimiter(time.Now)}
}

// fatalError is the panic value of pebbleLogger.Fatalf.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

func (p *pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p *pebbleLogger) Errorf(format string, args ...any) {
	ok, dropped := p.lim.allow()
	if !ok {
		return
	}
	attrs := []any{"component", "pebble"}
	if dropped > 0 {
		attrs = append(attrs, "suppressed", dropped)
	}
	p.l.Error(fmt.Sprintf(format, args...), attrs...)
}

func (p *pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic(fatalError{msg: msg})
}

// Rate of error lines: a burst, then one a second.
const (
	logBurst    = 10
	logInterval = time.Second
)

// limiter is a token bucket that counts what it refuses.
type limiter struct {
	now     func() time.Time
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, tokens: logBurst, last: now()}
}

// allow takes a token; dropped is how many calls were refused since the
// last one allowed.
func (l *limiter) allow() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens = min(logBurst, l.tokens+float64(now.Sub(l.last))/float64(logInterval))
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}
