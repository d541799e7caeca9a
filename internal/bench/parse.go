package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/brick-storage/brick/internal/size"
)

// ParseSizes reads a comma-separated list of positive sizes in the forms
// of internal/size (4KiB, 64k, 2MiB, 512).
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := size.Parse(f)
		if err != nil || n <= 0 || n > math.MaxInt32 {
			return nil, fmt.Errorf("%q is not a size: give a positive number with an optional binary unit (4KiB, 64KiB, 2MiB)", f)
		}
		out = append(out, int(n))
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
