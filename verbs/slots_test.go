package verbs

import (
	"errors"
	"testing"
	"unsafe"
)

type fakeMR struct {
	buf          []byte
	deregistered bool
}

func (m *fakeMR) LKey() uint32      { return 7 }
func (m *fakeMR) RKey() uint32      { return 9 }
func (m *fakeMR) Addr() uint64      { return uint64(uintptr(unsafe.Pointer(&m.buf[0]))) }
func (m *fakeMR) Len() int          { return len(m.buf) }
func (m *fakeMR) Deregister() error { m.deregistered = true; return nil }

type fakePD struct {
	mr     *fakeMR
	access Access
	fail   error
}

func (p *fakePD) Register(buf []byte, access Access) (MR, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	p.mr, p.access = &fakeMR{buf: buf}, access
	return p.mr, nil
}

func (p *fakePD) RegisterWith(buf []byte, access Access, _ RegisterOptions) (MR, error) {
	return p.Register(buf, access)
}

// TestSlots: slot i is bytes [i·size, (i+1)·size) of one registration,
// and its receive covers all of it under ID i.
func TestSlots(t *testing.T) {
	tests := []struct {
		n, size int
		access  Access
	}{
		{4, 256, AccessLocalWrite},
		{16, 4096, 0},
		{1, 100, AccessLocalWrite},
	}
	for _, tc := range tests {
		pd := &fakePD{}
		s, err := NewSlots(pd, tc.n, tc.size, tc.access)
		if err != nil {
			t.Fatal(err)
		}
		if pd.access != tc.access || pd.mr.Len() != tc.n*tc.size || s.Size() != tc.size {
			t.Fatalf("%d×%d: registered %d bytes with %v, size %d", tc.n, tc.size, pd.mr.Len(), pd.access, s.Size())
		}
		base := pd.mr.Addr()
		for i := range tc.n {
			b := s.Buf(i)
			if len(b) != tc.size || uint64(uintptr(unsafe.Pointer(&b[0]))) != base+uint64(i*tc.size) {
				t.Fatalf("%d×%d: slot %d is %d bytes at +%d", tc.n, tc.size, i, len(b), uint64(uintptr(unsafe.Pointer(&b[0])))-base)
			}
			if g := s.SGE(i, 3); g != (SGE{Addr: base + uint64(i*tc.size), Length: 3, LKey: 7}) {
				t.Fatalf("%d×%d: SGE(%d, 3) = %+v", tc.n, tc.size, i, g)
			}
			if wr := s.RecvWR(i); wr.ID != uint64(i) || wr.Local != s.SGE(i, tc.size) {
				t.Fatalf("%d×%d: RecvWR(%d) = %+v", tc.n, tc.size, i, wr)
			}
		}
		s.Free()
		if !pd.mr.deregistered {
			t.Fatalf("%d×%d: Free did not deregister", tc.n, tc.size)
		}
		s.Free() // a second Free finds nothing to free
	}
	var none *Slots
	none.Free()
}

// TestSlotsRegisterFails: a failed registration is returned and leaves
// nothing allocated to free.
func TestSlotsRegisterFails(t *testing.T) {
	boom := errors.New("boom")
	if s, err := NewSlots(&fakePD{fail: boom}, 2, 64, 0); !errors.Is(err, boom) || s != nil {
		t.Fatalf("NewSlots = %v, %v; want nil, boom", s, err)
	}
}
