package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The house limits on size (issue 14): a production file that grows past
// maxFileLines holds more than one job, and a function past maxFuncLines
// wants a name for its parts (the hard limit is 80 lines, and it
// asks for a split from about 70). Test files are exempt: a table is long.
const (
	maxFileLines = 500
	maxFuncLines = 70
)

// sizeFinding is one file or function over its limit.
type sizeFinding struct {
	where string
	lines int
	limit int
}

// oversized parses every non-test Go file under root and reports the
// files and functions over the limits.
func oversized(root string) ([]sizeFinding, error) {
	var found []sizeFinding
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if n := fset.File(f.Pos()).LineCount(); n > maxFileLines {
			found = append(found, sizeFinding{rel, n, maxFileLines})
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n > maxFuncLines {
				found = append(found, sizeFinding{rel + ": " + fd.Name.Name, n, maxFuncLines})
			}
		}
		return nil
	})
	return found, err
}

func TestSizeLimits(t *testing.T) {
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	found, err := oversized(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s is %d lines, over the limit of %d: split it where a name helps", f.where, f.lines, f.limit)
	}
}

// TestSizeLimitsCatch: the walk sees an oversized file and function.
func TestSizeLimitsCatch(t *testing.T) {
	dir := t.TempDir()
	body := "package p\n\nfunc long() {\n" + strings.Repeat("\t_ = 0\n", maxFileLines) + "}\n"
	for _, name := range []string{"p.go", "p_test.go"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	found, err := oversized(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].where != "p.go" || found[1].where != "p.go: long" {
		t.Fatalf("oversized found %+v, want p.go and its function long (and not the test file)", found)
	}
}
