package tier

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brick-storage/brick/internal/imghdr"
	"github.com/brick-storage/brick/internal/leaktest"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

var (
	uuidA = [16]byte{0xb7, 0x1c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	uuidB = [16]byte{0xde, 0xad, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
)

func pattern(seed byte) []byte {
	b := make([]byte, SlotSize)
	for i := range b {
		b[i] = seed + byte(i/4096)
	}
	return b
}

// TestOSFile: a new tier is created preallocated, slots round-trip, and a
// reopen checks identity and geometry.
func TestOSFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tier.img")
	s, err := Open(path, Options{Size: 4 * SlotSize, UUID: uuidA})
	if err != nil {
		t.Fatal(err)
	}
	if s.Slots() != 4 || s.UUID() != uuidA || s.Bytes() != 4*SlotSize || s.Path() != path {
		t.Fatalf("new tier: %d slots, uuid %x", s.Slots(), s.UUID())
	}
	st, _ := os.Stat(path)
	if st.Size() != HeaderSize+4*SlotSize {
		t.Fatalf("file is %d bytes", st.Size())
	}
	for slot := range uint64(4) {
		if err := s.Write(slot, pattern(byte(slot))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Read(0, make([]byte, SlotSize)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}

	s, err = Open(path, Options{UUID: uuidA}) // size 0: the file's
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make([]byte, SlotSize)
	for slot := range uint64(4) {
		if err := s.Read(slot, got); err != nil || !bytes.Equal(got, pattern(byte(slot))) {
			t.Fatalf("slot %d after reopen: %v", slot, err)
		}
	}

	bad := []struct {
		name string
		opts Options
		want error
		say  string
	}{
		{"other brick", Options{UUID: uuidB}, ErrUUIDMismatch, "belongs to brick"},
		{"other size", Options{UUID: uuidA, Size: 8 * SlotSize}, imghdr.ErrGeometry, "resizing a tier is not supported"},
		{"unaligned size", Options{UUID: uuidA, Size: SlotSize + 1}, ErrInvalidSize, "not a multiple"},
	}
	for _, tt := range bad {
		_, err := Open(path, tt.opts)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.say) {
			t.Errorf("%s: %v, want %v saying %q", tt.name, err, tt.want, tt.say)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "new.img"), Options{UUID: uuidA}); !errors.Is(err, ErrInvalidSize) {
		t.Errorf("new tier without a size: %v", err)
	}
}

func TestRange(t *testing.T) {
	s, err := Open("mem", Options{Size: 2 * SlotSize, UUID: uuidA, OpenFile: opener(&memFile{})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, err := range map[string]error{
		"write past end": s.Write(2, make([]byte, SlotSize)),
		"read past end":  s.Read(2, make([]byte, SlotSize)),
		"short buffer":   s.Write(0, make([]byte, 4096)),
		"long buffer":    s.Read(0, make([]byte, SlotSize+1)),
	} {
		if !errors.Is(err, ErrRange) {
			t.Errorf("%s: %v, want ErrRange", name, err)
		}
	}
}

// TestDurability: Write returns only once the slot is synced, so a crash
// after it keeps the bytes; a failed write or sync is reported, and a
// crash then may lose the slot — which the metadata never referenced.
func TestDurability(t *testing.T) {
	f := &memFile{}
	s, err := Open("mem", Options{Size: 2 * SlotSize, UUID: uuidA, OpenFile: opener(f)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(1, pattern(7)); err != nil {
		t.Fatal(err)
	}
	f.failSync = true
	if err := s.Write(0, pattern(9)); !errors.Is(err, errInjected) {
		t.Fatalf("Write with failing sync: %v", err)
	}
	f.failSync, f.failWrite = false, true
	if err := s.Write(0, pattern(9)); !errors.Is(err, errInjected) {
		t.Fatalf("Write with failing write: %v", err)
	}
	img := f.crashImage()
	c, err := Open("mem", Options{UUID: uuidA, OpenFile: opener(img)})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	got := make([]byte, SlotSize)
	if err := c.Read(1, got); err != nil || !bytes.Equal(got, pattern(7)) {
		t.Fatalf("synced slot lost in the crash: %v", err)
	}
	if err := c.Read(0, got); err != nil || bytes.Equal(got, pattern(9)) {
		t.Fatalf("unsynced slot survived the crash image: %v", err)
	}
}

// TestFormatCrash: a crash after sizing the file but before the header is
// synced leaves an all-zero header, which the next open formats.
func TestFormatCrash(t *testing.T) {
	f := &memFile{failSync: true}
	if _, err := Open("mem", Options{Size: 2 * SlotSize, UUID: uuidA, OpenFile: opener(f)}); !errors.Is(err, errInjected) {
		t.Fatalf("create with failing sync: %v", err)
	}
	img := f.crashImage()
	img.cur = make([]byte, HeaderSize+2*SlotSize) // the size survived, the header did not
	s, err := Open("mem", Options{UUID: uuidA, OpenFile: opener(img)})
	if err != nil {
		t.Fatalf("reopen of an unformatted tier: %v", err)
	}
	if s.Slots() != 2 {
		t.Fatalf("%d slots, want 2 from the file size", s.Slots())
	}
}

func TestBadHeader(t *testing.T) {
	good := header{slots: 2, uuid: uuidA}.marshal()
	tests := []struct {
		name  string
		patch func(b []byte)
		want  error
	}{
		{"magic", func(b []byte) { b[0] = 'X' }, imghdr.ErrBadMagic},
		{"checksum", func(b []byte) { b[imghdr.OffCount] ^= 1 }, imghdr.ErrBadChecksum},
		{"truncated file", nil, imghdr.ErrGeometry},
	}
	for _, tt := range tests {
		b := append([]byte(nil), good...)
		size := HeaderSize + 2*SlotSize
		if tt.patch != nil {
			tt.patch(b)
		} else {
			size = HeaderSize + SlotSize
		}
		f := &memFile{cur: append(b, make([]byte, size-HeaderSize)...)}
		_, err := Open("mem", Options{UUID: uuidA, OpenFile: opener(f)})
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzHeader(f *testing.F) {
	f.Add(header{slots: 64, uuid: uuidA}.marshal()[:hdrLen])
	f.Add(make([]byte, hdrLen))
	f.Add([]byte("BRICKTR\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, zero, err := unmarshalHeader(b)
		if err != nil || zero {
			return
		}
		if h.slots == 0 || h.slots > maxSlots {
			t.Fatalf("accepted %d slots", h.slots)
		}
		if !bytes.Equal(h.marshal()[:hdrLen], b[:hdrLen]) {
			t.Fatalf("header %x re-encodes differently", b[:hdrLen])
		}
	})
}
