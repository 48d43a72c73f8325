package graft

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftlib/graft/election"
)

// Issue 16 over QUIC, in one process: a preferred node ends up leading, a
// witness never leads nor is ranked. The crash cases (a data site lost, the
// leader and its successor killed together) run on real processes in
// cmd/graft (succession_test.go there).

// stablePeriod is the default PriorityStablePeriod of configs' timings.
func stablePeriod(cfg Config) time.Duration { return 5 * cfg.ElectionMax }

// agreedLeader returns the node that holds the lease when every node of
// nodes names it as leader at its term, or nil.
func agreedLeader(nodes ...*Node) *Node {
	var l *Node
	for _, n := range nodes {
		if n.IsLeader() {
			if l != nil {
				return nil
			}
			l = n
		}
	}
	if l == nil {
		return nil
	}
	for _, n := range nodes {
		if n.Leader() != l.ID() || n.Term() != l.Term() {
			return nil
		}
	}
	return l
}

// TestSuccession_PreferredNodeEndsUpLeading: c (priority 2) joins a and b
// after one of them leads; once c has answered every heartbeat for the
// stable period, the leader hands over to it, and c keeps it (nobody
// outranks it, so it never hands over).
func TestSuccession_PreferredNodeEndsUpLeading(t *testing.T) {
	cfgs := configs(t, "a", "b", "c")
	a, b := start(t, cfgs["a"]), start(t, cfgs["b"])
	first, _ := waitLease(t, a, b)
	startedC := time.Now()
	cc := cfgs["c"]
	cc.Priority = 2
	c := start(t, cc)

	require.Eventually(t, func() bool { return agreedLeader(a, b, c) == c }, 30*time.Second, 5*time.Millisecond,
		"c (priority 2) never led: a %s, b %s, c %s", a.State(), b.State(), c.State())
	took := time.Since(startedC)
	sa, sb := a.Stats().Election, b.Stats().Election
	takeovers, lapses := sa.PriorityTakeovers+sb.PriorityTakeovers, sa.StepDowns+sb.StepDowns
	// A leader starved past its lease on a loaded machine steps down, and
	// c, ranked first, may then win the election before the handover:
	// the handover is checked whenever the leader stayed healthy.
	if lapses == 0 {
		require.GreaterOrEqual(t, takeovers, uint64(1), "the leader did not hand over for c's priority")
		require.GreaterOrEqual(t, took, stablePeriod(cc), "c led before its stable period")
	}
	require.Equal(t, uint64(0), c.Stats().Election.PriorityTakeovers, "c has no one of higher priority to hand over to")
	t.Logf("%s led first; c (priority 2) leads %s after it started (stable period %s); %d priority handover(s), %d check-quorum step-down(s)",
		first.ID(), took.Round(time.Millisecond), stablePeriod(cc), takeovers, lapses)

	// The leader ranks both followers (rank 1 and 2) and names its first
	// successor.
	require.Eventually(t, func() bool {
		s := c.Stats().Election.Successor
		ra, rb := a.Stats().Election.Rank, b.Stats().Election.Rank
		return (s == "a" || s == "b") && ra+rb == 3 && ra*rb == 2
	}, 10*time.Second, 5*time.Millisecond, "successor %q, ranks a %d b %d",
		c.Stats().Election.Successor, a.Stats().Election.Rank, b.Stats().Election.Rank)
}

// TestSuccession_WitnessNeverLeads: a witness w with data nodes a and b is
// never ranked nor named successor, a step-down never hands over to it,
// and alone (a and b gone) it never campaigns.
func TestSuccession_WitnessNeverLeads(t *testing.T) {
	cfgs := configs(t, "a", "b", "w")
	cw := cfgs["w"]
	cw.Witness = true
	var campaigned atomic.Int32 // w's changes to candidate or leader
	cw.OnStateChange = func(_, to State, _ uint64) {
		if to == StateCandidate || to == StateLeader {
			campaigned.Add(1)
		}
	}
	w := start(t, cw)
	a, b := start(t, cfgs["a"]), start(t, cfgs["b"])
	nodes := map[string]*Node{"a": a, "b": b}

	// The leader, whichever data node it is (a lapse on a loaded machine
	// may move it), names the other as its first successor.
	require.Eventually(t, func() bool {
		l := agreedLeader(a, b, w)
		if l == nil || l == w {
			return false
		}
		other := nodes[map[string]string{"a": "b", "b": "a"}[l.ID()]]
		return l.Stats().Election.Successor == other.ID() && other.Stats().Election.Rank == 1
	}, 10*time.Second, 5*time.Millisecond, "no leader named the other data node its first successor")
	require.Equal(t, uint32(0), w.Stats().Election.Rank, "a witness is never ranked")

	// A handover goes to the data node, never to the witness. A leader
	// just elected may not have heard from the other data node yet
	// (ErrNoPeer): it is asked again.
	for range 3 {
		var from string
		require.Eventually(t, func() bool {
			l := agreedLeader(a, b, w)
			if l == nil || l == w || l.StepDown() != nil {
				return false
			}
			from = l.ID()
			return true
		}, 10*time.Second, 5*time.Millisecond, "no step-down")
		require.Eventually(t, func() bool { l := agreedLeader(a, b, w); return l != nil && l.ID() != from }, 10*time.Second, 5*time.Millisecond)
	}
	require.Zero(t, campaigned.Load(), "the witness became candidate or leader")

	// Both data nodes gone: a majority is impossible, and the witness
	// does not even try. Closed one after the other: the first hands over
	// to the second, the second to nobody.
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	quiet := 4 * cw.ElectionMax
	require.Eventually(t, func() bool { return w.Stats().Election.SinceLeaderContact > quiet }, 10*time.Second, 5*time.Millisecond)
	s := w.Stats().Election
	require.Equal(t, StateFollower, w.State())
	require.Zero(t, campaigned.Load(), "the witness became candidate or leader")
	require.Zero(t, s.PreVotesStarted, "the witness asked for pre-votes")
	require.Zero(t, s.ElectionsStarted, "the witness started an election")
	require.Zero(t, s.Rank)
	t.Logf("witness: never ranked, never handed the leadership in 3 step-downs, %s alone without a pre-vote (%d heartbeats acknowledged of %d received)",
		s.SinceLeaderContact.Round(time.Millisecond), s.Sent[election.MsgHeartbeatResp], s.Received[election.MsgHeartbeat])
}
