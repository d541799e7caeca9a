// Command depgraph prints the module's package graph (non-test imports,
// from `go list`) as a mermaid flowchart; with -w FILE it rewrites the
// graph between the depgraph markers in FILE (docs/architecture.md).
// internal/archtest's test fails when the document is out of date.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/internal/archtest"
)

func main() {
	app := &cli.Command{
		Name:  "depgraph",
		Usage: "print the module's package graph as a mermaid flowchart",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "w", TakesFile: true, Usage: "rewrite the graph between the markers in this `FILE`"},
		},
		// A mistake on the command line exits 2, the usual usage-error code.
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return cli.Exit("depgraph: "+err.Error(), 2)
		},
		Action: func(_ context.Context, cmd *cli.Command) error { return run(cmd.String("w")) },
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "depgraph:", err)
		os.Exit(1)
	}
}

func run(write string) error {
	root, err := archtest.ModuleRoot(".")
	if err != nil {
		return err
	}
	g, err := archtest.Load(root)
	if err != nil {
		return err
	}
	block := archtest.DocBlock(g)
	if write == "" {
		fmt.Print(block)
		return nil
	}
	doc, err := os.ReadFile(write)
	if err != nil {
		return err
	}
	out, err := archtest.Splice(string(doc), block)
	if err != nil {
		return fmt.Errorf("%s: %w", write, err)
	}
	return os.WriteFile(write, []byte(out), 0o644)
}
