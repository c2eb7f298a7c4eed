//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ndjsonsink

import "os"

// lockDir opens the lock file. On this platform there is no advisory lock:
// the caller must not open one set from two sinks.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
