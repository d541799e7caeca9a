//go:build !race

package brick_test

// raceDetector: see race_test.go.
const raceDetector = false
