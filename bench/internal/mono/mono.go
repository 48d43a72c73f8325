// Package mono reads the host's CLOCK_MONOTONIC, the clock every node
// program of the benchmark stamps its output lines with, so that a time
// taken in the harness (the instant of a kill) and a time printed by a node
// (the instant it became leader) can be subtracted.
package mono

import "golang.org/x/sys/unix"

// Ms returns CLOCK_MONOTONIC in milliseconds, with sub-millisecond digits.
func Ms() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("mono: clock_gettime: " + err.Error())
	}
	return float64(ts.Sec)*1e3 + float64(ts.Nsec)/1e6
}
