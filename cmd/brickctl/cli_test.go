package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/urfave/cli/v3"
)

// TestFlagPosition: global and command flags are read before the command,
// after it, and after its arguments; `--` ends the flags.
func TestFlagPosition(t *testing.T) {
	tests := []struct {
		args     []string
		cmd      string
		wantArgs []string
		json     bool
		alloc    bool
		addr     string
	}{
		{[]string{"--json", "put", "0x200000", "f"}, "put", []string{"0x200000", "f"}, true, false, ""},
		{[]string{"put", "0x200000", "f", "--alloc", "--json"}, "put", []string{"0x200000", "f"}, true, true, ""},
		{[]string{"put", "--addr", "tcp://h:1", "0x200000", "--alloc", "f"}, "put", []string{"0x200000", "f"}, false, true, "tcp://h:1"},
		{[]string{"list", "0x200000", "--json", "--meta", "/m"}, "list", []string{"0x200000"}, true, false, ""},
		{[]string{"alloc", "-1"}, "alloc", []string{"-1"}, false, false, ""},
		{[]string{"put", "0x200000", "--", "--alloc"}, "put", []string{"0x200000", "--alloc"}, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			app := newApp()
			var got *cli.Command
			for _, c := range app.Commands {
				c.Action = func(_ context.Context, cmd *cli.Command) error { got = cmd; return nil }
			}
			if err := app.Run(context.Background(), append([]string{"brickctl"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if got == nil || got.Name != tt.cmd {
				t.Fatalf("ran %v, want %s", got, tt.cmd)
			}
			if a := got.Args().Slice(); !slices.Equal(a, tt.wantArgs) {
				t.Errorf("args %q, want %q", a, tt.wantArgs)
			}
			if got.Bool("json") != tt.json {
				t.Errorf("--json = %v", got.Bool("json"))
			}
			if tt.cmd == "put" && got.Bool("alloc") != tt.alloc {
				t.Errorf("--alloc = %v", got.Bool("alloc"))
			}
			if tt.addr != "" && got.String("addr") != tt.addr {
				t.Errorf("--addr = %q", got.String("addr"))
			}
			if tt.cmd == "list" && got.String("meta") != "/m" {
				t.Errorf("--meta = %q", got.String("meta"))
			}
		})
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0x200000", 0x200000, true},
		{"2097152", 0x200000, true},
		{"0x4000_0000", 0x40000000, true},
		{"0", 0, true},
		{"0x1000", 0, false},
		{"-1", 0, false},
		{"zz", 0, false},
	}
	for _, tt := range tests {
		got, err := parseID(tt.in)
		var ue *usageError
		if tt.ok && (err != nil || got != tt.want) || !tt.ok && !errors.As(err, &ue) {
			t.Errorf("parseID(%q) = %#x, %v", tt.in, got, err)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"tcp://127.0.0.1:7470": true, "rdma://10.0.0.5:7470": true, "tcp://[::1]:7470": true, "tcp://host:7470/": true,
		"127.0.0.1:7470": false, "http://127.0.0.1:7470": false, "tcp://127.0.0.1": false, "tcp://:7470": false,
		"tcp://h:1/x": false, "": false, "tcp://127.0.0.1:99999": false, "tcp://127.0.0.1:0": false, "tcp://127.0.0.1:http": false,
	} {
		if err := checkAddr(addr); (err == nil) != ok || err != nil && exitCode(err) != exitUsage {
			t.Errorf("checkAddr(%q) = %v", addr, err)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{usagef("x"), 2},
		{&interruptedError{"interrupted"}, 130},
		{errors.New("other"), 1},
	} {
		if got := exitCode(tt.err); got != tt.code {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}
