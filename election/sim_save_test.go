package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSim_SaveHoldsWhatWaited checks the simulator's save time (saveTime):
// a node that saves stops for that long, so nothing it handles after the
// save, a message that waited during a pause included, is answered before
// the save ends. Messages that came during a pause were all handled at the
// resume, at once: one that made the node save paused it again, but the
// ones after it were answered at the save's start, their answers leaving
// before the saved vote's did.
func TestSim_SaveHoldsWhatWaited(t *testing.T) {
	const save = 40 * time.Millisecond
	s := newSim(1, simOptions{nodes: 3, cfg: DefaultConfig()})
	require.NoError(t, s.run(2*time.Second))
	l := s.leader()
	require.NotNil(t, l)
	var f, c *simNode
	for _, n := range s.nodes {
		switch {
		case n == l:
		case f == nil:
			f = n
		default:
			c = n
		}
	}
	s.saveTime = func() time.Duration { return save }
	term := f.r.term
	s.pause(f, time.Millisecond)
	// While f is paused: c's vote request on a handover (f saves the new
	// term and its vote), then the leader's heartbeat of the old term
	// (f answers it with its new term, without saving).
	s.push(&simEvent{at: s.now, kind: simDeliver, node: f.idx,
		msg: Message{Kind: MsgVote, From: c.id, To: f.id, Term: term + 1, Transfer: true}})
	s.push(&simEvent{at: s.now, kind: simDeliver, node: f.idx,
		msg: Message{Kind: MsgHeartbeat, From: l.id, To: f.id, Term: term, Stamp: int64(l.local(s.now))}})
	resumed := s.now + time.Millisecond
	require.NoError(t, s.run(resumed))
	require.Equal(t, term+1, f.r.term)
	require.Equal(t, c.id, f.r.vote, "f voted for c")
	for _, e := range s.q {
		if e.kind == simDeliver && e.msg.From == f.id {
			require.GreaterOrEqual(t, e.at, resumed+save, "%s to %s leaves before f's save ended", e.msg.Kind, e.msg.To)
		}
	}
}
