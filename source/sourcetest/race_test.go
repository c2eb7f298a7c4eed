//go:build race

package sourcetest_test

const raceEnabled = true
