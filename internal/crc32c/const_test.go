package crc32c

import (
	"math/bits"
	"testing"
)

// Polynomials with the x^32 term, bit i the coefficient of x^i.
const (
	polyIEEE       = 0x104C11DB7
	polyCastagnoli = 0x11EDC6F41
)

// xPowMod returns x^n mod poly.
func xPowMod(n int, poly uint64) uint64 {
	r := uint64(1)
	for range n {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= poly
		}
	}
	return r
}

// foldK is the constant that moves a 64-bit half of a bit-reflected 128-bit
// lane n bits towards the end of the message once carry-less multiplied:
// (x^n mod P) bit-reflected in 32 bits, shifted left once because the
// product of two reflected operands comes out one bit low. A lane's low
// (earlier) half takes foldK(d+32), its high half foldK(d-32), to fold it
// d bits forward.
func foldK(n int, poly uint64) uint64 {
	return uint64(bits.Reverse32(uint32(xPowMod(n, poly)))) << 1
}

// reflect33 reverses the 33 low bits of v.
func reflect33(v uint64) uint64 { return bits.Reverse64(v) >> 31 }

// barrettMu returns floor(x^64 / poly), a degree-32 polynomial.
func barrettMu(poly uint64) uint64 {
	q := uint64(1) << 32
	rem := (poly &^ (1 << 32)) << 32 // x^64 - x^32*poly without the cancelled x^64
	for d := 63; d >= 32; d-- {
		if rem&(1<<d) != 0 {
			q |= 1 << (d - 32)
			rem ^= poly << (d - 32)
		}
	}
	return q
}

// genConsts returns foldConsts for poly, in the order the assembly reads them.
func genConsts(poly uint64) []uint64 {
	pair := func(d int) []uint64 { return []uint64{foldK(d+32, poly), foldK(d-32, poly)} }
	var c []uint64
	for _, d := range []int{2048, 1536, 1024, 512, 384, 256, 128} {
		c = append(c, pair(d)...)
	}
	c = append(c, 0, 0) // the last lane of a zmm is already in place
	c = append(c, foldK(96, poly), foldK(64, poly))
	c = append(c, reflect33(poly), reflect33(barrettMu(poly)))
	c = append(c, 0xffffffff, 0)
	return c
}

// TestConstantsGenerator reproduces published constants before the new
// ones are trusted: Intel's and Linux's for IEEE, klauspost/crc32's for
// Castagnoli.
func TestConstantsGenerator(t *testing.T) {
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"IEEE x^544", foldK(4*128+32, polyIEEE), 0x154442bd4},
		{"IEEE x^480", foldK(4*128-32, polyIEEE), 0x1c6e41596},
		{"IEEE x^160", foldK(128+32, polyIEEE), 0x1751997d0},
		{"IEEE x^96", foldK(128-32, polyIEEE), 0x0ccaa009e},
		{"IEEE x^64", foldK(64, polyIEEE), 0x163cd6124},
		{"IEEE P'", reflect33(polyIEEE), 0x1db710641},
		{"IEEE mu'", reflect33(barrettMu(polyIEEE)), 0x1f7011641},
		{"Castagnoli x^544", foldK(4*128+32, polyCastagnoli), 0x0740eef02},
		{"Castagnoli x^480", foldK(4*128-32, polyCastagnoli), 0x09e4addf8},
		{"Castagnoli x^160", foldK(128+32, polyCastagnoli), 0xf20c0dfe},
		{"Castagnoli x^96", foldK(128-32, polyCastagnoli), 0x14cd00bd6},
		{"Castagnoli x^64", foldK(64, polyCastagnoli), 0xdd45aab8},
		// klauspost has 0x105ec76f0: its bit 0 is the x^32 term of P, whose
		// product lands only in the half of the Barrett result that is
		// thrown away, so either value gives the same CRC.
		{"Castagnoli P'", reflect33(polyCastagnoli), 0x105ec76f1},
		{"Castagnoli mu'", reflect33(barrettMu(polyCastagnoli)), 0x0dea713f1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}
