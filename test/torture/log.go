package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The log is a text file. It starts with a checkpoint, the state the last
// verify found (or an empty brick):
//
//	brick-torture log 1
//	blocks <base> <n>                  the block IDs: n from base, 2 MiB apart
//	cycles <n>                         verified cycles so far
//	seq <next>                         the next record number
//	totals <allocs> <frees> <writes> <bytes> <inflight>
//	b <id> <off>:<len>:<seed>:<seq>... an allocated block and its writes
//
// and continues with records appended by work, in the order they happened:
//
//	i <seq> a <id>                     intent: alloc
//	i <seq> f <id>                     intent: free
//	i <seq> w <id> <off> <len> <seed>  intent: write and persist a range
//	a <seq>                            acknowledged
//	n <seq>                            refused by the brick: it did not happen
//
// Numbers are decimal except IDs and seeds (hex). verify replaces the whole
// file with a new checkpoint once the brick matches it.
const logMagic = "brick-torture log 1"

// opKind is what an intent asks for.
type opKind byte

const (
	opAlloc opKind = 'a'
	opFree  opKind = 'f'
	opWrite opKind = 'w'
)

var opKindNames = map[opKind]string{opAlloc: "alloc", opFree: "free", opWrite: "write"}

func (k opKind) String() string {
	if n, ok := opKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("op %q", byte(k))
}

// op is one logged operation.
type op struct {
	Seq      uint64
	Kind     opKind
	ID       uint64
	Off, Len int64  // write only
	Seed     uint64 // write only
}

func (o op) String() string {
	if o.Kind == opWrite {
		return fmt.Sprintf("write #%d of [%d, %d) in block %#x", o.Seq, o.Off, o.Off+o.Len, o.ID)
	}
	return fmt.Sprintf("%s #%d of block %#x", o.Kind, o.Seq, o.ID)
}

// totals count acknowledged operations.
type totals struct {
	Allocs, Frees, Writes, Bytes int64
	InFlight                     int64 // operations in flight at a cut, tolerated
}

func (t *totals) add(u totals) {
	t.Allocs += u.Allocs
	t.Frees += u.Frees
	t.Writes += u.Writes
	t.Bytes += u.Bytes
	t.InFlight += u.InFlight
}

// state is a replayed log.
type state struct {
	set     blockSet
	cycles  int
	nextSeq uint64
	totals  totals  // over the verified cycles
	blocks  []block // by index in set
	// Since the checkpoint:
	acked   totals
	pending map[int]op // by block index: the intent without an ack
	// end is the length of the log's complete lines: a torn last line
	// (the tool died while appending it) is cut off before appending.
	end int64
}

func newState(set blockSet) *state {
	return &state{set: set, nextSeq: 1, blocks: make([]block, set.n), pending: map[int]op{}}
}

// apply makes an acknowledged operation part of the model.
func (s *state) apply(o op) {
	s.blocks[s.set.index(o.ID)].apply(o)
	s.acked.count(o)
}

// apply makes an acknowledged operation on b part of its model.
func (b *block) apply(o op) {
	switch o.Kind {
	case opAlloc:
		*b = block{allocated: true}
	case opFree:
		*b = block{}
	case opWrite:
		b.write(extent{Off: o.Off, Len: o.Len, Seed: o.Seed, Seq: o.Seq})
	}
}

// count counts an acknowledged operation.
func (t *totals) count(o op) {
	switch o.Kind {
	case opAlloc:
		t.Allocs++
	case opFree:
		t.Frees++
	case opWrite:
		t.Writes++
		t.Bytes += o.Len
	}
}

