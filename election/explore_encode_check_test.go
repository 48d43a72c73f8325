package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Checks of the explorer's encoding (explore_encode_test.go): two states
// it merges must have the same futures, or the search silently skips some.

// priorityStart returns the healthy start state, a leader with a lease,
// of 3 nodes of priorities 1, 2 and a witness with a stable period of
// stable, all clocks fast, where a leads.
func priorityStart(t *testing.T, stable time.Duration) *xWorld {
	t.Helper()
	starts, err := startWorlds(startOptions{nodes: 3, drift: DefaultMaxClockDrift, start: "leader", leadOnce: true,
		priorities: []uint32{1, 2, 0}, tweak: func(c *Config) { c.PriorityStablePeriod = stable }})
	require.NoError(t, err)
	w := starts[0]
	require.Equal(t, roleLeader, w.nodes[0].r.role, "a leads the healthy start state")
	return w.clone()
}

// healthy runs the healthy schedule from w until done holds (at most
// steps choices) and returns the state it reached.
func healthy(t *testing.T, w *xWorld, steps int, done func(*xWorld) bool) *xWorld {
	t.Helper()
	b := xBounds{maxTerm: 1 << 20, inFlight: 1 << 20}
	for range steps {
		if done(w) {
			return w
		}
		next, out, bad := w.apply(w.next(), b)
		require.Equal(t, outOK, out, bad)
		w = next
	}
	require.True(t, done(w), "not reached in %d healthy steps", steps)
	return w
}

// handedOver reports whether a has handed leadership over for priority.
func handedOver(w *xWorld) bool {
	return w.nodes[0].r == nil || w.nodes[0].r.stats.PriorityTakeovers > 0
}

// TestExplore_EncodingKeepsAStreakThatMayCount: a follower of higher
// priority than its leader's that pauses after a lost handover election
// (backoff.go) acknowledges with priority 1, so while it pauses its run of
// acknowledged rounds decides nothing; once the pause ends, it decides when
// the leader hands over. Two states that differ only in when that run
// began must not be merged (the explorer merged them: it encoded a run
// only for peers whose acknowledgements showed a higher priority).
func TestExplore_EncodingKeepsAStreakThatMayCount(t *testing.T) {
	const stable = 450 * time.Millisecond
	w := priorityStart(t, stable)
	b := w.own(1)
	b.r.backoff = stable
	b.r.backoffUntil = b.local(w.now) + 700*time.Millisecond
	// Eight healthy rounds: b acknowledges each, with priority 1.
	until := w.now + 8*DefaultHeartbeat
	w = healthy(t, w, 200, func(w *xWorld) bool { return w.now >= until && len(w.net) == 0 })
	a := w.nodes[0].r
	require.Equal(t, uint32(1), a.prio["b"], "b pauses: it shows priority 1")
	require.False(t, handedOver(w))

	// The same state, but b's run began with its latest acknowledgement
	// (as if it had missed the round before).
	late := w.clone()
	la := late.own(0).r
	la.streak["b"] = la.acked["b"]
	require.NotEqual(t, a.streak["b"], la.streak["b"])

	long := healthy(t, w, 400, handedOver)
	short := healthy(t, late, 400, handedOver)
	require.NotEqual(t, long.now, short.now, "the run's start decides when a hands over")
	t.Logf("a hands over to b at %s with the long run, at %s with the short one", ms(long.now), ms(short.now))

	bounds := xBounds{maxTerm: 3, inFlight: 6, deviations: 3}
	require.NotEqual(t, newEncoder().key(w, bounds), newEncoder().key(late, bounds),
		"states with different handover instants have the same encoding")
}

// TestExplore_EncodingKeepsAnAckThatDecidesARun: below the quorum stamp a
// leader's acknowledgement from a peer was encoded only by when the peer
// stops being fresh, clamped once passed. For a peer that may be handed
// leadership for its priority, a stamp still in flight that it will
// acknowledge continues its run of acknowledged rounds or restarts it,
// depending on the exact acknowledgement before (noteAck): two states
// that differ only there must not be merged.
func TestExplore_EncodingKeepsAnAckThatDecidesARun(t *testing.T) {
	const stable = 2 * time.Second
	w := priorityStart(t, stable)
	until := w.now + 8*DefaultHeartbeat
	w = healthy(t, w, 200, func(w *xWorld) bool { return w.now >= until && len(w.net) == 0 })
	a := w.own(0)
	now := a.r.acked["b"] // the latest heartbeat, which b acknowledged
	require.LessOrEqual(t, a.local(w.now)-now, DefaultHeartbeat)
	// b's acknowledgement of the latest heartbeat is still in flight, and
	// the heartbeat of the round before, held back, has not reached it.
	a.r.acked["b"] = now - 2*DefaultHeartbeat
	w.net = append(w.net,
		xMsg{m: Message{Kind: MsgHeartbeat, From: "a", To: "b", Term: a.r.term, Stamp: int64(now - DefaultHeartbeat)}, seq: w.seq + 1, delayed: true},
		xMsg{m: Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: a.r.term, Stamp: int64(now), Granted: true, Priority: 2}, seq: w.seq + 2})
	w.seq += 2
	// The same, but b's acknowledgement a round older: the held heartbeat
	// comes 2 × Heartbeat after it, which restarts b's run.
	older := w.clone()
	older.own(0).r.acked["b"] = now - 3*DefaultHeartbeat

	// The held heartbeat reaches b, b's answer reaches a before the
	// acknowledgement in flight, then the healthy schedule.
	b := xBounds{maxTerm: 3, inFlight: 6}
	deliverHeld := func(w *xWorld) *xWorld {
		w, out, bad := w.apply(choice{xDeliver, 1, 0}, b)
		require.Equal(t, outOK, out, bad)
		last := len(w.net) - 1
		require.Equal(t, int64(now-DefaultHeartbeat), w.net[last].m.Stamp)
		w, out, bad = w.apply(choice{xDeliver, 0, last}, b)
		require.Equal(t, outOK, out, bad)
		return w
	}
	kept := healthy(t, deliverHeld(w), 2000, handedOver)
	restarted := healthy(t, deliverHeld(older), 2000, handedOver)
	require.NotEqual(t, kept.now, restarted.now, "the acknowledgement before the held one decides when a hands over")
	t.Logf("a hands over to b at %s when the held heartbeat continues b's run, at %s when it restarts it", ms(kept.now), ms(restarted.now))

	bounds := xBounds{maxTerm: 3, inFlight: 6, deviations: 3}
	require.NotEqual(t, newEncoder().key(w, bounds), newEncoder().key(older, bounds),
		"states with different handover instants have the same encoding")
}
