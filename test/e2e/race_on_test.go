//go:build race

package e2e

// raceFlag builds the binaries under test with the race detector when the
// tests themselves run with it.
const raceFlag = "-race"
