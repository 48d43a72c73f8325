package election

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Adversarial review of the term bound (issue 18: a term above MaxTerm,
// or above the receiver's own by more than TermWindow, is never adopted).
// The peer below is authenticated (its messages carry its own id) and
// hostile: it sends what it likes, then falls silent, as a node that an
// operator stopped, or that crashed, would. The cluster must not need it.

// termPush is one forged message of the hostile node to a victim, its term
// relative to the victim's term when it arrives.
type termPush struct {
	victim int // index of the node
	kind   MsgKind
	above  uint64 // m.Term = victim's term + above
}

// pushTerms delivers the pushes in order, each as the victim's core
// handles a message (activated sends its answers, which reach nobody: the
// hostile node is down), and returns the victims' terms afterwards.
func pushTerms(s *sim, hostile *simNode, pushes []termPush) map[string]uint64 {
	got := map[string]uint64{}
	for _, p := range pushes {
		v := s.nodes[p.victim]
		m := Message{Kind: p.kind, From: hostile.id, To: v.id, Term: v.r.term + p.above, Stamp: int64(v.local(s.now))}
		v.r.step(v.local(s.now), m)
		s.activated(v)
		got[v.id] = v.r.term
	}
	return got
}

// reunion runs a cluster until a leader holds a lease and keeps it
// (renewed, same term, nobody else leading) for simStableFor. A lease from
// before the call counts only if it is still renewed after ElectionMin (by
// then it would have run out). It returns when the lease came, or an error.
func reunion(s *sim, limit time.Duration) (time.Duration, error) {
	start := s.now
	if err := s.run(start + DefaultConfig().ElectionMin); err != nil {
		return 0, err
	}
	for s.now < start+limit {
		if err := s.run(s.now + 10*time.Millisecond); err != nil {
			return 0, err
		}
		l := s.leader()
		if l == nil {
			continue
		}
		first, term := s.now, l.r.term
		for s.now < first+simStableFor {
			if err := s.run(s.now + 10*time.Millisecond); err != nil {
				return 0, err
			}
			if now := s.leader(); now != l || l.r.term != term {
				return 0, fmt.Errorf("the lease of %s at term %d, held from %s, ended at %s", l.id, term, first-start, s.now-start)
			}
		}
		return first - start, nil
	}
	return 0, fmt.Errorf("no lease within %s: terms %s", limit, liveTerms(s))
}

func maxLiveTerm(s *sim) uint64 {
	var top uint64
	for _, n := range s.nodes {
		if n.up {
			top = max(top, n.r.term)
		}
	}
	return top
}

func liveTerms(s *sim) string {
	out := ""
	for _, n := range s.nodes {
		if n.up {
			out += fmt.Sprintf(" %s=%d(%s)", n.id, n.r.term, n.r.role.state())
		}
	}
	return out
}

func TestAdversary_TermsPushedApartByAPeerReunite(t *testing.T) {
	// A hostile peer pushes honest nodes apart by more than TermWindow,
	// each push a term the victim may adopt (at most TermWindow above its
	// own), then falls silent. Honest nodes more than TermWindow apart
	// used to drop each other's every message: a 3-node cluster with one
	// such pair and the hostile node gone never elected again, even after
	// restarts (the terms are on disk). One TimeoutNow was enough: the
	// victim adopts term+TermWindow and campaigns at term+TermWindow+1.
	// The honest nodes must elect a leader that keeps its lease.
	w := TermWindow
	cases := []struct {
		name    string
		nodes   int
		hostile int // index; the victims' indexes are in pushes
		pushes  []termPush
		limit   time.Duration // virtual time for the reunion
	}{
		{"one TimeoutNow at term+TermWindow", 3, 2, []termPush{{0, MsgTimeoutNow, w}}, 20 * time.Second},
		{"two heartbeats of TermWindow each", 3, 2, []termPush{{0, MsgHeartbeat, w}, {0, MsgHeartbeat, w}}, 20 * time.Second},
		{"eight pushes to one node", 3, 2, func() (p []termPush) {
			for range 8 {
				p = append(p, termPush{1, MsgHeartbeat, w})
			}
			return p
		}(), 60 * time.Second},
		{"five nodes, two victims at different heights", 5, 4, []termPush{
			{1, MsgHeartbeat, w}, {1, MsgHeartbeat, w},
			{2, MsgTimeoutNow, w}, {2, MsgHeartbeat, w}, {2, MsgHeartbeat, w}, {2, MsgHeartbeat, w},
		}, 60 * time.Second},
	}
	seeds := 50
	if raceEnabled {
		seeds = 10
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var worst time.Duration
			for seed := range uint64(seeds) {
				s := newSim(seed+1, simOptions{nodes: tc.nodes, cfg: DefaultConfig(), drift: DefaultMaxClockDrift})
				require.NoError(t, s.run(2*time.Second))
				require.NotNil(t, s.leader(), "seed %d: no leader before the attack", seed)
				hostile := s.nodes[tc.hostile]
				// The victims first: the hostile node, still up, would
				// otherwise answer them.
				pushed := pushTerms(s, hostile, tc.pushes)
				s.crash(hostile)
				for id, term := range pushed {
					require.Greater(t, term, TermWindow, "seed %d: %s was not pushed", seed, id)
				}
				took, err := reunion(s, tc.limit)
				require.NoError(t, err, "seed %d (pushed: %v)", seed, pushed)
				worst = max(worst, took)
			}
			t.Logf("%s: a lasting lease %s after the attack at worst (%d seeds)", tc.name, worst, seeds)
		})
	}
}

