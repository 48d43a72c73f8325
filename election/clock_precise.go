package election

import (
	"sync/atomic"
	"time"
)

// The lease's end is the one instant whose notice must not be late: "lost"
// is due at the deadline itself (a program acting on the lease trusts the
// notice), while every other timer of the node (heartbeats, elections) may
// fire a little late at no cost. A Go timer fires up to a millisecond late
// when the process is idle: the runtime's poller sleeps in whole
// milliseconds (netpoll_epoll.go rounds its delay down, and anything under
// 1 ms up to 1 ms), which made the loss reach the program 0.5-0.9 ms after
// its deadline. A precise timer therefore waits on a timer of the kernel
// registered in that poller (clock_sleep_linux.go), which wakes it when it
// expires rather than at the poller's next millisecond, and spins the last
// spinWindow. The wait holds no thread and no Go processor: the first
// version slept its last 2 ms in nanosleep(2), which held a processor (the
// whole process with GOMAXPROCS=1, the default on one CPU) and a thread
// per wait in progress.

// preciseClock is a Clock that can also call f at an instant without the
// Go timer's lateness. Clocks of tests and simulators need not be one: for
// them afterFunc falls back to Clock.AfterFunc.
type preciseClock interface {
	afterFuncPrecise(d time.Duration, f func()) (stop func() bool)
}

// afterFunc arms the node loop's timer: precise when it stands for the
// lease's end and the clock can be precise.
func afterFunc(c Clock, precise bool, d time.Duration, f func()) (stop func() bool) {
	if p, ok := c.(preciseClock); ok && precise {
		return p.afterFuncPrecise(d, f)
	}
	return c.AfterFunc(d, f)
}

// The states of a precise timer: stop and the timer race for pending.
const (
	precisePending uint32 = iota
	preciseStopped
	preciseRan
)

// spinWindow is how long before its instant a precise timer wakes, to spin
// the rest: the poller runs the woken goroutine 70 µs after its kernel
// timer at p50, 110 at p90 and 250-310 at p99 on this kind of machine (a
// VM whose idle CPU must be woken; load 0.7), while a running goroutine
// reads the clock every few tens of ns. The spin holds a Go processor for
// at most this long (about 230 µs at p50), and only at a lease's end:
// go test -run '^$' -bench TimerLateness/precise ./election/ at load 0.7,
// 3-4 µs late at p50 and 89-219 at p99 (nanosleep's version: 1-5 and
// 64-139; with a window of 200 µs, 190-377 at p99).
const spinWindow = 300 * time.Microsecond

// preciseAfter calls f once Now has reached now+d (never before), unless
// the returned stop runs first; stop reports whether it prevented the call.
// A stopped timer's goroutine ends at once (stop closes its kernel timer)
// or within its spin.
func preciseAfter(now func() time.Duration, d time.Duration, f func()) func() bool {
	target := now() + d
	var state atomic.Uint32
	call := func() {
		for now() < target {
			if state.Load() != precisePending {
				return // stopped while it spun
			}
		}
		if state.CompareAndSwap(precisePending, preciseRan) {
			f()
		}
	}
	if d <= spinWindow {
		go call()
		return func() bool { return state.CompareAndSwap(precisePending, preciseStopped) }
	}
	wait, cancel, err := kernelTimer(d - spinWindow)
	if err != nil { // out of descriptors, or not Linux: a Go timer, late
		t := time.AfterFunc(d-spinWindow, call)
		return func() bool {
			t.Stop()
			return state.CompareAndSwap(precisePending, preciseStopped)
		}
	}
	go func() {
		wait()
		call()
	}()
	return func() bool {
		if !state.CompareAndSwap(precisePending, preciseStopped) {
			return false
		}
		cancel()
		return true
	}
}

func (c systemClock) afterFuncPrecise(d time.Duration, f func()) func() bool {
	return preciseAfter(c.Now, d, f)
}

// A skewed clock is precise when its base is.
func (c *skewedClock) afterFuncPrecise(d time.Duration, f func()) func() bool {
	return afterFunc(c.base, true, c.onBase(d), f)
}
