// Package buildinfo says which build a binary is: the version `make build`
// stamps with -ldflags -X, or else what the Go toolchain recorded
// (debug.ReadBuildInfo: the module version of a `go install`, or the VCS
// revision of a build in a git checkout).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// revision is the commit, stamped by the Makefile (-X …/buildinfo.revision=)
// where the toolchain's VCS stamping may be off (GOFLAGS=-buildvcs=false).
var revision string

// Unstamped is the version a binary built without -X main.version has.
const Unstamped = "dev"

// Version returns stamped unless it is empty or Unstamped; then the module
// version from the build info, or the VCS revision (12 digits, "-dirty"
// when the tree had local changes), or Unstamped.
func Version(stamped string) string {
	if stamped != "" && stamped != Unstamped {
		return stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Unstamped
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := vcs(bi)
	if rev == "" {
		return Unstamped
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Revision is the full VCS revision the binary was built from, "" when
// unknown.
func Revision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, _ := vcs(bi)
		return rev
	}
	return ""
}

// GoVersion is the toolchain that built the binary.
func GoVersion() string { return runtime.Version() }

func vcs(bi *debug.BuildInfo) (rev string, dirty bool) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	return rev, dirty
}
