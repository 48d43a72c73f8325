package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Unit tests of the pre-vote promise (promise.go): a node gives its
// pre-vote for a term to one node at a time, for promiseSpan.

const tSpan = 2 * DefaultSuccessionDelay

// preVote delivers a pre-vote request for term from `from` to r at now
// and returns whether r granted it (it must answer at once).
func (r *testRaft) preVote(now time.Duration, from string, term uint64) bool {
	r.t.Helper()
	r.step(now, Message{Kind: MsgPreVote, From: from, To: r.id, Term: term})
	resp := r.sent(MsgPreVoteResp)
	require.Len(r.t, resp, 1)
	return resp[0].Granted
}

// standing makes r, which knows no leader, time out and start its
// pre-vote, and returns the term it stands for (its outbox emptied).
func (r *testRaft) standing() uint64 {
	r.t.Helper()
	r.tick(tMax) // no leader known: a random timeout, a pre-vote by now
	require.Equal(r.t, rolePreCandidate, r.role)
	r.takeMsgs()
	return r.term + 1
}

func TestPromise_OneNodeAtATimePerTerm(t *testing.T) {
	r := newTestRaft(t, "a", abcde, nil)
	r.follow(0, "b", 1)
	t0 := tMin + time.Millisecond // the refusal window has ended
	require.Equal(t, tSpan, r.promiseSpan())
	require.True(t, r.preVote(t0, "c", 2))
	require.False(t, r.preVote(t0+time.Millisecond, "d", 2), "promised to c")
	require.True(t, r.preVote(t0+2*time.Millisecond, "c", 2), "c again: the same promise")
	require.True(t, r.preVote(t0+time.Millisecond, "d", 3), "another term: not promised")
	require.True(t, r.preVote(t0+tSpan, "d", 2), "the promise has ended")
	require.False(t, r.preVote(t0+tSpan+time.Millisecond, "c", 2), "now promised to d")
	require.EqualValues(t, 1, r.term, "a pre-vote never changes the voter's term")
}

func TestPromise_NotExtendedByAGrantAgain(t *testing.T) {
	// A node that keeps asking cannot hold its voter for good.
	r := newTestRaft(t, "a", abcde, nil)
	r.follow(0, "b", 1)
	t0 := tMin + time.Millisecond
	require.True(t, r.preVote(t0, "c", 2))
	require.True(t, r.preVote(t0+tSpan-time.Millisecond, "c", 2))
	require.True(t, r.preVote(t0+tSpan, "d", 2), "bound from the first grant only")
}

func TestPromise_OwnPreVoteIsAPromiseToItself(t *testing.T) {
	r := newTestRaft(t, "a", abcde, nil)
	next := r.standing()
	start := r.promisedAt
	require.False(t, r.preVote(start+time.Millisecond, "c", next), "it stands for the next term itself")
	require.True(t, r.preVote(start+tSpan, "c", next), "its promise to itself has ended")
	require.Equal(t, rolePreCandidate, r.role, "a pre-vote grant does not end its own")
}

func TestPromise_RetryFindsItsOwnPromiseEnded(t *testing.T) {
	// The span stays below the shortest retry pause, so that two
	// pre-candidates that refused each other (one node of 3 down) do not
	// refuse each other for good (found by
	// TestAdversary_TermsPushedApartByAPeerReunite with an unbounded
	// promise to itself).
	for _, tweak := range []func(*Config, *hooks){
		nil,
		func(c *Config, _ *hooks) { c.SuccessionDelay = 40 * time.Millisecond },
	} {
		r := newTestRaft(t, "a", abc, tweak)
		require.Less(t, r.promiseSpan(), r.cfg.Heartbeat/2)
		next := r.standing()
		require.False(t, r.preVote(r.promisedAt+tSpan-1, "b", next))
		r.tick(r.electionDeadline) // no answer: it tries again
		require.Equal(t, rolePreCandidate, r.role)
		require.NotEmpty(t, r.sent(MsgPreVote))
		require.False(t, r.preVote(r.now+1, "b", next), "its new try is a new promise")
		require.True(t, r.preVote(r.now+r.promiseSpan(), "b", next))
	}
}

