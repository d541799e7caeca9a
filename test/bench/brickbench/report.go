package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/internal/bench"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "merge the figures of one make bench run into the goals table; write it as JSON and HTML",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "figures", Required: true, Usage: "directory of figure files (*.json) written by the other commands"},
			&cli.StringSliceFlag{Name: "brick-report", Usage: "brickctl bench --json output against the file-backed brickd (repeatable)"},
			&cli.StringSliceFlag{Name: "anon-report", Usage: "brickctl bench --json output against the anonymous-backend brickd (repeatable)"},
			&cli.StringFlag{Name: "json", Usage: "write figures and goals as JSON to `FILE`"},
			&cli.StringFlag{Name: "html", Usage: "write the HTML page to `FILE`"},
			&cli.StringFlag{Name: "machine", Usage: "a line saying which machine ran it"},
		},
		Action: action(runReport),
	}
}

// runReport merges the figures with those of the brickctl bench reports,
// prints the goals table, and writes the JSON and HTML asked for.
func runReport(c *call) error {
	figs, err := bench.ReadFigures(c.String("figures"))
	if err != nil {
		return err
	}
	var reports []*bench.Report
	for _, set := range []struct {
		flag string
		anon bool
	}{{"brick-report", false}, {"anon-report", true}} {
		for _, path := range c.StringSlice(set.flag) {
			r, err := readReport(path)
			if err != nil {
				return err
			}
			reports = append(reports, r)
			f := bench.FiguresFromReport(r, set.anon)
			for k, v := range f.Values {
				figs.Values[k] = v
			}
			for k, v := range f.Notes {
				figs.Notes[k] = v
			}
		}
	}
	goals := bench.Goals(figs)
	if err := bench.GoalsTable(os.Stdout, goals); err != nil {
		return err
	}
	if path := c.String("json"); path != "" {
		b, err := json.MarshalIndent(struct {
			Machine string         `json:"machine,omitempty"`
			Figures *bench.Figures `json:"figures"`
			Goals   []bench.Goal   `json:"goals"`
		}{c.String("machine"), figs, goals}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if path := c.String("html"); path != "" {
		page := &bench.GoalsPage{Title: "brick: make bench", Started: time.Now(), Machine: c.String("machine"), Goals: goals, Reports: reports}
		return bench.WriteHTMLFile(path, page.HTML)
	}
	return nil
}

func readReport(path string) (*bench.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("brickctl report %s: %w", path, err)
	}
	return &r, nil
}
