package main

import (
	"time"

	"github.com/graftlib/graft/internal/monotime"
)

// monotonicNS converts an instant of election.SystemClock to a
// CLOCK_MONOTONIC reading in nanoseconds (what graft_node_lease returns);
// see monotime.FromSystemClock for why it can come out early, never late.
func monotonicNS(d time.Duration) uint64 { return uint64(monotime.FromSystemClock(d)) }