// loadLog replays the log at path.
func loadLog(path string) (*state, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var s *state
	intents := map[uint64]op{}
	var off int64
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) {
			break // a line without its newline was torn: ignore it
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		off += int64(len(line))
		if n == 1 {
			if strings.TrimSpace(line) != logMagic {
				return nil, fmt.Errorf("%s is not a brick-torture log", path)
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "blocks" && s == nil:
			s, err = parseBlocks(f)
		case s == nil:
			err = errors.New("the log does not say which blocks it covers")
		default:
			err = s.parse(f, intents)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		s.end = off
	}
	if s == nil {
		return nil, fmt.Errorf("%s holds no checkpoint", path)
	}
	for _, o := range intents {
		s.pending[s.set.index(o.ID)] = o
	}
	return s, nil
}

// nums parses the fields of a line after its keyword, each in its base.
func nums(f []string, base ...int) ([]uint64, error) {
	out := make([]uint64, len(base))
	if len(f) != 1+len(base) {
		return nil, fmt.Errorf("%q needs %d fields", f[0], len(base))
	}
	for i, b := range base {
		v, err := strconv.ParseUint(f[1+i], b, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f[0], err)
		}
		out[i] = v
	}
	return out, nil
}

// parseBlocks reads the blocks line, which starts the state.
func parseBlocks(f []string) (*state, error) {
	v, err := nums(f, 16, 10)
	if err != nil {
		return nil, err
	}
	if v[0]%blockSize != 0 || v[1] == 0 || v[1] > 1<<20 || v[0]+v[1]*blockSize < v[0] {
		return nil, fmt.Errorf("bad block set %#x, %d", v[0], v[1])
	}
	return newState(blockSet{base: v[0], n: int(v[1])}), nil
}

// parse applies one line after the blocks line.
func (s *state) parse(f []string, intents map[uint64]op) error {
	switch f[0] {
	case "cycles":
		v, err := nums(f, 10)
		if err != nil {
			return err
		}
		s.cycles = int(v[0])
	case "seq":
		v, err := nums(f, 10)
		if err != nil {
			return err
		}
		s.nextSeq = v[0]
	case "totals":
		v, err := nums(f, 10, 10, 10, 10, 10)
		if err != nil {
			return err
		}
		s.totals = totals{Allocs: int64(v[0]), Frees: int64(v[1]), Writes: int64(v[2]), Bytes: int64(v[3]), InFlight: int64(v[4])}
	case "b":
		return s.parseBlock(f)
	case "i":
		o, err := parseIntent(f)
		if err != nil {
			return err
		}
		i := s.set.index(o.ID)
		if i < 0 {
			return fmt.Errorf("block %#x is not in the log's %s", o.ID, s.set)
		}
		for _, p := range intents {
			if p.ID == o.ID {
				return fmt.Errorf("%v while %v is still in flight: the log is inconsistent", o, p)
			}
		}
		intents[o.Seq] = o
		s.nextSeq = max(s.nextSeq, o.Seq+1)
	case "a", "n":
		v, err := nums(f, 10)
		if err != nil {
			return err
		}
		o, ok := intents[v[0]]
		if !ok {
			return fmt.Errorf("%s for #%d, which has no intent", f[0], v[0])
		}
		delete(intents, v[0])
		if f[0] == "a" {
			s.apply(o)
		}
	default:
		return fmt.Errorf("unknown record %q", f[0])
	}
	return nil
}

