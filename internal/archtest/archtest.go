// Package archtest reads the module's package graph from `go list` so
// that the import rules (rules_test.go) and the graph in
// docs/architecture.md come from the code, not from memory.
//
// The graph is the union over the build configurations that select
// different files (with and without the ibverbs tag), of non-test imports
// only: test files may reach further (a test of persist builds the
// power-fail simulator), and test/... holds test programs.
package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// Module is the module path; package names in a Graph are relative to it.
const Module = "github.com/brick-storage/brick"

// TagSets are the build configurations the graph is the union of.
var TagSets = []string{"pebblegozstd", "pebblegozstd,ibverbs"}

// Package is one package of the module.
type Package struct {
	Path string // relative to Module ("brick", "verbs/soft")
	Dir  string
	// Imports are the direct non-test imports: module packages relative
	// to Module, everything else as written ("syscall", "C" for cgo).
	Imports []string
	// GoFiles are the non-test Go files (absolute), for rules about names.
	GoFiles []string
}

// Graph is the module's packages by relative path.
type Graph map[string]*Package

// Load lists the packages of the module rooted at dir.
func Load(dir string) (Graph, error) {
	g := Graph{}
	for _, tags := range TagSets {
		if err := g.add(dir, tags); err != nil {
			return nil, err
		}
	}
	return g, nil
}

type listed struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
	CgoFiles   []string
	Error      *struct{ Err string }
}

func (g Graph) add(dir, tags string) error {
	cmd := exec.Command(goTool(), "list", "-e", "-json=ImportPath,Dir,Imports,GoFiles,CgoFiles,Error", "-tags", tags, "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list -tags %s: %v: %s", tags, err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var l listed
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("go list output: %w", err)
		}
		if l.Error != nil {
			return fmt.Errorf("go list: %s: %s", l.ImportPath, l.Error.Err)
		}
		rel, ok := Rel(l.ImportPath)
		if !ok {
			continue
		}
		p := g[rel]
		if p == nil {
			p = &Package{Path: rel, Dir: l.Dir}
			g[rel] = p
		}
		for _, imp := range l.Imports {
			if r, ok := Rel(imp); ok {
				imp = r
			}
			p.Imports = appendNew(p.Imports, imp)
		}
		for _, f := range append(l.GoFiles, l.CgoFiles...) {
			p.GoFiles = appendNew(p.GoFiles, filepath.Join(l.Dir, f))
		}
	}
}

// Rel is path relative to the module, and whether it is in the module.
func Rel(path string) (string, bool) {
	if path == Module {
		return ".", true
	}
	return strings.CutPrefix(path, Module+"/")
}

func appendNew(list []string, s string) []string {
	if i, ok := slices.BinarySearch(list, s); !ok {
		list = slices.Insert(list, i, s)
	}
	return list
}

// Internal reports whether imp names a package of the module.
func (g Graph) Internal(imp string) bool { _, ok := g[imp]; return ok }

// Closure is every module package p reaches through non-test imports.
func (g Graph) Closure(p string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(q string) {
		pk := g[q]
		if pk == nil {
			return
		}
		for _, imp := range pk.Imports {
			if g.Internal(imp) && !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(p)
	out := make([]string, 0, len(seen))
	for q := range seen {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// Drawn reports whether a package appears in the drawn graph: test
// programs (test/...) and this package's own tool are left out.
func Drawn(p string) bool {
	return !Match("test/...", p) && !Match("internal/archtest/...", p)
}

// Match reports whether p matches pattern: an exact path, or "x/..." for
// x and everything under it.
func Match(pattern, p string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

// MatchAny reports whether p matches one of patterns.
func MatchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return Match(pat, p) })
}

// osImports are the imports that reach the kernel directly, drawn in the
// graph because the rules are about them.
var osImports = []string{"C", "golang.org/x/sys/unix", "syscall"}

// Mermaid draws g's module packages and their direct imports, plus the
// direct OS imports (cgo as "C"), as a mermaid flowchart, one edge a
// line, sorted so that the output is stable.
func Mermaid(g Graph) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	var names []string
	for p := range g {
		if Drawn(p) {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	id := func(p string) string { return strings.NewReplacer("/", "_", ".", "_").Replace(p) }
	for _, p := range names {
		var edges []string
		for _, imp := range g[p].Imports {
			if (g.Internal(imp) && Drawn(imp)) || slices.Contains(osImports, imp) {
				edges = append(edges, imp)
			}
		}
		if len(edges) == 0 {
			fmt.Fprintf(&b, "  %s[%s]\n", id(p), p)
		}
		for _, imp := range edges {
			fmt.Fprintf(&b, "  %s[%s] --> %s[%s]\n", id(p), p, id(imp), imp)
		}
	}
	return b.String()
}

// Doc markers: the graph in docs/architecture.md sits between them.
const (
	DocBegin = "<!-- depgraph: generated by `go run ./internal/archtest/depgraph -w docs/architecture.md`; do not edit -->"
	DocEnd   = "<!-- depgraph end -->"
)

// DocBlock is what stands between the markers.
func DocBlock(g Graph) string { return "```mermaid\n" + Mermaid(g) + "```\n" }

// Splice returns doc with the text between the markers replaced by
// block, or an error when the markers are missing.
func Splice(doc, block string) (string, error) {
	i := strings.Index(doc, DocBegin)
	j := strings.Index(doc, DocEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("the markers %q and %q are missing", DocBegin, DocEnd)
	}
	return doc[:i+len(DocBegin)] + "\n" + block + doc[j:], nil
}

// Embedded returns the text between the markers.
func Embedded(doc string) (string, error) {
	i := strings.Index(doc, DocBegin)
	j := strings.Index(doc, DocEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("the markers %q and %q are missing", DocBegin, DocEnd)
	}
	return strings.TrimPrefix(doc[i+len(DocBegin):j], "\n"), nil
}

// ModuleRoot is the directory of the go.mod governing dir.
func ModuleRoot(dir string) (string, error) {
	cmd := exec.Command(goTool(), "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == "/dev/null" {
		return "", fmt.Errorf("%s is not inside a module", dir)
	}
	return filepath.Dir(mod), nil
}

// goTool is the go command: the one on PATH, else the running toolchain's.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
