// Package monotime reads CLOCK_MONOTONIC, the clock in which graft gives
// instants to the outside (graft_node_lease's deadline, GRAFT_LEASE_DEADLINE_NS,
// the lines the test and benchmark programs print), and converts readings of
// election.SystemClock to it. It is the one reader of that clock in graft's
// Go code.
package monotime

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/graftlib/graft/election"
)

// Now returns CLOCK_MONOTONIC in nanoseconds.
func Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("monotime: clock_gettime(CLOCK_MONOTONIC): " + err.Error()) // only on a kernel without it
	}
	return ts.Nano()
}

// Millis returns CLOCK_MONOTONIC in milliseconds, with sub-millisecond
// digits: the unit of the lines test and benchmark programs print.
func Millis() float64 { return float64(Now()) / 1e6 }

// offset is CLOCK_MONOTONIC minus election.SystemClock, in nanoseconds,
// measured once. Both count the same clock (Go's runtime reads
// CLOCK_MONOTONIC on Linux), so the offset is constant. Each sample reads
// CLOCK_MONOTONIC first, then Go's clock: every sample can only come out too
// small, so the largest of several is kept, and a converted lease deadline
// can only come out early, never late.
var offset = sync.OnceValue(func() int64 {
	clock := election.SystemClock()
	best := int64(0)
	for i := range 16 {
		c := Now()
		g := int64(clock.Now())
		if d := c - g; i == 0 || d > best {
			best = d
		}
	}
	return best
})

// FromSystemClock converts an instant of election.SystemClock (a lease
// deadline, say) to a CLOCK_MONOTONIC reading in nanoseconds.
func FromSystemClock(d time.Duration) int64 { return int64(d) + offset() }
