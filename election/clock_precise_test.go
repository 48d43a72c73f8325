package election

import (
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A precise timer never calls before its instant, whichever of its phases
// (Go timer, kernel sleep, spin) the wait starts in.
func TestPreciseTimer_NeverEarly(t *testing.T) {
	c := SystemClock().(systemClock)
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 500 * time.Microsecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		target := c.Now() + d
		at := make(chan time.Duration, 1)
		c.afterFuncPrecise(d, func() { at <- c.Now() })
		select {
		case got := <-at:
			assert.GreaterOrEqual(t, got, target, "d=%v", d)
		case <-time.After(10 * time.Second):
			t.Fatalf("d=%v: never called", d)
		}
	}
}

// stop prevents the call at once and while the timer waits for its
// instant; once called, stop says so.
func TestPreciseTimer_Stop(t *testing.T) {
	c := SystemClock().(systemClock)
	var calls atomic.Int32
	f := func() { calls.Add(1) }

	early := c.afterFuncPrecise(time.Hour, f)
	assert.True(t, early(), "stopped at once")

	d := 22 * time.Millisecond
	target := c.Now() + d
	late := c.afterFuncPrecise(d, f)
	require.Eventually(t, func() bool { return c.Now() >= target-10*time.Millisecond }, 10*time.Second, time.Millisecond)
	assert.True(t, late(), "stopped while it waits for its instant")
	require.Never(t, func() bool { return calls.Load() != 0 }, 60*time.Millisecond, 5*time.Millisecond)

	done := make(chan struct{})
	ran := c.afterFuncPrecise(time.Millisecond, func() { close(done) })
	<-done
	assert.False(t, ran(), "stop after the call")
	assert.Zero(t, calls.Load())
}

// Clocks that cannot be precise (simulators, tests) get their own
// AfterFunc; a skewed system clock stays precise.
func TestPreciseTimer_Fallback(t *testing.T) {
	sim := &countingClock{Clock: SystemClock()}
	afterFunc(sim, true, time.Hour, func() {})()
	assert.Equal(t, 1, sim.afterFuncs)
	_, ok := SkewedClock(SystemClock(), 1.01, 0).(preciseClock)
	assert.True(t, ok)
}

type countingClock struct {
	Clock
	afterFuncs int
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.afterFuncs++
	return c.Clock.AfterFunc(d, f)
}

// BenchmarkTimerLateness prints how late the node loop's timer calls, the
// median of 50 waits of 7.3 ms in an otherwise idle process: a Go timer
// (every deadline but the lease's end) against the precise timer (the
// lease's end). go test -run '^$' -bench TimerLateness ./election/
func BenchmarkTimerLateness(b *testing.B) {
	c := SystemClock().(systemClock)
	for _, way := range []struct {
		name string
		arm  func(time.Duration, func()) func() bool
	}{{"go-timer", c.AfterFunc}, {"precise", c.afterFuncPrecise}} {
		b.Run(way.name, func(b *testing.B) {
			var late []time.Duration
			for b.Loop() {
				for range 50 {
					const d = 7300 * time.Microsecond
					target := c.Now() + d
					at := make(chan time.Duration, 1)
					way.arm(d, func() { at <- c.Now() })
					late = append(late, <-at-target)
				}
			}
			slices.Sort(late)
			b.ReportMetric(float64(late[len(late)/2].Microseconds()), "us-late-p50")
			b.ReportMetric(float64(late[len(late)*99/100].Microseconds()), "us-late-p99")
		})
	}
}

// A precise timer waits without holding a Go processor: with GOMAXPROCS=1
// (Go's default on a one-CPU machine or in a container limited to one CPU,
// where graft run and Go programs get it; a C host may set it) the first
// version's wait, 2 ms in nanosleep(2), held the only processor until the
// runtime's monitor took it back (20 µs to 10 ms later, the whole wait when
// it had backed off): every other goroutine of the process stalled, the
// transport, the callbacks and the loop, so a renewal that arrived in the
// lease's last 2 ms could be handled after its end (a spurious "lost" and a
// new "acquired"). The timer is 1.9 ms away: the goroutine that armed it
// must run again before it calls, and while it waits no goroutine may sit
// in a system call (the state that keeps a processor). Fails at 6d39c95 in
// 10 of 10 runs under -race.
func TestPreciseTimer_WaitLeavesTheProcessorFree(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c := SystemClock().(systemClock)
	inSyscall := []metrics.Sample{{Name: "/sched/goroutines/not-in-go:goroutines"}}
	readSyscalls := func() uint64 {
		metrics.Read(inSyscall)
		if inSyscall[0].Value.Kind() != metrics.KindUint64 {
			t.Skip("no /sched/goroutines/not-in-go metric")
		}
		return inSyscall[0].Value.Uint64()
	}
	for round := range 20 {
		base := readSyscalls()
		fired := make(chan struct{})
		c.afterFuncPrecise(1900*time.Microsecond, func() { close(fired) })
		samples, blocked := 0, 0
	wait:
		for {
			runtime.Gosched() // lets the timer's goroutine start its wait
			select {
			case <-fired:
				break wait
			default:
			}
			samples++
			if readSyscalls() > base {
				blocked++
			}
		}
		require.Positive(t, samples, "round %d: the goroutine that armed the timer ran again only after it called: its wait held the only processor", round)
		require.LessOrEqual(t, blocked, samples/2, "round %d: a goroutine sat in a system call in %d of %d samples while the timer waited", round, blocked, samples)
	}
}

// A precise timer re-armed many times within its last 2 ms (a lease renewed
// by every acknowledgement close to its end) leaves no thread behind: the
// first version's stopped timers slept on in nanosleep(2), one thread each,
// and the Go runtime keeps every thread it made (5 threads grew to 46
// after 5,000 re-arms 20 µs apart).
func TestPreciseTimer_ReArmedHoldsNoThreads(t *testing.T) {
	before, ok := threadCount()
	if !ok {
		t.Skip("no /proc/self/status")
	}
	c := SystemClock().(systemClock)
	deadline := c.Now() + 1900*time.Microsecond
	stop := func() bool { return false }
	for i := range 5000 {
		stop()
		if i%50 == 0 { // a new lease end, 1.9 ms away
			deadline = c.Now() + 1900*time.Microsecond
		}
		deadline += 200 * time.Nanosecond // renewed by a few hundred ns
		stop = c.afterFuncPrecise(max(deadline-c.Now(), 0), func() {})
		for t0 := c.Now(); c.Now()-t0 < 20*time.Microsecond; {
			runtime.Gosched()
		}
	}
	stop()
	after, _ := threadCount()
	assert.LessOrEqual(t, after, before+8, "threads before %d, after %d", before, after)
}

// threadCount reads the process's number of threads from /proc/self/status.
func threadCount() (int, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}