// hostileTerms are the terms worth trying against a node at term: the
// edges of the window and of MaxTerm, wrap-around, and the stale side.
func hostileTerms(rng *rand.Rand, term uint64) []uint64 {
	ts := []uint64{0, term - 1, term, term + 1, term + TermWindow - 1, term + TermWindow, term + TermWindow + 1,
		MaxTerm - 1, MaxTerm, MaxTerm + 1, 1<<64 - 1, rng.Uint64(), term + rng.Uint64N(2*TermWindow)}
	return ts
}

// checkTermStep checks what one call did to the core's term: never down,
// never above MaxTerm, at most TermWindow up plus one (a TimeoutNow at
// term+TermWindow makes the node campaign there), on disk before it is
// used, and no message of the node carries a term above MaxTerm.
func checkTermStep(t *testing.T, r *testRaft, before uint64, msgs []Message, where string) {
	t.Helper()
	require.GreaterOrEqual(t, r.term, before, "the term went back: %s", where)
	require.LessOrEqual(t, r.term, MaxTerm, where)
	require.LessOrEqual(t, r.term-before, TermWindow+1, "one message raised the term too far: %s", where)
	hs, err := r.store.Load()
	require.NoError(t, err)
	require.Equal(t, r.term, hs.Term, "memory and disk disagree: %s", where)
	for _, m := range msgs {
		require.LessOrEqual(t, m.Term, MaxTerm, "sent %s at term %d: %s", m.Kind, m.Term, where)
		switch m.Kind {
		case MsgPreVote:
			require.Greater(t, m.Term, before, "a pre-vote for a term not above its own: %s", where)
		case MsgVote:
			require.GreaterOrEqual(t, m.Term, max(before, 1), "a vote request below its own term: %s", where)
		}
	}
}

