//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package filesource

import "os"

// lockFile opens the lock file. This platform has no advisory lock: one
// checkpoint must not be opened by two Sources.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, &FileError{Path: path, Op: "lock", Err: err}
	}
	return f, nil
}
