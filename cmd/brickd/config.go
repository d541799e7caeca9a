package main

// The config file. Every flag in flags() is also a key of the YAML file
// given by --config (env BRICK_CONFIG), spelled like the long flag name:
//
//	pmem: /dev/dax0.0
//	listen: rdma://10.0.0.5:7470
//
// withConfig wraps each flag in its altsrc counterpart when the app is
// built, so a flag added to flags() is a config key with no further work.
//
// Precedence is flag > environment > config file > default. That is what
// altsrc does: a wrapped flag takes the file's value only when the flag was
// not given on the command line (cli.Context.IsSet) and none of its EnvVars
// is set (altsrc checks os.LookupEnv itself). TestConfigPrecedence holds
// it to that.
//
// The file is read by loadConfig rather than altsrc's own YAML loader
// because that loader silently ignores unknown keys (a misspelt key would
// leave a default in place), fails on `pmem-size: 1073741824` (an integer
// for a string flag), and will fetch http:// URLs.

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// configFlag names the flag that points at the config file; it is not a
// config key itself.
const configFlag = "config"

// withConfig returns flags wrapped so that a config file can set them, and
// the Before hook that reads the file named by --config.
func withConfig(flags []cli.Flag) ([]cli.Flag, cli.BeforeFunc, error) {
	out := make([]cli.Flag, 0, len(flags))
	kinds := make(map[string]flagKind, len(flags))
	for _, f := range flags {
		w, kind, err := wrapFlag(f)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, w)
		for _, n := range f.Names() {
			if n != configFlag {
				kinds[n] = kind
			}
		}
	}
	before := func(c *cli.Context) error {
		path := c.String(configFlag)
		if path == "" {
			return nil
		}
		src, err := loadConfig(path, kinds)
		if err != nil {
			return err
		}
		return altsrc.ApplyInputSourceValues(c, src, out)
	}
	return out, before, nil
}

// flagKind is how loadConfig coerces a YAML scalar for a flag.
type flagKind uint8

const (
	kindString flagKind = iota // any scalar is taken as its text
	kindOther                  // left as YAML decoded it; altsrc checks the type
)

// wrapFlag returns the altsrc flag that reads f's value from a config file.
func wrapFlag(f cli.Flag) (cli.Flag, flagKind, error) {
	switch f := f.(type) {
	case *cli.StringFlag:
		return altsrc.NewStringFlag(f), kindString, nil
	case *cli.PathFlag:
		return altsrc.NewPathFlag(f), kindString, nil
	case *cli.BoolFlag:
		return altsrc.NewBoolFlag(f), kindOther, nil
	case *cli.DurationFlag:
		return altsrc.NewDurationFlag(f), kindOther, nil
	case *cli.IntFlag:
		return altsrc.NewIntFlag(f), kindOther, nil
	case *cli.Int64Flag:
		return altsrc.NewInt64Flag(f), kindOther, nil
	case *cli.UintFlag:
		return altsrc.NewUintFlag(f), kindOther, nil
	case *cli.Uint64Flag:
		return altsrc.NewUint64Flag(f), kindOther, nil
	case *cli.Float64Flag:
		return altsrc.NewFloat64Flag(f), kindOther, nil
	case *cli.StringSliceFlag:
		return altsrc.NewStringSliceFlag(f), kindOther, nil
	case *cli.IntSliceFlag:
		return altsrc.NewIntSliceFlag(f), kindOther, nil
	case *cli.GenericFlag:
		return altsrc.NewGenericFlag(f), kindOther, nil
	}
	return nil, 0, fmt.Errorf("brickd: flag --%s is a %T, which the config file cannot set; add it to wrapFlag in cmd/brickd/config.go", f.Names()[0], f)
}

// errConfig marks a config file brickd cannot use.
var errConfig = errors.New("brick: unusable config file")

// loadConfig reads the YAML file at path: a mapping from long flag names to
// values. Unknown keys are refused with the list of known ones.
func loadConfig(path string, kinds map[string]flagKind) (altsrc.InputSourceContext, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s: %v", errConfig, path, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s is not a YAML mapping of flag names to values: %v", errConfig, path, err)
	}
	values := make(map[any]any, len(raw))
	var unknown []string
	for k, v := range raw {
		kind, ok := kinds[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if v == nil { // `key:` with no value: as if absent
			continue
		}
		if kind == kindString {
			switch v.(type) {
			case map[string]any, []any:
				return nil, fmt.Errorf("%w: %s: %s wants a single value", errConfig, path, k)
			}
			v = fmt.Sprint(v)
		}
		values[k] = v
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
	return altsrc.NewMapInputSource(path, values), nil
}
