package main

import (
	"strings"
	"time"

	"github.com/urfave/cli/v3"
)

// Flag names double as config keys (config.go wraps every flag here, so a
// new flag needs nothing more); each has an environment variable BRICK_….
func flags() []cli.Flag {
	return []cli.Flag{
		stringFlag("pmem", "./var/brick/pmem.img",
			"persistent memory: a file (created, fully allocated, on first start)"),
		stringFlag("pmem-backend", "auto",
			"auto (devdax for a /dev/dax device, fsdax for a file on a DAX file system, else file), devdax, fsdax, file (persistent through msync) or anonymous (volatile memory: nothing survives a restart)"),
		stringFlag("pmem-domain", "auto",
			"persistence domain of DAX memory: auto (read /sys/bus/nd), adr, eadr or none (the administrator's word where firmware does not say)"),
		stringFlag("pmem-size", "1GiB",
			"size of a new pmem file or of anonymous memory, in binary units (64MiB, 1GiB, 1.5TiB; K, M, G, T are KiB, MiB, GiB, TiB)"),
		boolFlag("pmem-sparse",
			"TESTS AND BENCHMARKS ONLY, never for data you keep: create and keep a file image sparse instead of reserving its disk space, so a brick larger than its disk can hold many blocks' metadata; the first map of a block, or a client's write, then fails with ENOSPC or kills brickd with SIGBUS when the file system is full"),
		stringFlag("meta", "./var/brick/meta",
			"metadata directory (Pebble)"),
		stringFlag("tier", "",
			"directory of the slow tier (a preallocated file tier.img): unmapped blocks move there when pmem frames run short, so the brick holds more blocks than pmem (empty: no tier)"),
		stringFlag("tier-size", "4GiB",
			"size of a new tier, a multiple of the 2 MiB slot, in binary units (4GiB, 512MiB); an existing tier keeps its size"),
		stringFlag("listen", "tcp://127.0.0.1:7470",
			"transport address: tcp://HOST:PORT (software RNIC) or rdma://HOST:PORT"),
		stringFlag("rdma-netdev", "",
			"network interface whose RDMA device serves rdma:// (e.g. ens1f0; default: the device rdma_cm finds for the address)"),
		stringFlag("ddio", "verify",
			"DDIO policy for the APM persist method: verify (APM only where DDIO is read off), disable (turn it off on Skylake-SP/Cascade Lake root ports, then verify), assume-off (the administrator's word) or off (never APM); see docs/persistence.md"),
		stringFlag("metrics", "127.0.0.1:9470",
			"Prometheus metrics address (empty disables)"),
		pprofFlag,
		stringFlag("log-level", "info",
			"debug, info, warn or error"),
		stringFlag("log-format", "text",
			"text (logfmt key=value) or json (one object per line)"),
		fileFlag("auth-key", "BRICK_AUTH_KEY_FILE",
			"file holding the pre-shared key every session must prove (mode 0600, 16+ bytes); without one any peer that reaches --listen can use the brick"),
		intFlag("max-unauthenticated", 64,
			"with --auth-key: sessions still to prove the key, apart from --max-sessions; when all are taken the oldest is closed to admit a newcomer (size it above the largest burst of clients that connect at once)"),
		durationFlag("auth-timeout", 5*time.Second,
			"with --auth-key: end a session that has not proved the key this long after it connected"),
		durationFlag("session-timeout", 30*time.Second,
			"end a session whose peer sends nothing for this long (clients ping at a third of it; 0 disables)"),
		intFlag("max-sessions", 4096,
			"refuse new sessions beyond this many"),
		intFlag("max-maps-per-session", 1024,
			"refuse a session's map beyond this many live maps"),
		fileFlag(configFlag, "BRICK_CONFIG",
			"YAML file whose keys are these flags' long names; flags and env vars override it"),
	}
}

// flagEnv is the environment variable of the flag name: BRICK_ and the name in
// upper case with '_' for '-' (--pmem-size is BRICK_PMEM_SIZE).
func flagEnv(name string) cli.ValueSourceChain {
	return cli.EnvVars("BRICK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
}

func stringFlag(name, value, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Value: value, Sources: flagEnv(name), Usage: usage}
}

func boolFlag(name, usage string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: name, Sources: flagEnv(name), Usage: usage}
}

func intFlag(name string, value int, usage string) *cli.IntFlag {
	return &cli.IntFlag{Name: name, Value: value, Sources: flagEnv(name), Usage: usage}
}

func durationFlag(name string, value time.Duration, usage string) *cli.DurationFlag {
	return &cli.DurationFlag{Name: name, Value: value, Sources: flagEnv(name), Usage: usage}
}

// fileFlag names a file; its variable is given, since it need not follow
// the flag's name (--auth-key is BRICK_AUTH_KEY_FILE).
func fileFlag(name, envVar, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Sources: cli.EnvVars(envVar), TakesFile: true, Usage: usage}
}