func TestPromise_PromisedNodeWaitsBeforeItsOwnCampaign(t *testing.T) {
	// A follower whose timer fires after it promised its pre-vote to
	// another node waits an eighth of ElectionMin from the grant (the
	// successor may be saving its term), and as it is ranked 2 a
	// SuccessionDelay more, then campaigns.
	r := newTestRaft(t, "a", abcde, nil)
	r.step(0, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1, Stamp: 1, Rank: 2})
	r.takeMsgs()
	slot := tMin + tDelta
	require.Equal(t, slot, r.electionDeadline)
	granted := slot - time.Millisecond // rank 1, c, asked a little late
	require.True(t, r.preVote(granted, "c", 2))
	r.tick(slot)
	require.Equal(t, roleFollower, r.role)
	require.Empty(t, r.sent(MsgPreVote))
	require.Equal(t, granted+tMin/8+tDelta, r.nextDeadline(), "restrained an eighth of ElectionMin and its rank's delay")
	require.True(t, r.preVote(granted+tSpan, "d", 2), "its promise to c no longer binds")
	r.tick(granted + tMin/8 + tDelta)
	require.Equal(t, roleFollower, r.role)
	require.Equal(t, granted+tSpan+tMin/8+tDelta, r.nextDeadline(), "restrained again by the grant to d")
	r.tick(granted + tSpan + tMin/8 + tDelta)
	require.Equal(t, rolePreCandidate, r.role)
	require.Len(t, r.sent(MsgPreVote), 4)
}

func TestPromise_HeldPreVotesGoToTheFirst(t *testing.T) {
	// Pre-votes held to the end of the refusal window (deferPreVote) are
	// answered in the order they came: the first gets the promise.
	r := newTestRaft(t, "a", abcde, nil)
	r.follow(0, "b", 1)
	r.step(tMin-2*time.Millisecond, Message{Kind: MsgPreVote, From: "c", To: "a", Term: 2})
	r.step(tMin-time.Millisecond, Message{Kind: MsgPreVote, From: "d", To: "a", Term: 2})
	require.Empty(t, r.sent(MsgPreVoteResp))
	r.tick(tMin)
	resp := r.sent(MsgPreVoteResp)
	require.Len(t, resp, 2)
	require.Equal(t, "c", resp[0].To)
	require.True(t, resp[0].Granted)
	require.Equal(t, "d", resp[1].To)
	require.False(t, resp[1].Granted)
}

func TestPromise_OverlappingSuccessorsOneCandidate(t *testing.T) {
	// Five nodes, the leader e dead. a (rank 1) starts its pre-vote at its
	// slot; b (rank 2) fires before a's vote requests arrive (a is slow to
	// save its term). Before promises, the voters granted both pre-votes
	// and both raised the term: a split. Now only a passes.
	ids := abcde
	nodes := map[string]*testRaft{}
	for i, id := range ids[:4] {
		nodes[id] = newTestRaft(t, id, ids, nil)
		nodes[id].step(0, Message{Kind: MsgHeartbeat, From: "e", To: id, Term: 1, Stamp: 1, Rank: uint32(i + 1)})
		nodes[id].takeMsgs()
	}
	a, b := nodes["a"], nodes["b"]
	a.tick(tMin)
	require.Equal(t, rolePreCandidate, a.role)
	for _, m := range a.sent(MsgPreVote) {
		if n := nodes[m.To]; n != nil {
			n.step(tMin+time.Millisecond, m)
			for _, resp := range n.sent(MsgPreVoteResp) {
				require.True(t, resp.Granted)
			}
		}
	}
	// b's slot comes while a saves its term.
	b.tick(tMin + tDelta)
	require.Equal(t, roleFollower, b.role, "b promised its pre-vote to a")
	require.Empty(t, b.sent(MsgPreVote))
	for _, id := range []string{"c", "d"} {
		require.False(t, nodes[id].preVote(tMin+tDelta, "b", 2), "%s promised to a", id)
	}
}

func TestPromise_ARefusalReleasesTheOwnPreVote(t *testing.T) {
	// A peer refused this node's pre-vote (it may be behind, which it
	// cannot tell): its promise to itself ends, so that it grants the
	// peer that can win (TestAdversary_BehindNodeDoesNotHoldItsOwnPreVote).
	r := newTestRaft(t, "a", abc, nil)
	next := r.standing()
	start := r.promisedAt
	require.False(t, r.preVote(start+time.Millisecond, "c", next), "it stands for the next term itself")
	r.step(start+2*time.Millisecond, Message{Kind: MsgPreVoteResp, From: "b", To: "a", Term: r.term})
	require.True(t, r.preVote(start+3*time.Millisecond, "b", next), "b refused it: its promise to itself has ended")
	require.False(t, r.preVote(start+4*time.Millisecond, "c", next), "now promised to b")
	require.Equal(t, rolePreCandidate, r.role, "its own pre-vote still stands")
}

