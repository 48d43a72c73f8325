package election

import (
	"syscall"
	"time"
)

// sleepInKernel blocks the calling thread in nanosleep(2) for about d:
// a kernel hrtimer, not the Go runtime's millisecond poller (see
// clock_precise.go). An interrupted sleep returns early; the caller checks
// the clock and sleeps again.
func sleepInKernel(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