func TestAdversary_HostileTermsNeverWrapNorGoBack(t *testing.T) {
	// Node a of three, started from saved terms near the bound, driven by
	// time and by messages from b and c of every kind at the edge terms:
	// its term never goes back, never passes MaxTerm, never rises by more
	// than TermWindow+1 per message (so a peer needs about 2^31 messages
	// to bring it from 0 to MaxTerm), and its messages never wrap.
	starts := []uint64{0, 5, MaxTerm - 3*TermWindow, MaxTerm - TermWindow - 1, MaxTerm - 2, MaxTerm - 1, MaxTerm}
	kinds := []MsgKind{MsgPreVote, MsgPreVoteResp, MsgVote, MsgVoteResp, MsgHeartbeat, MsgHeartbeatResp, MsgTimeoutNow}
	calls := 3000
	if raceEnabled {
		calls = 600
	}
	for _, start := range starts {
		rng := rand.New(rand.NewPCG(start, 18))
		st := &MemStorage{}
		require.NoError(t, st.Save(HardState{Term: start}))
		r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Storage = st })
		var now time.Duration
		atMax := 0
		for call := range calls {
			before := r.term
			where := fmt.Sprintf("start %d call %d term %d", start, call, before)
			if rng.IntN(4) == 0 {
				now = max(now, r.nextDeadline()) + time.Duration(rng.Int64N(int64(tHB)))
				r.tick(now)
			} else {
				ts := hostileTerms(rng, r.term)
				m := Message{Kind: kinds[rng.IntN(len(kinds))], From: abc[1+rng.IntN(2)], To: "a",
					Term: ts[rng.IntN(len(ts))], Granted: rng.IntN(2) == 0, Transfer: rng.IntN(2) == 0, Stamp: int64(now)}
				now += time.Duration(rng.Int64N(int64(tHB)))
				r.step(now, m)
				where += fmt.Sprintf(" after %s at term %d", m.Kind, m.Term)
			}
			checkTermStep(t, r, before, r.takeMsgs(), where)
			r.takeEvents()
			if r.term == MaxTerm {
				atMax++
			}
		}
		t.Logf("start %d: term %d after %d calls (%d at MaxTerm)", start, r.term, calls, atMax)
	}
}

func TestAdversary_ElectionsUpToMaxTermThenNone(t *testing.T) {
	// At MaxTerm-1 a cluster still elects a leader at MaxTerm with a
	// lease, pre-vote and TimeoutNow included; at MaxTerm it elects no one
	// (a campaign would leave the bound), and a TimeoutNow there is
	// refused with an error, never a wrapped term saved (it was term 0).
	st := func(term uint64) func(*Config, *hooks) {
		return func(c *Config, _ *hooks) {
			s := &MemStorage{}
			_ = s.Save(HardState{Term: term})
			c.Storage = s
		}
	}
	a := newTestRaft(t, "a", abc, st(MaxTerm-1))
	b := newTestRaft(t, "b", abc, st(MaxTerm-1))
	now := 2 * tMax
	a.tick(now)
	pre := a.sent(MsgPreVote)
	require.Len(t, pre, 2)
	require.Equal(t, MaxTerm, pre[0].Term)
	b.step(now, pre[0])
	a.step(now, b.sent(MsgPreVoteResp)[0])
	votes := a.sent(MsgVote)
	require.Len(t, votes, 2, "the pre-vote at MaxTerm was granted")
	b.step(now, votes[0])
	a.step(now, b.sent(MsgVoteResp)[0])
	require.Equal(t, roleLeader, a.role)
	require.Equal(t, MaxTerm, a.term)
	hb := a.sent(MsgHeartbeat)
	b.step(now, hb[0])
	a.step(now+time.Millisecond, b.sent(MsgHeartbeatResp)[0])
	require.Greater(t, a.leaseUntil(), now, "a lease at MaxTerm")

	// A handover at MaxTerm: b may not campaign, says so, keeps its term.
	b.takeEvents()
	require.NoError(t, a.transferLeadership(now+2*time.Millisecond))
	tn := a.sent(MsgTimeoutNow)
	require.Len(t, tn, 1)
	b.step(now+2*time.Millisecond, tn[0])
	require.Equal(t, MaxTerm, b.term)
	require.Empty(t, b.sent(MsgVote))
	var errs []error
	for _, e := range b.takeEvents() {
		if e.kind == evError {
			errs = append(errs, e.err)
		}
	}
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "MaxTerm")
	hs, _ := b.store.Load()
	require.Equal(t, MaxTerm, hs.Term)

	// Nobody campaigns at MaxTerm, however long it waits.
	for i := range 20 {
		b.tick(now + time.Duration(i+1)*tMax)
	}
	require.Empty(t, b.takeMsgs(), "a campaign at MaxTerm")
	require.Equal(t, MaxTerm, b.term)
}

