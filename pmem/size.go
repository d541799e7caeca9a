package pmem

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the accepted suffixes, all binary (powers of 1024). Decimal
// spellings such as "GB" are refused rather than guessed at: a pmem size
// off by 7% is a mistake nobody should make silently.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"k":   1 << 10,
	"kib": 1 << 10,
	"m":   1 << 20,
	"mib": 1 << 20,
	"g":   1 << 30,
	"gib": 1 << 30,
	"t":   1 << 40,
	"tib": 1 << 40,
}

// ParseSize parses a byte size: a non-negative integer optionally followed
// (with or without a space) by a binary unit, case-insensitive: B, K or KiB,
// M or MiB, G or GiB, T or TiB. "512MiB", "4g" and "2097152" are accepted.
// It does not check frame alignment; OpenFile and NewAnonymous do.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: expected a number of bytes such as 512MiB or 4GiB: %w", s, ErrInvalidSize)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %v: %w", s, err, ErrInvalidSize)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		switch unit {
		case "kb", "mb", "gb", "tb":
			return 0, fmt.Errorf("size %q: decimal unit %q is ambiguous; use %siB (binary): %w", s, t[i:], strings.ToUpper(unit[:1]), ErrInvalidSize)
		}
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB or TiB): %w", s, t[i:], ErrInvalidSize)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: too large: %w", s, ErrInvalidSize)
	}
	return n * mult, nil
}

// FormatSize prints a byte count with the largest binary unit it reaches,
// to one decimal place ("64 MiB", "3.9 MiB", "512 B"), for messages.
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + " " + units[u]
}
