package pmem

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/brick-storage/brick/internal/imghdr"
)

// readHeader returns the first sbAreaSize bytes of the image at path.
func readHeader(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[:sbAreaSize]
}

func reopen(t *testing.T, path string) (Region, error) {
	t.Helper()
	return OpenFile(path, FileOptions{})
}

// TestBinding: Bind records the metadata store in alternating slots, a
// torn slot falls back to the previous binding, and a reopen reads it.
func TestBinding(t *testing.T) {
	r, path := openTemp(t, testSize)
	if b, ok := r.Binding(); !ok || b.Bound() {
		t.Fatalf("new image: binding %+v recorded %v; want unbound version 2", b, ok)
	}
	store := [16]byte{0x5e, 0x70}
	for gen := uint64(1); gen <= 3; gen++ {
		if err := r.Bind(Binding{Store: store, Generation: gen}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	hdr := readHeader(t, path)
	a, sa := decodeSlot(hdr[sbOffBindA:])
	c, sc := decodeSlot(hdr[sbOffBindB:])
	// Generation 1 went to both slots, 2 to A, 3 to B.
	if sa != slotValid || sc != slotValid || a.Generation != 2 || c.Generation != 3 {
		t.Fatalf("slots: A %+v (%v), B %+v (%v); want generations 2 and 3", a, sa, c, sc)
	}

	tests := []struct {
		name    string
		damage  func(b []byte)
		want    Binding
		wantErr error
	}{
		{"intact", func([]byte) {}, Binding{store, 3}, nil},
		{"newest slot torn", func(b []byte) { b[sbOffBindB+bindOffGen] ^= 0xff }, Binding{store, 2}, nil},
		{"older slot torn", func(b []byte) { b[sbOffBindA+3] ^= 1 }, Binding{store, 3}, nil},
		{"both slots damaged", func(b []byte) { b[sbOffBindA] ^= 1; b[sbOffBindB] ^= 1 }, Binding{}, imghdr.ErrBadChecksum},
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "pmem.img")
			b := append([]byte(nil), img...)
			tt.damage(b)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := reopen(t, p)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("reopen: %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got, ok := r.Binding(); !ok || got != tt.want {
				t.Fatalf("binding %+v (%v), want %+v", got, ok, tt.want)
			}
			// The next Bind overwrites the slot that is not the binding.
			next := Binding{Store: store, Generation: tt.want.Generation + 1}
			if err := r.Bind(next); err != nil {
				t.Fatal(err)
			}
			r.Close()
			r2, err := reopen(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			if got, _ := r2.Binding(); got != next {
				t.Fatalf("after Bind: %+v, want %+v", got, next)
			}
		})
	}
}

// TestSuperblockVersion1: an image written before bindings opens, says it
// cannot tell whether a store maps it, and its first Bind upgrades it.
func TestSuperblockVersion1(t *testing.T) {
	r, path := openTemp(t, testSize)
	uuid := r.UUID()
	copy(r.Frame(0), "data")
	r.Flush(r.Frame(0)[:4])
	r.Close()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(img[imghdr.OffVersion:], superblockV1)
	(&superblock{version: superblockV1, frameSize: FrameSize, frames: 7, uuid: uuid}).encode(img)
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}

	r, err = reopen(t, path)
	if err != nil {
		t.Fatalf("version-1 image: %v", err)
	}
	if b, ok := r.Binding(); ok || b.Bound() {
		t.Fatalf("version-1 image: binding %+v recorded %v; want none, not recorded", b, ok)
	}
	if binary.LittleEndian.Uint32(readHeader(t, path)[imghdr.OffVersion:]) != superblockV1 {
		t.Fatal("opening rewrote the version-1 superblock")
	}
	want := Binding{Store: [16]byte{7}, Generation: 1}
	if err := r.Bind(want); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if v := binary.LittleEndian.Uint32(readHeader(t, path)[imghdr.OffVersion:]); v != superblockVersion {
		t.Fatalf("after Bind the superblock is version %d", v)
	}
	r, err = reopen(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, ok := r.Binding(); !ok || b != want || r.UUID() != uuid || string(r.Frame(0)[:4]) != "data" {
		t.Fatalf("upgraded image: binding %+v (%v), uuid %x, data %q", b, ok, r.UUID(), r.Frame(0)[:4])
	}
}

// TestExisting: with Options.Existing, Open neither creates nor formats an
// image; a missing or zeroed one is refused and left as it was.
func TestExisting(t *testing.T) {
	dir := t.TempDir()
	good, err := OpenFile(filepath.Join(dir, "good.img"), FileOptions{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	good.Close()
	zeroed := filepath.Join(dir, "zeroed.img")
	if err := os.WriteFile(zeroed, make([]byte, testSize), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.img")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"formatted", filepath.Join(dir, "good.img"), nil},
		{"missing", filepath.Join(dir, "missing.img"), ErrNoImage},
		{"zeroed header", zeroed, ErrUnformatted},
		{"empty file", empty, ErrUnformatted},
	}
	for _, tt := range tests {
		for _, backend := range []Kind{KindFile, ""} {
			name := string(backend)
			if name == "" {
				name = "auto"
			}
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				before, _ := os.ReadFile(tt.path)
				r, err := Open(tt.path, Options{Size: testSize, Backend: backend, Existing: true})
				if tt.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					r.Close()
					return
				}
				if !errors.Is(err, tt.want) {
					if err == nil {
						r.Close()
					}
					t.Fatalf("Open: %v, want %v", err, tt.want)
				}
				after, rerr := os.ReadFile(tt.path)
				if tt.want == ErrNoImage && !errors.Is(rerr, os.ErrNotExist) {
					t.Fatalf("a missing image was created (%v)", rerr)
				}
				if tt.want != ErrNoImage && string(after) != string(before) {
					t.Fatal("the refused image was written")
				}
			})
		}
	}
}