func TestAdversary_RestartNearMaxTerm(t *testing.T) {
	// A state file at MaxTerm starts (the node follows, never campaigns);
	// above it, New fails with an error that says what to do, not a crash.
	for _, tc := range []struct {
		term uint64
		ok   bool
	}{{MaxTerm - 1, true}, {MaxTerm, true}, {MaxTerm + 1, false}, {1<<64 - 1, false}} {
		st := &MemStorage{}
		require.NoError(t, st.Save(HardState{Term: tc.term}))
		cfg := fastConfig("n1", []string{"n2", "n3"})
		cfg.Storage = st
		n, err := New(cfg, NewMemNetwork(1).Endpoint("n1"))
		if !tc.ok {
			require.Error(t, err, "term %d", tc.term)
			require.ErrorContains(t, err, "above MaxTerm")
			require.False(t, errors.Is(err, ErrClosed))
			continue
		}
		require.NoError(t, err, "term %d", tc.term)
		require.Equal(t, tc.term, n.Term())
		require.NoError(t, n.Close())
	}
}

func TestAdversary_BeyondTheWindowClimbsOnceWhenStuck(t *testing.T) {
	// A term beyond the window is never adopted, whatever the receiver
	// is: the message is dropped and counted. When it is the sender's own
	// term (not a pre-vote's proposed one), the receiver remembers it, and
	// a campaign of its that then ends without an outcome, answered within
	// the window by fewer than a majority, moves it TermWindow up: once per
	// such message. A split vote (enough answers) does not.
	kinds := []MsgKind{MsgPreVote, MsgPreVoteResp, MsgVote, MsgVoteResp, MsgHeartbeat, MsgHeartbeatResp, MsgTimeoutNow}
	for _, kind := range kinds {
		for _, granted := range []bool{false, true} {
			for _, split := range []bool{false, true} {
				name := fmt.Sprintf("%s (granted %v, split %v)", kind, granted, split)
				r := newTestRaft(t, "a", abc, nil)
				r.follow(0, "b", 3) // in the lease: the drop is the same
				r.step(tHB, Message{Kind: kind, From: "c", To: "a", Term: 3 + TermWindow + 1, Granted: granted})
				require.Equal(t, uint64(1), r.stats.Dropped[kind], "%s: dropped and counted", name)
				require.EqualValues(t, 3, r.term, name)
				r.takeMsgs()

				now := r.electionDeadline
				r.tick(now) // the first campaign, from a follower: no climb
				require.EqualValues(t, 3, r.term, name)
				pre := r.sent(MsgPreVote)
				require.Len(t, pre, 2, name)
				if split { // b refuses within the window: enough answered
					r.step(now, Message{Kind: MsgPreVoteResp, From: "b", To: "a", Term: 3})
				}
				// The retries: the first climbs, or after a split the next
				// one, unanswered; then no more (nothing new heard).
				remembered := kind != MsgPreVote && !(kind == MsgPreVoteResp && granted)
				for retry := 1; retry <= 3; retry++ {
					now = r.electionDeadline
					r.tick(now)
					want := uint64(3)
					if remembered && (retry >= 2 || !split) {
						want += TermWindow
					}
					require.Equal(t, want, r.term, "%s: retry %d", name, retry)
					hs, _ := r.store.Load()
					require.Equal(t, r.term, hs.Term, name)
				}
				term := r.term

				r.step(now, Message{Kind: kind, From: "c", To: "a", Term: MaxTerm + 1, Granted: granted})
				r.tick(r.electionDeadline)
				require.Equal(t, term, r.term, "%s: above MaxTerm is never remembered", name)
			}
		}
	}
}

