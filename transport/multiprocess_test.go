package transport

import (
	"testing"
	"time"

	"github.com/graftlib/graft/internal/monotime"
	"github.com/stretchr/testify/require"
)

// Timings of the multi-process test. The nodes run without the race
// detector, so a 25ms heartbeat leaves plenty of margin.
const (
	procHeartbeat   = 25 * time.Millisecond
	procElectionMin = 150 * time.Millisecond
	procElectionMax = 250 * time.Millisecond
	// procFailoverBound is the longest failover accepted after a SIGKILL:
	// the followers wait out the lease (ElectionMin) and an election
	// timeout (at most ElectionMax), then pre-vote, vote and get the first
	// heartbeat acknowledged, a few round trips.
	procFailoverBound = 3 * procElectionMax
)

// TestMultiProcess_LeaderKilledFailover runs three nodes as OS processes,
// kills the leader with SIGKILL, checks that a new leader takes over within
// procFailoverBound, restarts the killed node from its state file and
// checks that it rejoins as a follower without unseating the new leader:
// no term change and no leader change anywhere.
func TestMultiProcess_LeaderKilledFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs node processes")
	}
	c := startProcCluster(t, []string{"n1", "n2", "n3"}, procHeartbeat, procElectionMin, procElectionMax, nil)
	old, oldTerm := c.leader(30 * time.Second)
	t.Logf("%s leads term %d", old, oldTerm)

	killedAt := monotime.Millis()
	c.procs[old].kill()
	// The first lead=1 line of another node after the kill.
	var next string
	var failover float64
	require.Eventually(t, func() bool {
		for id, p := range c.procs {
			if id == old {
				continue
			}
			for _, ev := range p.snapshot("EVENT") {
				if ev.f["lead"] == "1" && ev.ms() > killedAt {
					next, failover = id, ev.ms()-killedAt
					return true
				}
			}
		}
		return false
	}, 30*time.Second, time.Millisecond, "no new leader after SIGKILL of %s: %s", old, c)
	failoverDur := time.Duration(failover * float64(time.Millisecond))
	require.Less(t, failoverDur, procFailoverBound, "failover from %s to %s", old, next)
	leader, term := c.leader(10*time.Second, old)
	require.Equal(t, next, leader)
	require.Greater(t, term, oldTerm)
	t.Logf("SIGKILL of %s (term %d): %s leads term %d after %s (bound %s; ElectionMin %s, ElectionMax %s)",
		old, oldTerm, leader, term, failoverDur.Round(time.Millisecond), procFailoverBound, procElectionMin, procElectionMax)

	// Restart the killed node from its state file. From now on the others
	// must print nothing: every EVENT line is a change of state, term,
	// leader or lease.
	seen := map[string]int{}
	for id, p := range c.procs {
		if id != old {
			seen[id] = len(p.snapshot("EVENT"))
		}
	}
	restarted := c.start(old)
	var rejoined float64
	require.Eventually(t, func() bool {
		ev, ok := restarted.last()
		rejoined = ev.ms()
		return ok && ev.f["state"] == "follower" && ev.f["leader"] == leader && ev.uint("term") == term
	}, 15*time.Second, 2*time.Millisecond, "%s did not rejoin as a follower of %s at term %d: %s", old, leader, term, c)
	// Give it several election timeouts to misbehave.
	quiet := time.Now().Add(4 * procElectionMax)
	for time.Now().Before(quiet) {
		time.Sleep(procHeartbeat) // pacing of the check, not synchronisation
		for id, p := range c.procs {
			if id == old {
				continue
			}
			evs := p.snapshot("EVENT")
			require.Len(t, evs, seen[id], "%s changed after %s restarted: %v", id, old, evs[seen[id]:])
		}
	}
	for _, ev := range restarted.snapshot("EVENT") {
		require.Contains(t, []string{"follower"}, ev.f["state"], "restarted %s: %v", old, ev.f)
		require.LessOrEqual(t, ev.uint("term"), term, "restarted %s raised the term: %v", old, ev.f)
		require.Equal(t, "0", ev.f["lead"])
	}
	ev, _ := restarted.last()
	require.Equal(t, leader, ev.f["leader"])
	l, _ := c.procs[leader].last()
	require.Equal(t, "1", l.f["lead"], "%s must still lead", leader)
	t.Logf("%s restarted from its state file and follows %s at term %d (%.0fms after its restart); "+
		"no term or leader change for %s", old, leader, term, rejoined-restarted.snapshot("READY")[0].ms(), 4*procElectionMax)
}
