package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSizes reads a comma-separated list of sizes: a number with an
// optional binary suffix (B, K/KiB, M/MiB, G/GiB).
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		num := strings.TrimRightFunc(f, func(r rune) bool { return r < '0' || r > '9' })
		unit := strings.ToLower(f[len(num):])
		mult := 0
		switch unit {
		case "", "b":
			mult = 1
		case "k", "kib", "kb":
			mult = 1 << 10
		case "m", "mib", "mb":
			mult = 1 << 20
		case "g", "gib", "gb":
			mult = 1 << 30
		}
		n, err := strconv.Atoi(num)
		if err != nil || mult == 0 || n <= 0 {
			return nil, fmt.Errorf("%q is not a size: give a positive number with an optional unit (4KiB, 64KiB, 2MiB)", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes given")
	}
	return out, nil
}

// ParseCounts reads a comma-separated list of positive integers.
func ParseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no counts given")
	}
	return out, nil
}
