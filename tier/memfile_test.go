package tier

import (
	"errors"
	"io"
	"sync"
)

var errInjected = errors.New("injected fault")

// memFile is an in-memory File that models a crash: writes reach cur at
// once but durable only at Sync; crashImage returns a file holding only
// what was synced. failWrite and failSync inject faults.
type memFile struct {
	mu                  sync.Mutex
	cur, durable        []byte
	failWrite, failSync bool
	syncs               int
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.cur)) {
		return 0, io.EOF
	}
	n := copy(p, m.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWrite {
		return 0, errInjected
	}
	if end := off + int64(len(p)); end > int64(len(m.cur)) {
		m.cur = append(m.cur, make([]byte, end-int64(len(m.cur)))...)
	}
	return copy(m.cur[off:], p), nil
}

func (m *memFile) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSync {
		return errInjected
	}
	m.durable = append(m.durable[:0], m.cur...)
	m.syncs++
	return nil
}

func (m *memFile) Size() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.cur)), nil
}

func (m *memFile) Allocate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWrite {
		return errInjected
	}
	if size > int64(len(m.cur)) {
		m.cur = append(m.cur, make([]byte, size-int64(len(m.cur)))...)
	}
	return nil
}

func (m *memFile) Close() error { return nil }

// crashImage is the file as a crash now would leave it.
func (m *memFile) crashImage() *memFile {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := append([]byte(nil), m.durable...)
	return &memFile{cur: d, durable: append([]byte(nil), d...)}
}

func opener(f File) func(string) (File, error) {
	return func(string) (File, error) { return f, nil }
}
