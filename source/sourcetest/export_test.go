package sourcetest

import "time"

// SetTimeouts shortens the suite's deadlines for runs against drivers that
// are known to fail, and returns a function restoring them.
func SetTimeouts(test, g time.Duration) (restore func()) {
	t0, g0 := testTimeout, grace
	testTimeout, grace = test, g
	return func() { testTimeout, grace = t0, g0 }
}
