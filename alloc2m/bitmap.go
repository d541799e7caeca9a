package alloc2m

import "math/bits"

// frameBitmap is the set of frames in use, one bit per frame. take returns
// the lowest free frame, so allocations pack at the start of the region (and
// a region that grows keeps its hot frames together). hint is a word index
// below which every word is full: take starts there, put lowers it, so a
// long run of full words is not rescanned on every call.
type frameBitmap struct {
	words []uint64
	n     uint64 // frames
	used  uint64 // frames in use
	hint  int
}

func newFrameBitmap(n uint64) *frameBitmap {
	m := &frameBitmap{words: make([]uint64, (n+63)/64), n: n}
	// Bits past the last frame are permanently "in use", so take never has
	// to bound-check the bit it finds.
	if r := n % 64; r != 0 {
		m.words[len(m.words)-1] = ^uint64(0) << r
	}
	return m
}

// set marks frame f in use; false if it already was.
func (m *frameBitmap) set(f uint64) bool {
	w, b := f/64, f%64
	if m.words[w]&(1<<b) != 0 {
		return false
	}
	m.words[w] |= 1 << b
	m.used++
	return true
}

// take marks the lowest free frame in use and returns it.
func (m *frameBitmap) take() (uint64, bool) {
	for w := m.hint; w < len(m.words); w++ {
		if x := m.words[w]; x != ^uint64(0) {
			m.hint = w
			f := uint64(w)*64 + uint64(bits.TrailingZeros64(^x))
			m.set(f)
			return f, true
		}
	}
	m.hint = len(m.words)
	return 0, false
}

// first returns the lowest free frame without taking it.
func (m *frameBitmap) first() (uint64, bool) {
	for w := m.hint; w < len(m.words); w++ {
		if x := m.words[w]; x != ^uint64(0) {
			return uint64(w)*64 + uint64(bits.TrailingZeros64(^x)), true
		}
	}
	return 0, false
}

// put returns frame f to the free set.
func (m *frameBitmap) put(f uint64) {
	w, b := f/64, f%64
	if m.words[w]&(1<<b) == 0 {
		panic("alloc2m: freeing a free frame")
	}
	m.words[w] &^= 1 << b
	m.used--
	if int(w) < m.hint {
		m.hint = int(w)
	}
}

func (m *frameBitmap) free() uint64 { return m.n - m.used }
