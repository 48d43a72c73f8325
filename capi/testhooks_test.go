package main

import (
	"testing"
	"time"

	"github.com/graftlib/graft/election"
)

// TestTestHooks_OnlyInTestBuild sets both test variables and checks that
// the released library ignores them and the test build (go test -tags
// grafttest, as `make test-c` also runs) honours them. Process-level
// checks of the same: `make test-faults-release` (tests/faults).
func TestTestHooks_OnlyInTestBuild(t *testing.T) {
	t.Setenv("GRAFT_TEST_DISABLE_CHECK_QUORUM", "1")
	t.Setenv("GRAFT_TEST_CLOCK_RATE", "1.5")
	ec := election.DefaultConfig()
	ec.Clock = election.SystemClock()
	base := ec.Clock
	applyTestHooks(&ec)
	if !testBuild {
		if ec.DisableCheckQuorum || ec.Clock != base {
			t.Fatalf("released library: the GRAFT_TEST_* variables changed the config (DisableCheckQuorum=%v, clock replaced=%v)",
				ec.DisableCheckQuorum, ec.Clock != base)
		}
		t.Log("released library: GRAFT_TEST_DISABLE_CHECK_QUORUM=1 and GRAFT_TEST_CLOCK_RATE=1.5 ignored")
		return
	}
	if !ec.DisableCheckQuorum {
		t.Fatal("test build: GRAFT_TEST_DISABLE_CHECK_QUORUM=1 did not disable check-quorum")
	}
	// The skewed clock gains half of the real time that passes.
	b0, s0 := base.Now(), ec.Clock.Now()
	time.Sleep(20 * time.Millisecond)
	db, ds := base.Now()-b0, ec.Clock.Now()-s0
	if r := float64(ds) / float64(db); r < 1.4 || r > 1.6 {
		t.Fatalf("test build: clock rate %.3f, want 1.5", r)
	}
	t.Log("test build: both GRAFT_TEST_* variables honoured")
}
