package main

import (
	"strings"
	"testing"
	"time"
)

// TestAuthLimits: the bounds on sessions still to authenticate come from
// their flags or environment variables, with defaults, and nonsense is
// refused with the flag's name.
func TestAuthLimits(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		max     int
		timeout time.Duration
		err     string
	}{
		{"defaults", nil, nil, 64, 5 * time.Second, ""},
		{"flags", []string{"--max-unauthenticated", "8", "--auth-timeout", "2s"}, nil, 8, 2 * time.Second, ""},
		{"env", nil, map[string]string{"BRICK_MAX_UNAUTHENTICATED": "16", "BRICK_AUTH_TIMEOUT": "1500ms"}, 16, 1500 * time.Millisecond, ""},
		{"zero quota", []string{"--max-unauthenticated", "0"}, nil, 0, 0, "--max-unauthenticated must be at least 1"},
		{"no deadline", []string{"--auth-timeout", "0s"}, nil, 0, 0, "--auth-timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var (
				max     int
				timeout time.Duration
				lerr    error
			)
			err := runApp(t, func(c *call) { max, timeout, lerr = authLimits(c) }, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.err != "" && (lerr == nil || !strings.Contains(lerr.Error(), tt.err)):
				t.Fatalf("error %v, want one saying %q", lerr, tt.err)
			case tt.err == "" && (lerr != nil || max != tt.max || timeout != tt.timeout):
				t.Fatalf("got %d, %v, %v; want %d, %v", max, timeout, lerr, tt.max, tt.timeout)
			}
		})
	}
}
