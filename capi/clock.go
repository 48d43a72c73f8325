package main

/*
#include <time.h>
#include <stdint.h>

static inline uint64_t graft__monotonic_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
*/
import "C"

import (
	"sync"
	"time"

	"github.com/graftlib/graft/election"
)

// monotonicOffset is CLOCK_MONOTONIC minus election.SystemClock, in
// nanoseconds, measured once. Both count the same clock (Go's runtime reads
// CLOCK_MONOTONIC on Linux), so the offset is constant. Each sample reads C
// first, then Go: the offset can only come out too small, which makes a
// converted lease deadline early, never late. The smallest gap of several
// samples is kept.
var monotonicOffset = sync.OnceValue(func() int64 {
	clock := election.SystemClock()
	best := int64(0)
	for i := 0; i < 16; i++ {
		c := int64(C.graft__monotonic_ns())
		g := int64(clock.Now())
		if d := c - g; i == 0 || d > best {
			best = d
		}
	}
	return best
})

// monotonicNS converts an instant of election.SystemClock to a
// CLOCK_MONOTONIC reading in nanoseconds (what graft_node_lease returns).
func monotonicNS(d time.Duration) uint64 { return uint64(int64(d) + monotonicOffset()) }
