//go:build race

package cli

// raceDetector: the commands the stories start are this test binary, built with the race
// detector, which takes several times the memory.
const raceDetector = true
