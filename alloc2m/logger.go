package alloc2m

import (
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's log lines to slog. Pebble calls Fatalf when
// it can no longer trust its own state (a failed WAL write or sync, a failed
// MANIFEST update) and expects it not to return. We panic with a
// fatalError: in the goroutine of a commit (DB.Apply) the store recovers it,
// marks itself failed and returns ErrFailed to the caller, whose reply was
// never sent; anywhere else (Pebble's background flushes and compactions) it
// takes the process down, as Pebble's default logger would, and the
// restart recovers from what was durable.
type pebbleLogger struct{ l *slog.Logger }

// fatalError is the panic value of pebbleLogger.Fatalf.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic(fatalError{msg: msg})
}
