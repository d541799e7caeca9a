package main

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/internal/bench"
)

// Sizes of a block record in brick's metadata store (alloc2m/keys.go): a
// 9-byte key and a 12-byte value, so the baseline's commits weigh what an
// alloc's weighs.
const (
	pebbleKeyLen   = 9
	pebbleValueLen = 12
)

func pebbleCommand() *cli.Command {
	return &cli.Command{
		Name:  "pebble",
		Usage: "raw Pebble synced commits (one Set each) from --goroutines goroutines, with brick's Pebble options: commits per second (the ceiling of durable verbs)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Required: true, Usage: "an empty directory for the database, on the file system of brick's metadata"},
			&cli.IntFlag{Name: "goroutines", Value: 64},
			durationFlag, outFlag,
		},
		Action: action(func(c *call) error {
			n := c.Int("goroutines")
			if n <= 0 {
				return errors.New("--goroutines must be positive")
			}
			db, err := pebble.Open(c.String("dir"), alloc2m.PebbleOptions())
			if err != nil {
				return err
			}
			defer db.Close()
			var seq atomic.Uint64
			ops := make([]bench.Op, n)
			for i := range ops {
				key := make([]byte, pebbleKeyLen)
				val := make([]byte, pebbleValueLen)
				ops[i] = func(context.Context) (int, error) {
					// Distinct keys, like allocs of distinct blocks.
					binary.BigEndian.PutUint64(key[1:], seq.Add(1))
					return 0, db.Set(key, val, pebble.Sync)
				}
			}
			m := bench.Run(c.Context, c.Duration("duration"), ops, 0, nil)
			if m.Err != nil {
				return m.Err
			}
			f := figures()
			f.Values[bench.FigPebble64PerSec] = float64(m.Ops) / m.Elapsed.Seconds()
			return emit(c, f)
		}),
	}
}
