// Command depgraph prints the module's package graph (non-test imports,
// from `go list`) as a mermaid flowchart; with -w FILE it rewrites the
// graph between the depgraph markers in FILE (docs/architecture.md).
// internal/archtest's test fails when the document is out of date.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/brick-storage/brick/internal/archtest"
)

func main() {
	write := flag.String("w", "", "rewrite the graph between the markers in this file")
	flag.Parse()
	if err := run(*write); err != nil {
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
