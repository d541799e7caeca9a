package verbs

import (
	"errors"
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		url              string
		scheme, hostport string
		ok               bool
	}{
		{"tcp://127.0.0.1:7470", "tcp", "127.0.0.1:7470", true},
		{"rdma://10.0.0.1:7470", "rdma", "10.0.0.1:7470", true},
		{"tcp://127.0.0.1:7470/", "tcp", "127.0.0.1:7470", true},
		{"tcp://[::1]:7470", "tcp", "[::1]:7470", true},
		{"tcp://:0", "tcp", ":0", true},
		{"127.0.0.1:7470", "", "", false},
		{"udp://127.0.0.1:7470", "", "", false},
		{"tcp://127.0.0.1", "", "", false},
		{"tcp://127.0.0.1:99999", "", "", false},
		{"tcp://127.0.0.1:http", "", "", false},
		{"tcp://127.0.0.1:7470/x", "", "", false},
		{"tcp://127.0.0.1:7470//", "", "", false},
	}
	for _, tt := range tests {
		scheme, hostport, err := ParseAddr(tt.url)
		if ok := err == nil; ok != tt.ok || scheme != tt.scheme || hostport != tt.hostport {
			t.Errorf("ParseAddr(%q) = %q, %q, %v; want %q, %q, ok %v", tt.url, scheme, hostport, err, tt.scheme, tt.hostport, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrAddress) {
			t.Errorf("ParseAddr(%q): %v does not wrap ErrAddress", tt.url, err)
		}
	}
}
