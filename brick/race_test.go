//go:build race

package brick_test

// raceDetector: the race detector's own memory (shadow, traces, sync
// objects) grows with what it has seen, so resident memory says nothing
// about the code under test (footprint_test.go).
const raceDetector = true
