package election

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// kernelTimer returns a timer of the kernel (a timerfd on CLOCK_MONOTONIC,
// the clock Go's monotonic time reads) that expires d from now: wait
// blocks until it expires or cancel was called, and frees it. The wait
// parks the goroutine in Go's network poller, which the kernel wakes at the
// instant (an hrtimer without slack); a thread asleep in nanosleep(2)
// instead held its Go processor, which with GOMAXPROCS=1 stalled every
// other goroutine of the process, and one thread per wait in progress.
func kernelTimer(d time.Duration) (wait func(), cancel func(), err error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, nil, err
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, 1)))} // 0 would disarm it
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), "graft-lease-timer") // non-blocking: in the poller
	wait = func() {
		var buf [8]byte
		_, _ = f.Read(buf[:]) // the expiry count, or an error once cancelled
		f.Close()
	}
	cancel = func() { f.Close() } // wakes wait: a Read of a closed file returns
	return wait, cancel, nil
}
