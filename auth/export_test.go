package auth

import "time"

// SetClock replaces the package clock for a test and returns a function that
// restores it.
func SetClock(now func() time.Time) (restore func()) {
	old := timeNow
	timeNow = now
	return func() { timeNow = old }
}