func TestPromise_GrantingAnotherWithdrawsTheOwnPreVote(t *testing.T) {
	// A pre-candidate whose promise to itself has ended and that grants
	// another node no longer counts its own pre-vote: otherwise both it
	// and the node it granted could pass (found by the review of the
	// promise).
	r := newTestRaft(t, "a", abcde, nil)
	next := r.standing()
	require.True(t, r.preVote(r.promisedAt+tSpan, "c", next))
	require.NotContains(t, r.granted, "a")
	for _, p := range []string{"b", "d"} {
		r.step(r.now, Message{Kind: MsgPreVoteResp, From: p, To: "a", Term: next, Granted: true})
	}
	require.Equal(t, rolePreCandidate, r.role, "b and d alone are not a majority of 5")
	r.step(r.now, Message{Kind: MsgPreVoteResp, From: "e", To: "a", Term: next, Granted: true})
	require.Equal(t, roleCandidate, r.role, "b, d and e are")
}

func TestPromise_RetryPauseAtItsCapIsRandom(t *testing.T) {
	// A retry pause that would double past ElectionMax is a random
	// election timeout: capped, it was ElectionMax every time, and two
	// nodes whose retries had met stayed in step for good.
	r := newTestRaft(t, "a", abc, nil)
	seen := map[time.Duration]bool{}
	for retries := range uint(12) {
		r.retries = retries
		for range 50 {
			d := r.retryTimeout()
			require.Positive(t, d)
			require.LessOrEqual(t, d, tMax)
			if retries >= 4 {
				require.GreaterOrEqual(t, d, tMin)
				seen[d] = true
			}
		}
	}
	require.Greater(t, len(seen), 100)
}

func TestPromise_RestraintEndsWithTheVoteRequest(t *testing.T) {
	// The successor's vote request, once its term is saved, ends the
	// restraint: the node votes at the new term and waits for a leader
	// as any follower does.
	r := newTestRaft(t, "a", abcde, nil)
	r.follow(0, "b", 1)
	require.True(t, r.preVote(tMin, "c", 2))
	require.True(t, r.bound(tMin+time.Millisecond))
	r.step(tMin+30*time.Millisecond, Message{Kind: MsgVote, From: "c", To: "a", Term: 2})
	resp := r.sent(MsgVoteResp)
	require.Len(t, resp, 1)
	require.True(t, resp[0].Granted)
	require.False(t, r.bound(tMin+31*time.Millisecond))
	require.False(t, r.promiseMatters(tMin+31*time.Millisecond))
}

func TestPromise_WithdrawingDoesNotClimb(t *testing.T) {
	// A node that knows a peer beyond the term window climbs after it
	// only when fewer than a majority, itself included, answered its
	// campaign at its own height (climb). Withdrawing its pre-vote for
	// itself (it granted a peer's) took it out of that count: of 3, b
	// refused a, then a granted b, and a's retry moved it TermWindow up
	// although b and a, a majority, stood at its height (found by the
	// second review of the promise). b's vote request then met a's new
	// term: both climbed after c and elected an election timeout later.
	r := newTestRaft(t, "a", abc, nil)
	next := r.standing()
	at := r.now + time.Millisecond
	// c, pushed beyond the window, refuses with its term: dropped, noted.
	r.step(at, Message{Kind: MsgPreVoteResp, From: "c", To: "a", Term: next + TermWindow + 1})
	require.Greater(t, r.ahead, r.term)
	// b stands too and refused a; then a grants b's pre-vote.
	r.step(at, Message{Kind: MsgPreVoteResp, From: "b", To: "a", Term: r.term})
	require.True(t, r.preVote(at, "b", next))
	require.NotContains(t, r.granted, "a", "withdrawn")
	r.tick(r.electionDeadline) // its retry: restrained, it granted b
	require.Equal(t, next-1, r.term, "a and b, a majority, are at a's height: no climb")
	require.Empty(t, r.sent(MsgPreVote))
	r.tick(r.boundUntil()) // b's vote request never came
	require.Equal(t, next-1, r.term, "no climb")
	require.NotEmpty(t, r.sent(MsgPreVote), "a tries again at its height")
}

