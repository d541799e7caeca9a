package brick

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Warnings about peers (refused connections, sessions ended for cause)
// are what a flood of bad peers produces, so the brick logs each kind at
// most once per warnEvery and says how many it left out: a flood must not
// become a log flood. A kind is the log message; the messages are
// constants, so there are few kinds.

// warnEvery is the default interval between two warnings of one kind.
const warnEvery = time.Second

// warnings rate-limits warnings by kind.
type warnings struct {
	every time.Duration // 0: no limit (tests that wait for each line)
	mu    struct {
		sync.Mutex
		kinds map[string]*logLimiter // by message
	}
}

// limiter returns the limiter of kind msg.
func (w *warnings) limiter(msg string) *logLimiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.mu.kinds[msg]
	if l == nil {
		if w.mu.kinds == nil {
			w.mu.kinds = make(map[string]*logLimiter)
		}
		l = &logLimiter{}
		w.mu.kinds[msg] = l
	}
	return l
}

// warn logs msg at warning level unless a warning of the same kind was
// logged less than warnEvery ago; the line that is logged counts those
// suppressed since the last.
func (s *Server) warn(log *slog.Logger, msg string, args ...any) {
	n, ok := s.warns.limiter(msg).allow(s.warns.every)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed_since_last_line", n)
	}
	log.Warn(msg, args...)
}

// logLimiter allows one event per interval and counts the others (as
// verbs/soft's listener does for connections it drops).
type logLimiter struct {
	n    atomic.Uint64 // events since the last allowed one
	last atomic.Int64  // unix nanos of the last allowed event
}

// allow reports whether an event may be logged now and, if so, how many
// were suppressed since the last one that was.
func (r *logLimiter) allow(every time.Duration) (suppressed uint64, ok bool) {
	if every <= 0 {
		return 0, true
	}
	r.n.Add(1)
	now, last := time.Now().UnixNano(), r.last.Load()
	if last != 0 && now-last < int64(every) || !r.last.CompareAndSwap(last, now) {
		return 0, false
	}
	return max(r.n.Swap(0), 1) - 1, true
}
