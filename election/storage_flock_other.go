//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package election

import "os"

// tryLock does not lock where flock(2) is missing: there, FileStorage.Open
// does not stop a second node on the same file (graft's C library is
// built for Linux only).
func tryLock(*os.File) (held bool, err error) { return false, nil }
