package alloc2m

import (
	"fmt"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/wal"

	"github.com/brick-storage/brick/internal/oscall"
)

// minFreeBytes is the headroom a writable open wants on top of twice the
// logs it will write out (the flush of what it replays, a new log, the
// OPTIONS file, manifest edits).
const minFreeBytes = 1 << 20

// checkFreeSpace refuses a writable open that cannot write what opening
// writes: Pebble does not fail such an open, it retries the flush forever.
// A file system that does not report its usage is not checked here; the
// open watch below still turns a failing flush into an error.
func checkFreeSpace(fsys vfs.FS, dir string) error {
	du, err := fsys.GetDiskUsage(dir)
	if err != nil {
		return nil
	}
	need := uint64(minFreeBytes)
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("alloc2m: listing %s: %w", dir, err)
	}
	for _, name := range names {
		if _, _, ok := wal.ParseLogFilename(name); ok {
			if fi, err := fsys.Stat(fsys.PathJoin(dir, name)); err == nil {
				need += 2 * uint64(fi.Size())
			}
		}
	}
	if du.AvailBytes < need {
		return fmt.Errorf("the file system holding metadata store %s has %s free, and opening the store needs about %s to write out its log; free space there: %w",
			dir, mib(du.AvailBytes), mib(need), ErrDiskFull)
	}
	return nil
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// openWatch turns a background error during pebble.Open into a failed
// open. Pebble's Open waits for the flush of the log it replayed, and a
// flush that fails is rescheduled at once, forever (Pebble 2.1 has no
// backoff): on a full disk Open never returns, burns a core and logs each
// attempt.
type openWatch struct {
	opening atomic.Bool
	failed  chan error // the first background error while opening
	log     *pebbleLogger
}

func newOpenWatch(log *pebbleLogger) *openWatch {
	w := &openWatch{failed: make(chan error, 1), log: log}
	w.opening.Store(true)
	return w
}

// listener logs background errors through the rate-limited logger and
// reports the first one that happens while opening.
func (w *openWatch) listener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			w.log.Errorf("background error: %s", err)
			if w.opening.Load() {
				select {
				case w.failed <- err:
				default:
				}
			}
		},
	}
}

// openAbandoned is called when an open given up on by openPebble finally
// returns (tests wait for it).
var openAbandoned = func() {}

// openPebble is pebble.Open that gives up on the first background error
// while opening. The abandoned open keeps its goroutine (retrying the
// flush) and its reference to the directory lock until it returns, if it
// ever does, and then closes what it opened; brickd exits right after the
// refusal, so in practice the process ends it.
func openPebble(dir string, popts *pebble.Options, w *openWatch) (*pebble.DB, error) {
	type result struct {
		db  *pebble.DB
		err error
	}
	done := make(chan result, 1)
	go func() {
		db, err := pebble.Open(dir, popts)
		done <- result{db, err}
	}()
	select {
	case r := <-done:
		w.opening.Store(false)
		return r.db, r.err
	case err := <-w.failed:
		w.opening.Store(false)
		go func() {
			if r := <-done; r.db != nil {
				_ = closeFailed(r.db)
			}
			openAbandoned()
		}()
		if oscall.NoSpace(err) {
			return nil, fmt.Errorf("metadata store %s cannot write out its log (%v); free space on its file system: %w", dir, err, ErrDiskFull)
		}
		return nil, fmt.Errorf("metadata store %s cannot write out its log (%v): %w", dir, err, ErrIO)
	}
}
