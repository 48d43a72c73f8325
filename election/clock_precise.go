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
// its deadline. A precise timer therefore starts as a Go timer preciseLead
// early, sleeps in the kernel (hrtimer-backed, its slack 50 µs) to
// spinWindow before the instant, and spins the rest: a few hundred µs of a
// thread per lease lost, and nothing while the lease is renewed in time
// (the timer is then stopped before it starts to sleep or while it does).

const (
	// preciseLead is how early the Go timer of a precise timer fires: more
	// than the runtime's lateness, so that the kernel sleep starts in time.
	preciseLead = 2 * time.Millisecond
	// spinWindow is the part of the wait spent spinning: more than the
	// kernel's timer slack, so that the sleep never overshoots the instant.
	spinWindow = 100 * time.Microsecond
)

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

// preciseAfter calls f once Now has reached now+d (never before), unless
// the returned stop runs first; stop reports whether it prevented the call.
func preciseAfter(now func() time.Duration, d time.Duration, f func()) func() bool {
	target := now() + d
	var state atomic.Uint32
	t := time.AfterFunc(d-preciseLead, func() {
		for {
			left := target - now()
			if left <= 0 {
				break
			}
			if state.Load() != precisePending {
				return // stopped while it slept: no need to wait on
			}
			if left > spinWindow {
				sleepInKernel(left - spinWindow)
			}
		}
		if state.CompareAndSwap(precisePending, preciseRan) {
			f()
		}
	})
	return func() bool {
		t.Stop()
		return state.CompareAndSwap(precisePending, preciseStopped)
	}
}

func (c systemClock) afterFuncPrecise(d time.Duration, f func()) func() bool {
	return preciseAfter(c.Now, d, f)
}

// A skewed clock is precise when its base is: the instant is converted
// the way AfterFunc converts it.
func (c *skewedClock) afterFuncPrecise(d time.Duration, f func()) func() bool {
	base := time.Duration(float64(d) / c.rate)
	return afterFunc(c.base, true, base, f)
}
