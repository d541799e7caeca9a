// Package size is the one parser and formatter of byte sizes for the
// command lines and messages of brickd, brickctl and the bench: pmem and
// tier sizes, get --length and --offset, bench --size all read the same
// forms and print the same way.
//
// The arithmetic is go-humanize's. Units are binary only: KiB, MiB, GiB,
// TiB, PiB, and the single letters K, M, G, T, P as their binary
// multiples, as dd and most storage tools read them. Decimal spellings
// (KB, MB, GB, TB) are refused rather than guessed at: a pmem size off by
// 7% is a mistake nobody should make silently.
package size

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dustin/go-humanize"
)

// ErrInvalid is wrapped by every error of Parse.
var ErrInvalid = errors.New("brick: invalid size")

// Parse reads a byte count: a number (fractions allowed: 1.5GiB) with an
// optional binary unit, case-insensitive, with or without a space:
// "2097152", "512MiB", "4g", "8 GiB".
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	if num == "" {
		return 0, fmt.Errorf("size %q: expected a number of bytes such as 512MiB or 4GiB: %w", s, ErrInvalid)
	}
	switch unit {
	case "k", "m", "g", "t", "p":
		unit += "ib"
	case "kb", "mb", "gb", "tb", "pb":
		return 0, fmt.Errorf("size %q: decimal unit %q is ambiguous; use %siB (binary): %w", s, t[i:], strings.ToUpper(unit[:1]), ErrInvalid)
	case "", "b", "kib", "mib", "gib", "tib", "pib":
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB or TiB): %w", s, t[i:], ErrInvalid)
	}
	n, err := humanize.ParseBytes(num + unit)
	if err != nil {
		return 0, fmt.Errorf("size %q: %v: %w", s, err, ErrInvalid)
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large: %w", s, ErrInvalid)
	}
	return int64(n), nil
}

// Format prints n with the largest binary unit it reaches, to at most one
// decimal place: "512 B", "4 KiB", "3.5 MiB", "64 MiB".
func Format(n int64) string {
	if n < 0 {
		return "-" + Format(-n)
	}
	s := humanize.IBytes(uint64(n))
	num, unit, _ := strings.Cut(s, " ")
	return strings.TrimSuffix(num, ".0") + " " + unit
}
