package archtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kind is what a rule constrains.
type kind int

const (
	// onlyImportedBy: only the listed packages import the rule's subject
	// directly.
	onlyImportedBy kind = iota
	// mayImportOnly: the subject's direct imports of module packages are
	// all listed.
	mayImportOnly
	// neverReaches: no listed module package is in the subject's
	// transitive imports.
	neverReaches
	// neverNames: the subject's non-test files do not contain the listed
	// identifiers (for a concept that is not yet a package of its own).
	neverNames
)

// rule is one row of the table. Patterns are module-relative paths,
// "x/..." for x and everything under it; "C" is cgo.
type rule struct {
	subject string
	kind    kind
	list    []string
	// exceptions are allowed until the TODO is done; the test fails when
	// one is no longer needed, so the table cannot keep a stale one.
	exceptions []string
	why        string
}

// os is where the kernel may be called: one documented boundary each.
var osCallers = []string{"pmem/...", "persist/...", "verbs/...", "internal/oscall"}

// rules are the import rules (docs/architecture.md, "Import rules").
// Test files and test programs (test/...) are exempt: they build the
// machinery production never names.
var rules = []rule{
	// The kernel boundary: x/sys/unix, syscall and cgo only in pmem,
	// persist, verbs, and internal/oscall for the few calls others need.
	{"syscall", onlyImportedBy, osCallers, nil, "system calls stay behind pmem, persist, verbs or internal/oscall"},
	{"golang.org/x/sys/unix", onlyImportedBy, osCallers, nil, "system calls stay behind pmem, persist, verbs or internal/oscall"},
	{"C", onlyImportedBy, []string{"pmem/...", "persist/...", "verbs/..."}, nil, "cgo only where hardware needs it"},

	// cmd → brick → …: the server is built on, never building on a command.
	{"brick", onlyImportedBy, []string{"cmd/brickd", "internal/bricktest"}, nil,
		"only brickd runs the server (and internal/bricktest, for tests); brickctl talks to it through client"},
	{"brick", neverReaches, []string{"tier", "client", "cmd/..."}, nil,
		"brick declares its own Tier interface, which brickd fills with package tier"},

	// The client: the wire and the verbs layer, nothing of the server.
	{"client", mayImportOnly, []string{"verbs", "verbs/providers", "protocol", "internal/..."}, nil,
		"a client library links no server code"},

	// Policy decides from facts: no provider, no simulator.
	{"persist", neverReaches, []string{"verbs/soft", "verbs/ibverbs", "verbs/providers", "brick"}, nil,
		"persist decides from the facts brick gives it (verbs.QP.Device, pmem.Properties), not provider types"},
	{"persist", neverNames, []string{"PowerFail", "soft.QP"}, nil,
		"the power-fail simulator is test machinery: persist reads pmem.Properties.DDIO instead"},

	// Test machinery: production code never names it.
	{"internal/bricktest", onlyImportedBy, nil, nil, "an in-process brick is for tests only"},
	{"internal/leaktest", onlyImportedBy, []string{"verbs/verbstest"}, nil, "the leak check is for tests only (and the verbs conformance suite)"},
	{"internal/testlog", onlyImportedBy, nil, nil, "a log sink for tests only"},
	{"internal/blockstamp", onlyImportedBy, nil, nil, "block contents for tests only"},
	{"pmem/powerfail", onlyImportedBy, nil, nil, "the power-fail simulator is for tests only, like pebble's errorfs"},
	{"verbs/verbstest", onlyImportedBy, nil, nil, "the verbs conformance suite is for tests only"},
	{"internal/testfs", onlyImportedBy, nil, nil, "fault-injecting file systems are for tests only"},
	{"internal/brickdproc", onlyImportedBy, nil, nil, "running brickd as a child process is for tests only"},

	// Providers are chosen by scheme through the registry.
	{"verbs/soft", onlyImportedBy, []string{"verbs/providers", "cmd/..."}, nil, "code names the verbs interface; the registry picks the provider"},
	{"verbs/ibverbs", onlyImportedBy, []string{"verbs/providers", "cmd/..."}, nil, "code names the verbs interface; the registry picks the provider"},
	{"verbs", mayImportOnly, nil, nil, "the verbs interface depends on nothing of brick"},

	// brickctl: client for the wire, one read-only store API offline.
	{"cmd/brickctl", mayImportOnly, []string{"client", "protocol", "internal/...", "alloc2m"}, nil,
		"brickctl talks to a brick through client; alloc2m only for the offline list --meta"},

	// Foundations.
	{"protocol", mayImportOnly, []string{"internal/..."}, nil, "the wire format depends on no layer above it"},
	{"pmem", mayImportOnly, []string{"internal/...", "protocol"}, nil, "memory depends on no layer above it; protocol's enums (the persistence domain) are shared vocabulary"},
	{"tier", mayImportOnly, []string{"internal/...", "protocol"}, nil, "the slow tier borrows nothing of pmem or brick"},
	{"alloc2m", mayImportOnly, []string{"internal/...", "protocol"}, nil, "the metadata store knows no memory, verbs or server"},
	{"persist", mayImportOnly, []string{"pmem", "protocol", "verbs", "internal/..."}, nil, "policy reads memory facts and the verbs interface"},
}

