package main

// The config file. Every flag in flags() is also a key of the YAML file
// given by --config (env BRICK_CONFIG), spelled like the long flag name:
//
//	pmem: /dev/dax0.0
//	listen: rdma://10.0.0.5:7470
//
// A flag added to flags() is a config key with no further work: the keys
// are the flags' long names.
//
// Precedence is flag > environment > config file > default. urfave/cli
// marks a flag set when the command line or one of its environment
// variables gave it a value (cli.Command.IsSet); the Before hook of
// withConfig reads the file and sets only the flags that are not set, by
// the flag's own parser (cli.Command.Set). TestConfigPrecedence holds it
// to that.
//
// The file is read here rather than by urfave's altsrc loaders because
// those silently ignore unknown keys (a misspelt key would leave a default
// in place) and will fetch http:// URLs.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v3"
	"gopkg.in/yaml.v3"
)

// configFlag names the flag that points at the config file; it is not a
// config key itself.
const configFlag = "config"

// withConfig returns the flags, checked to be ones a config file can set,
// and the Before hook that reads the file named by --config.
func withConfig(flags []cli.Flag) ([]cli.Flag, cli.BeforeFunc, error) {
	kinds := make(map[string]flagKind, len(flags))
	for _, f := range flags {
		kind, err := configKind(f)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range f.Names() {
			if n != configFlag {
				kinds[n] = kind
			}
		}
	}
	before := func(ctx context.Context, cmd *cli.Command) (context.Context, error) {
		path := cmd.String(configFlag)
		if path == "" {
			return ctx, nil
		}
		values, err := loadConfig(path, kinds)
		if err != nil {
			return ctx, err
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if cmd.IsSet(k) { // given on the command line or in the environment
				continue
			}
			if err := cmd.Set(k, values[k]); err != nil {
				return ctx, fmt.Errorf("%w: %s: %s: %v", errConfig, path, k, err)
			}
		}
		return ctx, nil
	}
	return flags, before, nil
}

// flagKind is how loadConfig reads a YAML scalar for a flag.
type flagKind uint8

const (
	kindString flagKind = iota // any scalar is taken as its text
	kindOther                  // its text, parsed by the flag (a bool, a number, a duration)
)

// configKind says how a config file sets f, or that it cannot.
func configKind(f cli.Flag) (flagKind, error) {
	switch f.(type) {
	case *cli.StringFlag:
		return kindString, nil
	case *cli.BoolFlag, *cli.DurationFlag, *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag, *cli.FloatFlag:
		return kindOther, nil
	}
	return 0, fmt.Errorf("brickd: flag --%s is a %T, which the config file cannot set; add it to configKind in cmd/brickd/config.go", f.Names()[0], f)
}

// errConfig marks a config file brickd cannot use.
var errConfig = errors.New("brick: unusable config file")

// loadConfig reads the YAML file at path: a mapping from long flag names to
// single values, returned as text. Unknown keys are refused with the list
// of known ones.
func loadConfig(path string, kinds map[string]flagKind) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s: %v", errConfig, path, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s is not a YAML mapping of flag names to values: %v", errConfig, path, err)
	}
	values := make(map[string]string, len(raw))
	var unknown []string
	for k, v := range raw {
		if _, ok := kinds[k]; !ok {
			unknown = append(unknown, k)
			continue
		}
		switch v.(type) {
		case nil: // `key:` with no value: as if absent
			continue
		case map[string]any, []any:
			return nil, fmt.Errorf("%w: %s: %s wants a single value", errConfig, path, k)
		}
		values[k] = fmt.Sprint(v)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, 0, len(kinds))
		for k := range kinds {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("%w: %s has unknown key(s) %s; the keys are the long flag names: %s",
			errConfig, path, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return values, nil
}
