//go:build !race

package dashboard

// raceDetector is whether the tests run with -race.
const raceDetector = false
