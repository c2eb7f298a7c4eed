//go:build !race

package x12

// raceEnabled reports whether the tests run with the race detector (slower):
// the memory test then decodes smaller files.
const raceEnabled = false