func TestPromise_AnEndedGrantStillMattersWhileItMayRestrain(t *testing.T) {
	// a, at term 1, grants c's pre-vote for term 3 (c is at 2 after a
	// failed campaign). Once that promise no longer binds it restrained
	// nothing (3 is not a's next term), and promiseMatters said it never
	// would again: the explorer dropped it from the state. But a
	// TimeoutNow from a's leader, held in the network, makes a a
	// candidate at 2, and the grant then puts off its retry: two states
	// merged that differ in what a does next. ElectionMin is 1 s, so
	// that the restraint (250 ms) outlasts any first retry pause.
	tweak := func(c *Config, _ *hooks) { c.ElectionMin, c.ElectionMax = time.Second, 1200*time.Millisecond }
	granted, other := newTestRaft(t, "a", abcde, tweak), newTestRaft(t, "a", abcde, tweak)
	t0 := time.Second + time.Millisecond // a's lease has ended
	for _, r := range []*testRaft{granted, other} {
		r.follow(0, "b", 1)
	}
	require.True(t, granted.preVote(t0, "c", 3))
	t1 := t0 + tSpan
	require.True(t, granted.promiseMatters(t1), "the grant to c may still restrain a")
	for _, r := range []*testRaft{granted, other} {
		r.step(t1, Message{Kind: MsgTimeoutNow, From: "b", To: "a", Term: 1})
		require.Equal(t, roleCandidate, r.role)
		require.EqualValues(t, 2, r.term)
		r.step(t1, Message{Kind: MsgVoteResp, From: "c", To: "a", Term: 2}) // c voted for itself
		r.takeMsgs()
	}
	require.Equal(t, other.electionDeadline, granted.electionDeadline)
	require.Less(t, granted.electionDeadline, t0+granted.restraint())
	for _, r := range []*testRaft{granted, other} {
		r.tick(r.electionDeadline)
	}
	require.Equal(t, rolePreCandidate, other.role, "a retries")
	require.Equal(t, roleCandidate, granted.role, "a waits: it granted c's pre-vote for its next term")
}

func TestPromise_RestrainedSuccessorsKeepTheirOrder(t *testing.T) {
	// The successors ranked 2 and 3 both grant the pre-vote of the one
	// ranked 1 (c) at its slot, and c's campaign goes no further (it
	// died, or cannot hear the grants). Their slots pass while they are
	// restrained; they must then campaign in their ranks' order,
	// SuccessionDelay apart, not both at the restraint's end: there
	// they refused each other's pre-votes, and a peer that could send
	// but not receive, asking again and again, brought them together at
	// every retry (5 nodes, the successor cut off from what it is sent:
	// p99 failover 2.31 ElectionMin, 1.53 with the 20 ms wait).
	second, third := newTestRaft(t, "a", abcde, nil), newTestRaft(t, "d", abcde, nil)
	granted := tMin + time.Millisecond // c asks at its slot
	for i, r := range []*testRaft{second, third} {
		r.step(0, Message{Kind: MsgHeartbeat, From: "b", To: r.id, Term: 1, Stamp: 1, Rank: uint32(i + 2)})
		r.takeMsgs()
		require.True(t, r.preVote(granted, "c", 2))
		r.tick(r.electionDeadline) // its slot: restrained
		require.Equal(t, roleFollower, r.role)
	}
	require.Equal(t, tDelta, third.nextDeadline()-second.nextDeadline(), "the third a SuccessionDelay after the second")
	second.tick(second.nextDeadline())
	require.Equal(t, rolePreCandidate, second.role)
}

func TestPromise_AGrantAgainDoesNotRestart(t *testing.T) {
	// A grant again to the peer last promised, for the same term, binds
	// again but does not start the restraint again: a peer that can send
	// but not receive asks again at every retry, and held its voters back
	// each time (found by the review of the restraint).
	r := newTestRaft(t, "a", abcde, nil)
	r.follow(0, "b", 1)
	require.True(t, r.preVote(tMin, "c", 2))
	until := r.boundUntil()
	require.Equal(t, tMin+tMin/8, until)
	again := until + time.Millisecond
	require.True(t, r.preVote(again, "c", 2), "c again: granted")
	require.Equal(t, again+tSpan, r.boundUntil(), "not restrained again, only while bound")
	require.False(t, r.preVote(again+tSpan-1, "d", 2), "bound to c again (TestPromise_OverlappingRetriesOneCandidate)")
	later := again + tSpan
	require.False(t, r.bound(later))
	require.True(t, r.preVote(later, "d", 2), "the promise to c again has ended")
	require.Equal(t, later+tMin/8, r.boundUntil(), "a new peer: a new promise")
	require.True(t, r.preVote(later+tSpan, "c", 2), "c after d: a new promise")
	require.Equal(t, later+tSpan+tMin/8, r.boundUntil())
}
