package size

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2097152", 2 << 20, true},
		{"0", 0, true},
		{"512MiB", 512 << 20, true},
		{"1GiB", 1 << 30, true},
		{"1gib", 1 << 30, true},
		{"4g", 4 << 30, true},
		{"4G", 4 << 30, true},
		{"3T", 3 << 40, true},
		{"2TiB", 2 << 40, true},
		{"64K", 64 << 10, true},
		{"64KiB", 64 << 10, true},
		{"10M", 10 << 20, true},
		{"1MiB", 1 << 20, true},
		{"100B", 100, true},
		{" 8 GiB ", 8 << 30, true},
		{"1.5GiB", 3 << 29, true},
		{"", 0, false},
		{"GiB", 0, false},
		{"-1", 0, false},
		{"4GB", 0, false},
		{"4kb", 0, false},
		{"4XiB", 0, false},
		{"99999999999T", 0, false},
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %d, %v; want ErrInvalid", tt.in, got, err)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {4096, "4 KiB"}, {64 << 20, "64 MiB"}, {2 << 20, "2 MiB"},
		{3<<20 + 1<<19, "3.5 MiB"}, {2 << 40, "2 TiB"}, {1<<30 + 1, "1 GiB"},
	} {
		if got := Format(tt.n); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
