//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package election

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive flock(2) on f without waiting and reports
// whether another open file description holds it. flock, unlike fcntl
// locks, conflicts between two descriptors of one process too, so two
// nodes in one process are told apart.
func tryLock(f *os.File) (held bool, err error) {
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}