// exempt packages are test programs and this package's tool.
func exempt(p string) bool { return !Drawn(p) }

func loadGraph(t *testing.T) (Graph, string) {
	t.Helper()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return g, root
}

// TestImportRules checks every row of the table against `go list`.
func TestImportRules(t *testing.T) {
	g, _ := loadGraph(t)
	for _, r := range rules {
		used := map[string]bool{}
		allowed := func(imp string) bool {
			if MatchAny(r.exceptions, imp) {
				used[imp] = true
				return true
			}
			return false
		}
		switch r.kind {
		case onlyImportedBy:
			for p, pk := range g {
				if exempt(p) || !slices.ContainsFunc(pk.Imports, func(imp string) bool { return Match(r.subject, imp) }) {
					continue
				}
				if !MatchAny(r.list, p) && !allowed(p) {
					t.Errorf("%s imports %s, which only %v may (%s)", p, r.subject, r.list, r.why)
				}
			}
		case mayImportOnly:
			for p, pk := range g {
				if !Match(r.subject, p) {
					continue
				}
				for _, imp := range pk.Imports {
					if g.Internal(imp) && !MatchAny(r.list, imp) && !allowed(imp) {
						t.Errorf("%s imports %s; it may import only %v of the module (%s)", p, imp, r.list, r.why)
					}
				}
			}
		case neverReaches:
			for p := range g {
				if !Match(r.subject, p) {
					continue
				}
				for _, q := range g.Closure(p) {
					if MatchAny(r.list, q) && !allowed(q) {
						t.Errorf("%s reaches %s through its imports (%s)", p, q, r.why)
					}
				}
			}
		case neverNames:
			for p, pk := range g {
				if !Match(r.subject, p) {
					continue
				}
				for _, f := range pk.GoFiles {
					src, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					for _, name := range r.list {
						if strings.Contains(string(src), name) {
							t.Errorf("%s names %s (%s)", filepath.Base(f), name, r.why)
						}
					}
				}
			}
		}
		for _, e := range r.exceptions {
			if !used[e] {
				t.Errorf("the exception %s in the rule for %s is no longer needed: delete it from the table", e, r.subject)
			}
		}
	}
}

// TestRulesCatch: each kind of rule fails on a graph that breaks it, so a
// passing TestImportRules means something.
func TestRulesCatch(t *testing.T) {
	g := Graph{
		"persist":    {Path: "persist", Imports: []string{"verbs"}},
		"verbs":      {Path: "verbs"},
		"verbs/soft": {Path: "verbs/soft", Imports: []string{"verbs", "syscall"}},
		"brick":      {Path: "brick", Imports: []string{"persist", "verbs/soft"}},
	}
	g["verbs"].Imports = []string{"verbs/soft"} // persist → verbs → verbs/soft
	if cl := g.Closure("persist"); !slices.Contains(cl, "verbs/soft") {
		t.Errorf("Closure(persist) = %v, want it to reach verbs/soft", cl)
	}
	if !Match("verbs/...", "verbs/soft") || Match("verbs/...", "verbsx") || !Match("brick", "brick") || Match("brick", "brick/x") {
		t.Error("Match gets subpackage patterns wrong")
	}
	if !slices.Contains(g["brick"].Imports, "verbs/soft") || MatchAny([]string{"verbs/providers", "cmd/..."}, "brick") {
		t.Error("brick importing verbs/soft would pass the provider rule")
	}
}

// TestDocGraphCurrent: the graph in docs/architecture.md is what
// `go list` says today.
func TestDocGraphCurrent(t *testing.T) {
	g, root := loadGraph(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Embedded(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := DocBlock(g); got != want {
		t.Errorf("docs/architecture.md's package graph is out of date; run\n\tgo run ./internal/archtest/depgraph -w docs/architecture.md\nwant:\n%s", want)
	}
}
