package main

import "github.com/urfave/cli/v2"

// Flag names double as config keys; each has an environment variable.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pmem", Value: "./var/brick/pmem.img", EnvVars: []string{"BRICK_PMEM"},
			Usage: "persistent memory: a file (created sparse on first start)"},
		&cli.StringFlag{Name: "pmem-backend", Value: "file", EnvVars: []string{"BRICK_PMEM_BACKEND"},
			Usage: "file (persistent through msync) or anonymous (volatile memory: nothing survives a restart)"},
		&cli.StringFlag{Name: "pmem-size", Value: "1GiB", EnvVars: []string{"BRICK_PMEM_SIZE"},
			Usage: "size of a new pmem file or of anonymous memory (suffixes KiB, MiB, GiB, TiB)"},
		&cli.StringFlag{Name: "meta", Value: "./var/brick/meta", EnvVars: []string{"BRICK_META"},
			Usage: "metadata directory (Pebble)"},
		&cli.StringFlag{Name: "listen", Value: "tcp://127.0.0.1:7470", EnvVars: []string{"BRICK_LISTEN"},
			Usage: "transport address: tcp://HOST:PORT (software RNIC) or rdma://HOST:PORT"},
		&cli.StringFlag{Name: "metrics", Value: "127.0.0.1:9470", EnvVars: []string{"BRICK_METRICS"},
			Usage: "Prometheus metrics address (empty disables)"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"BRICK_LOG_LEVEL"},
			Usage: "debug, info, warn or error"},
	}
}