func (s *state) parseBlock(f []string) error {
	if len(f) < 2 {
		return errors.New(`"b" needs a block ID`)
	}
	id, err := strconv.ParseUint(f[1], 16, 64)
	i := s.set.index(id)
	if err != nil || i < 0 {
		return fmt.Errorf("block %q is not in the log's %s", f[1], s.set)
	}
	b := &s.blocks[i]
	b.allocated = true
	for _, x := range f[2:] {
		var e extent
		p := strings.Split(x, ":")
		if len(p) != 4 {
			return fmt.Errorf("bad extent %q", x)
		}
		off, err1 := strconv.ParseInt(p[0], 10, 64)
		n, err2 := strconv.ParseInt(p[1], 10, 64)
		seed, err3 := strconv.ParseUint(p[2], 16, 64)
		seq, err4 := strconv.ParseUint(p[3], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil || off < 0 || n <= 0 || off+n > blockSize {
			return fmt.Errorf("bad extent %q", x)
		}
		e = extent{Off: off, Len: n, Seed: seed, Seq: seq}
		b.write(e)
	}
	return nil
}

func parseIntent(f []string) (op, error) {
	bad := fmt.Errorf("bad intent %q", strings.Join(f, " "))
	if len(f) < 4 || len(f[2]) != 1 {
		return op{}, bad
	}
	seq, err1 := strconv.ParseUint(f[1], 10, 64)
	id, err2 := strconv.ParseUint(f[3], 16, 64)
	o := op{Seq: seq, Kind: opKind(f[2][0]), ID: id}
	if errors.Join(err1, err2) != nil {
		return op{}, bad
	}
	switch o.Kind {
	case opAlloc, opFree:
		if len(f) != 4 {
			return op{}, bad
		}
	case opWrite:
		if len(f) != 7 {
			return op{}, bad
		}
		var err3, err4, err5 error
		o.Off, err3 = strconv.ParseInt(f[4], 10, 64)
		o.Len, err4 = strconv.ParseInt(f[5], 10, 64)
		o.Seed, err5 = strconv.ParseUint(f[6], 16, 64)
		if errors.Join(err3, err4, err5) != nil || o.Off < 0 || o.Len <= 0 || o.Off+o.Len > blockSize {
			return op{}, bad
		}
	default:
		return op{}, bad
	}
	return o, nil
}

// writeCheckpoint replaces the log at path with the state as a checkpoint:
// written beside it, synced, renamed over it, and the directory synced, so
// a crash leaves the old log or the new one.
func (s *state) writeCheckpoint(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "%s\nblocks %x %d\ncycles %d\nseq %d\n", logMagic, s.set.base, s.set.n, s.cycles, s.nextSeq)
	t := s.totals
	fmt.Fprintf(w, "totals %d %d %d %d %d\n", t.Allocs, t.Frees, t.Writes, t.Bytes, t.InFlight)
	for i, b := range s.blocks {
		if !b.allocated {
			continue
		}
		fmt.Fprintf(w, "b %x", s.set.id(i))
		for _, e := range b.extents {
			fmt.Fprintf(w, " %d:%d:%x:%d", e.Off, e.Len, e.Seed, e.Seq)
		}
		fmt.Fprintln(w)
	}
	err = errors.Join(w.Flush(), f.Sync())
	end, serr := f.Seek(0, io.SeekCurrent)
	err = errors.Join(err, serr, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	s.end = end
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// logWriter appends records for concurrent workers. Every ack is synced
// before it returns, and with it every intent before it.
type logWriter struct {
	mu  sync.Mutex
	f   *os.File
	seq uint64
}

// openLog opens the log to append after s.end (cutting a torn last line).
func openLog(path string, s *state) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(s.end); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(s.end, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &logWriter{f: f, seq: s.nextSeq}, nil
}

// intent numbers o and records it; the caller issues it afterwards.
func (l *logWriter) intent(o op) (op, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o.Seq = l.seq
	l.seq++
	var line string
	if o.Kind == opWrite {
		line = fmt.Sprintf("i %d w %x %d %d %x\n", o.Seq, o.ID, o.Off, o.Len, o.Seed)
	} else {
		line = fmt.Sprintf("i %d %c %x\n", o.Seq, o.Kind, o.ID)
	}
	_, err := l.f.WriteString(line)
	return o, err
}

// ack records that the brick acknowledged o, durably.
func (l *logWriter) ack(o op) error { return l.record("a", o) }

// refused records that the brick refused o.
func (l *logWriter) refused(o op) error { return l.record("n", o) }

func (l *logWriter) record(kind string, o op) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := fmt.Fprintf(l.f, "%s %d\n", kind, o.Seq); err != nil {
		return err
	}
	return l.f.Sync()
}

func (l *logWriter) close() error { return l.f.Close() }