func TestAdversary_PushedNodeNeitherDeposesNorDelays(t *testing.T) {
	// Five nodes: the hostile one pushes a follower eight windows up, then
	// behaves. The leader keeps its lease at its term (the pushed node's
	// answers cannot depose it once per heartbeat); when it crashes, the
	// other three elect a leader as fast as without the push, at their own
	// height: they do not need the pushed node, so they do not climb after
	// it (climbing at once, on every term beyond the window, took 2.5-3 s
	// here instead of 0.4).
	seeds := 20
	if raceEnabled {
		seeds = 5
	}
	var worst time.Duration
	for seed := range uint64(seeds) {
		s := newSim(seed+100, simOptions{nodes: 5, cfg: DefaultConfig(), drift: DefaultMaxClockDrift})
		require.NoError(t, s.run(2*time.Second))
		l := s.leader()
		require.NotNil(t, l, "seed %d", seed)
		hostile := s.nodes[(l.idx+1)%5]
		victim := s.nodes[(l.idx+2)%5]
		var pushes []termPush
		for range 8 {
			pushes = append(pushes, termPush{victim.idx, MsgHeartbeat, TermWindow})
		}
		// A hostile peer would not adopt the victim's answers: cut them.
		s.cut[[2]int{victim.idx, hostile.idx}] = true
		pushTerms(s, hostile, pushes)
		delete(s.cut, [2]int{victim.idx, hostile.idx})
		term := l.r.term
		for end := s.now + 3*time.Second; s.now < end; {
			require.NoError(t, s.run(s.now+10*time.Millisecond), "seed %d", seed)
			require.True(t, s.leader() == l && l.r.term == term, "seed %d: the leader lost its lease at %s (terms%s)", seed, s.now, liveTerms(s))
		}
		s.crash(l)
		took, err := reunion(s, 30*time.Second)
		require.NoError(t, err, "seed %d", seed)
		require.Less(t, s.leader().r.term, TermWindow, "seed %d: the others climbed after the pushed node", seed)
		worst = max(worst, took)
	}
	t.Logf("failover with a node eight windows up: a lasting lease %s after the leader's crash at worst (%d seeds)", worst, seeds)
	require.Less(t, worst, 2*DefaultConfig().ElectionMax, "the failover waited for the pushed node")
}

func TestAdversary_NodesSplitByOneTimeoutNowElectAgain(t *testing.T) {
	// The same attack on real Nodes over the in-memory network: n3 is the
	// hostile peer (an endpoint that sends one TimeoutNow and never runs a
	// node), n1 and n2 are honest and a majority. Its victim adopts
	// term+TermWindow and campaigns one above: out of the other's window.
	// Before the fix, n1 and n2 then dropped each other's every message,
	// for good; now they elect a leader again at the victim's height.
	nw := NewMemNetwork(1)
	nodes := map[string]*Node{}
	peers := map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1", "n3"}}
	for _, id := range []string{"n1", "n2"} {
		n, err := New(fastConfig(id, peers[id]), nw.Endpoint(id))
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		nodes[id] = n
	}
	hostile := nw.Endpoint("n3")
	leaderOf := func() *Node {
		var l *Node
		for _, n := range nodes {
			if n.IsLeader() {
				l = n
			}
		}
		return l
	}
	require.Eventually(t, func() bool { return leaderOf() != nil }, 10*time.Second, time.Millisecond)
	victim := nodes["n1"]
	if leaderOf() == victim {
		victim = nodes["n2"]
	}
	term := victim.Term()
	require.True(t, hostile.Send(Message{Kind: MsgTimeoutNow, To: victim.ID(), Term: term + TermWindow}))
	require.Eventually(t, func() bool { return victim.Term() > term+TermWindow }, 10*time.Second, time.Millisecond, "the victim campaigns beyond the window")
	require.Eventually(t, func() bool {
		l := leaderOf()
		return l != nil && nodes["n1"].Term() == nodes["n2"].Term() && l.Term() > term+TermWindow
	}, 10*time.Second, time.Millisecond, "n1 and n2 never elected again (terms right after the attack: %d and %d)", nodes["n1"].Term(), nodes["n2"].Term())
}
