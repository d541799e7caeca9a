package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/internal/leaktest"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// runApp runs brickd's command line with args, calling action where run
// would start the brick.
func runApp(t *testing.T, action func(*call), args ...string) error {
	t.Helper()
	app, err := newApp()
	if err != nil {
		t.Fatal(err)
	}
	app.Action = func(ctx context.Context, c *cli.Command) error {
		action(&call{Context: ctx, Command: c})
		return nil
	}
	return app.Run(context.Background(), append([]string{"brickd"}, args...))
}

// parse runs brickd's command line with args and returns the values run
// would see, without starting anything.
func parse(t *testing.T, args ...string) (map[string]string, error) {
	t.Helper()
	got := map[string]string{}
	err := runApp(t, func(c *call) {
		for _, f := range flags() {
			n := f.Names()[0]
			got[n] = fmt.Sprint(c.Value(n))
		}
	}, args...)
	return got, err
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "brickd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigPrecedence: flag > environment > config file > default, for
// the config named by --config and by BRICK_CONFIG.
func TestConfigPrecedence(t *testing.T) {
	cfg := writeConfig(t, `
pmem: /dev/dax0.0
pmem-size: 1073741824   # an integer for a string flag is taken as its text
listen: tcp://10.0.0.5:7470
metrics: ""
log-level: warn
max-sessions: 8
session-timeout: 1m
`)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"defaults", nil, nil, map[string]string{
			"pmem": "./var/brick/pmem.img", "listen": "tcp://127.0.0.1:7470", "metrics": "127.0.0.1:9470", "log-level": "info"}},
		{"config", []string{"--config", cfg}, nil, map[string]string{
			"pmem": "/dev/dax0.0", "pmem-size": "1073741824", "listen": "tcp://10.0.0.5:7470", "metrics": "", "log-level": "warn",
			"meta": "./var/brick/meta"}}, // not in the file: the default
		{"config from env", nil, map[string]string{"BRICK_CONFIG": cfg}, map[string]string{
			"pmem": "/dev/dax0.0", "log-level": "warn"}},
		{"env over config", []string{"--config", cfg}, map[string]string{"BRICK_LISTEN": "tcp://10.0.0.6:7470", "BRICK_METRICS": ":9999"},
			map[string]string{"listen": "tcp://10.0.0.6:7470", "metrics": ":9999", "pmem": "/dev/dax0.0"}},
		{"flag over env and config", []string{"--config", cfg, "--listen", "tcp://10.0.0.7:7470", "--log-level", "debug"},
			map[string]string{"BRICK_LISTEN": "tcp://10.0.0.6:7470"},
			map[string]string{"listen": "tcp://10.0.0.7:7470", "log-level": "debug", "pmem": "/dev/dax0.0"}},
		{"flag set to empty over config", []string{"--config", cfg, "--pmem", ""}, nil, map[string]string{"pmem": ""}},
		{"config sets a number and a duration", []string{"--config", cfg}, nil, map[string]string{"max-sessions": "8", "session-timeout": "1m0s"}},
		{"flag over config for a number", []string{"--config", cfg, "--max-sessions", "9"}, map[string]string{"BRICK_MAX_SESSIONS": "10"}, map[string]string{"max-sessions": "9"}},
		{"env over config for a number", []string{"--config", cfg}, map[string]string{"BRICK_MAX_SESSIONS": "10"}, map[string]string{"max-sessions": "10"}},
		{"empty env string over config", []string{"--config", cfg}, map[string]string{"BRICK_PMEM": ""}, map[string]string{"pmem": ""}},
		{"empty env number: config", []string{"--config", cfg}, map[string]string{"BRICK_MAX_SESSIONS": ""}, map[string]string{"max-sessions": "8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := parse(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

func TestConfigRefused(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "pmem: /x\nlisten-addr: tcp://1.2.3.4:1\n", "unknown key(s) listen-addr"},
		{"not a mapping", "- pmem\n", "not a YAML mapping"},
		{"list for a string", "pmem: [a, b]\n", "pmem wants a single value"},
		{"config names a config", "config: /etc/other.yaml\n", "unknown key(s) config"},
		{"not a number", "max-sessions: many\n", "max-sessions"},
		{"not a duration", "session-timeout: soon\n", "session-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, "--config", writeConfig(t, tt.body))
			if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want errConfig mentioning %q", err, tt.want)
			}
		})
	}
	_, err := parse(t, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, errConfig) {
		t.Fatalf("missing file: err = %v, want errConfig", err)
	}
}

// TestEveryFlagConfigurable: each flag has a BRICK_ env var named after
// it (BRICK_AUTH_KEY_FILE for --auth-key says what it holds) and can be
// wrapped for the config file, so flags others add stay covered.
func TestEveryFlagConfigurable(t *testing.T) {
	for _, f := range flags() {
		name := f.Names()[0]
		want := "BRICK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		ef, ok := f.(interface{ GetEnvVars() []string })
		if !ok || len(ef.GetEnvVars()) == 0 || !strings.HasPrefix(ef.GetEnvVars()[0], want) {
			t.Errorf("--%s: want env var %s", name, want)
		}
		if _, err := configKind(f); err != nil {
			t.Error(err)
		}
	}
}

func TestLogFormat(t *testing.T) {
	for _, f := range []string{"text", "json"} {
		if _, err := newLogger("info", f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := newLogger("info", "xml"); err == nil {
		t.Error("xml accepted")
	}
}

var flagNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// TestSampleConfig: docs/brickd.yaml loads, and the keys it shows only in
// comments are flags too.
func TestSampleConfig(t *testing.T) {
	const sample = "../../docs/brickd.yaml"
	_, before, err := withConfig(flags())
	if err != nil || before == nil {
		t.Fatal(err)
	}
	kinds := map[string]flagKind{}
	for _, f := range flags() {
		if n := f.Names()[0]; n != configFlag {
			k, _ := configKind(f)
			kinds[n] = k
		}
	}
	if _, err := loadConfig(sample, kinds); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sample)
	for _, line := range strings.Split(string(b), "\n") {
		key, _, ok := strings.Cut(strings.TrimPrefix(line, "# "), ":")
		if !strings.HasPrefix(line, "# ") || !ok || !flagNameRE.MatchString(key) {
			continue
		}
		if _, known := kinds[key]; !known {
			t.Errorf("%s shows key %q, which is not a brickd flag", sample, key)
		}
	}
}
