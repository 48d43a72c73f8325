package election

import "time"

// Clock is the node's monotonic clock. Durations since an arbitrary epoch
// fixed at the clock's creation; it never goes back. The lease is computed
// from it, so a clock that runs faster or slower than real time by more
// than Config.MaxClockDrift breaks the lease guarantee.
type Clock interface {
	// Now returns the time since the clock's epoch.
	Now() time.Duration
	// AfterFunc calls f once, on its own goroutine, when Now has advanced
	// by d; the returned function cancels the call if it has not run.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock returns the process's monotonic clock (the one Go's time
// package reads; CLOCK_MONOTONIC on Linux).
func SystemClock() Clock { return systemClock{} }

// processStart anchors SystemClock: every node of the process shares it,
// so their Now values compare.
var processStart = time.Now()

type systemClock struct{}

func (systemClock) Now() time.Duration { return time.Since(processStart) }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// MonotonicAt converts a SystemClock reading to the time.Time it stands for
// (used to express a lease deadline in another clock's terms).
func MonotonicAt(d time.Duration) time.Time { return processStart.Add(d) }

// SkewedClock returns a clock that runs at rate times the speed of base,
// starting at base's current reading plus offset. TEST ONLY: the fault
// injection tests use it to model drift in a real process, where
// libfaketime cannot reach Go's clock.
func SkewedClock(base Clock, rate float64, offset time.Duration) Clock {
	return &skewedClock{base: base, start: base.Now(), rate: rate, offset: offset}
}

type skewedClock struct {
	base   Clock
	start  time.Duration
	rate   float64
	offset time.Duration
}

func (c *skewedClock) Now() time.Duration {
	return c.start + c.offset + time.Duration(float64(c.base.Now()-c.start)*c.rate)
}

func (c *skewedClock) AfterFunc(d time.Duration, f func()) func() bool {
	return c.base.AfterFunc(c.onBase(d), f)
}

// onBase is how long the base clock takes while this one advances by d.
func (c *skewedClock) onBase(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.rate)
}
