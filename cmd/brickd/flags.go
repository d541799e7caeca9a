package main

import (
	"time"

	"github.com/urfave/cli/v3"
)

// Flag names double as config keys (config.go wraps every flag here, so a
// new flag needs nothing more); each has an environment variable BRICK_….
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pmem", Value: "./var/brick/pmem.img", Sources: cli.EnvVars("BRICK_PMEM"),
			Usage: "persistent memory: a file (created, fully allocated, on first start)"},
		&cli.StringFlag{Name: "pmem-backend", Value: "auto", Sources: cli.EnvVars("BRICK_PMEM_BACKEND"),
			Usage: "auto (devdax for a /dev/dax device, fsdax for a file on a DAX file system, else file), devdax, fsdax, file (persistent through msync) or anonymous (volatile memory: nothing survives a restart)"},
		&cli.StringFlag{Name: "pmem-domain", Value: "auto", Sources: cli.EnvVars("BRICK_PMEM_DOMAIN"),
			Usage: "persistence domain of DAX memory: auto (read /sys/bus/nd), adr, eadr or none (the administrator's word where firmware does not say)"},
		&cli.StringFlag{Name: "pmem-size", Value: "1GiB", Sources: cli.EnvVars("BRICK_PMEM_SIZE"),
			Usage: "size of a new pmem file or of anonymous memory, in binary units (64MiB, 1GiB, 1.5TiB; K, M, G, T are KiB, MiB, GiB, TiB)"},
		&cli.BoolFlag{Name: "pmem-sparse", Sources: cli.EnvVars("BRICK_PMEM_SPARSE"),
			Usage: "TESTS AND BENCHMARKS ONLY, never for data you keep: create and keep a file image sparse instead of reserving its disk space, so a brick larger than its disk can hold many blocks' metadata; the first map of a block, or a client's write, then fails with ENOSPC or kills brickd with SIGBUS when the file system is full"},
		&cli.StringFlag{Name: "meta", Value: "./var/brick/meta", Sources: cli.EnvVars("BRICK_META"),
			Usage: "metadata directory (Pebble)"},
		&cli.StringFlag{Name: "tier", Sources: cli.EnvVars("BRICK_TIER"),
			Usage: "directory of the slow tier (a preallocated file tier.img): unmapped blocks move there when pmem frames run short, so the brick holds more blocks than pmem (empty: no tier)"},
		&cli.StringFlag{Name: "tier-size", Value: "4GiB", Sources: cli.EnvVars("BRICK_TIER_SIZE"),
			Usage: "size of a new tier, a multiple of the 2 MiB slot, in binary units (4GiB, 512MiB); an existing tier keeps its size"},
		&cli.StringFlag{Name: "listen", Value: "tcp://127.0.0.1:7470", Sources: cli.EnvVars("BRICK_LISTEN"),
			Usage: "transport address: tcp://HOST:PORT (software RNIC) or rdma://HOST:PORT"},
		&cli.StringFlag{Name: "rdma-netdev", Sources: cli.EnvVars("BRICK_RDMA_NETDEV"),
			Usage: "network interface whose RDMA device serves rdma:// (e.g. ens1f0; default: the device rdma_cm finds for the address)"},
		&cli.StringFlag{Name: "ddio", Value: "verify", Sources: cli.EnvVars("BRICK_DDIO"),
			Usage: "DDIO policy for the APM persist method: verify (APM only where DDIO is read off), disable (turn it off on Skylake-SP/Cascade Lake root ports, then verify), assume-off (the administrator's word) or off (never APM); see docs/persistence.md"},
		&cli.StringFlag{Name: "metrics", Value: "127.0.0.1:9470", Sources: cli.EnvVars("BRICK_METRICS"),
			Usage: "Prometheus metrics address (empty disables)"},
		pprofFlag,
		&cli.StringFlag{Name: "log-level", Value: "info", Sources: cli.EnvVars("BRICK_LOG_LEVEL"),
			Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "text", Sources: cli.EnvVars("BRICK_LOG_FORMAT"),
			Usage: "text (logfmt key=value) or json (one object per line)"},
		&cli.StringFlag{Name: "auth-key", Sources: cli.EnvVars("BRICK_AUTH_KEY_FILE"), TakesFile: true,
			Usage: "file holding the pre-shared key every session must prove (mode 0600, 16+ bytes); without one any peer that reaches --listen can use the brick"},
		&cli.IntFlag{Name: "max-unauthenticated", Value: 64, Sources: cli.EnvVars("BRICK_MAX_UNAUTHENTICATED"),
			Usage: "with --auth-key: sessions still to prove the key, apart from --max-sessions; when all are taken the oldest is closed to admit a newcomer (size it above the largest burst of clients that connect at once)"},
		&cli.DurationFlag{Name: "auth-timeout", Value: 5 * time.Second, Sources: cli.EnvVars("BRICK_AUTH_TIMEOUT"),
			Usage: "with --auth-key: end a session that has not proved the key this long after it connected"},
		&cli.DurationFlag{Name: "session-timeout", Value: 30 * time.Second, Sources: cli.EnvVars("BRICK_SESSION_TIMEOUT"),
			Usage: "end a session whose peer sends nothing for this long (clients ping at a third of it; 0 disables)"},
		&cli.IntFlag{Name: "max-sessions", Value: 4096, Sources: cli.EnvVars("BRICK_MAX_SESSIONS"),
			Usage: "refuse new sessions beyond this many"},
		&cli.IntFlag{Name: "max-maps-per-session", Value: 1024, Sources: cli.EnvVars("BRICK_MAX_MAPS_PER_SESSION"),
			Usage: "refuse a session's map beyond this many live maps"},
		&cli.StringFlag{Name: configFlag, Sources: cli.EnvVars("BRICK_CONFIG"), TakesFile: true,
			Usage: "YAML file whose keys are these flags' long names; flags and env vars override it"},
	}
}
