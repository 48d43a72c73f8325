//go:build grafttest

package main

import (
	"os"
	"strconv"

	"github.com/graftlib/graft/election"
)

// Test hooks, compiled only into the TEST build of the library (build tag
// grafttest: `make lib-test` writes build/test/libgraft.so, which is never
// installed). The released library (`make lib`, `make install`) is built
// from testhooks_release.go instead and ignores these variables: a
// production process that inherits one keeps its guarantees. They exist
// for the fault-injection system tests (tests/faults), which run real node
// processes and need faults that cannot be made from outside a Go process:
//
//	GRAFT_TEST_CLOCK_RATE=1.009
//	    the node's clock runs at this rate times CLOCK_MONOTONIC
//	    (election.SkewedClock over election.SystemClock, anchored inside
//	    graft_node_new). Models a host whose clock drifts; libfaketime
//	    cannot reach Go's clock. Within ±MaxClockDrift (default 0.01) the
//	    lease guarantee must hold. Lease deadlines returned by
//	    graft_node_lease are then in the node's skewed clock, as they would
//	    be on such a host. Ignored unless it parses as a number in (0.5, 2).
//	GRAFT_TEST_DISABLE_CHECK_QUORUM=1
//	    sets election.Config.DisableCheckQuorum: no check-quorum, no lease
//	    refusal of votes, an unbounded lease. It makes dual leaders
//	    possible; tests use it to show that their checker catches them.
//
// They are read at each graft_node_new. include/graft.h (ENVIRONMENT)
// lists them as test-build only.
const (
	envClockRate          = "GRAFT_TEST_CLOCK_RATE"
	envDisableCheckQuorum = "GRAFT_TEST_DISABLE_CHECK_QUORUM"
)

// testBuild is true in the test build of the library.
const testBuild = true

// applyTestHooks changes ec as the test-only environment variables above
// ask; with none set it does nothing.
func applyTestHooks(ec *election.Config) {
	if v := os.Getenv(envClockRate); v != "" {
		if rate, err := strconv.ParseFloat(v, 64); err == nil && rate > 0.5 && rate < 2 && rate != 1 {
			base := ec.Clock
			if base == nil {
				base = election.SystemClock()
			}
			ec.Clock = election.SkewedClock(base, rate, 0)
		}
	}
	if os.Getenv(envDisableCheckQuorum) == "1" {
		ec.DisableCheckQuorum = true
	}
}
