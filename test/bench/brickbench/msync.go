package main

import (
	"context"
	"errors"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/internal/bench"
	"github.com/brick-storage/brick/pmem"
)

func msyncCommand() *cli.Command {
	return &cli.Command{
		Name: "msync",
		Usage: "write then flush 4 KiB pages of a brick's pmem image, as a persist does on the file backend (msync): p50 of the flush " +
			"(brickd must be stopped: the image is locked while mapped)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Required: true, TakesFile: true},
			durationFlag, outFlag,
		},
		Action: action(func(c *call) error {
			r, err := pmem.OpenFile(c.String("image"), pmem.FileOptions{Existing: true})
			if err != nil {
				return err
			}
			defer r.Close()
			if r.Frames() == 0 {
				return errors.New("the image has no data frame")
			}
			// The last data frame: whatever a bench left in it is never
			// read again (the bench's temporary brick is removed after).
			frame := r.Frame(r.Frames() - 1)
			const page = 4096
			var i int
			var lat bench.Histogram
			op := func(context.Context) (int, error) {
				off := (i * page) % len(frame)
				i++
				p := frame[off : off+page]
				p[0]++ // a dirty page, as a Write before its persist leaves it
				return page, r.Flush(p)
			}
			m := bench.Run(c.Context, c.Duration("duration"), []bench.Op{op}, 0, nil)
			if m.Err != nil {
				return m.Err
			}
			lat = m.Latency
			f := figures()
			f.Values[bench.FigMsync4KP50us] = float64(lat.Quantile(0.5)) / 1e3
			return emit(c, f)
		}),
	}
}
