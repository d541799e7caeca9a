package main

import "github.com/brick-storage/brick/internal/buildinfo"

// A binary built without `make build` (no -X main.version) reports what
// the Go toolchain recorded instead of "dev".
func init() { version = buildinfo.Version(version) }
