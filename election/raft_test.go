package election

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Unit tests of the pure core, one rule each, with the section of the Raft
// thesis (Ongaro, 2014) it implements. Time is a plain Duration.

const (
	tHB  = 50 * time.Millisecond
	tMin = 300 * time.Millisecond
	tMax = 450 * time.Millisecond
)

type testRaft struct {
	*raft
	t     *testing.T
	store *MemStorage
}

// newTestRaft builds node id of a cluster of ids ("a", "b", "c" ...).
func newTestRaft(t *testing.T, id string, ids []string, tweak func(*Config, *hooks)) *testRaft {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Cluster, cfg.ID = "test", id
	for _, p := range ids {
		if p != id {
			cfg.Peers = append(cfg.Peers, p)
		}
	}
	st := &MemStorage{}
	cfg.Storage = st
	h := simHooks
	if tweak != nil {
		tweak(&cfg, &h)
	}
	require.NoError(t, cfg.Validate())
	if s, ok := cfg.Storage.(*MemStorage); ok {
		st = s
	}
	r, err := newRaft(cfg, cfg.Storage, h, 1, 0)
	require.NoError(t, err)
	return &testRaft{raft: r, t: t, store: st}
}

var abc = []string{"a", "b", "c"}

// msgs returns and clears the outbox, filtered by kind.
func (r *testRaft) sent(kind MsgKind) []Message {
	var out []Message
	for _, m := range r.takeMsgs() {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// elect makes r leader at now: it times out, wins the pre-vote and the vote.
func (r *testRaft) elect(now time.Duration) {
	r.t.Helper()
	r.tick(now + tMax)
	for _, m := range r.sent(MsgPreVote) {
		r.step(now+tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: r.id, Term: m.Term, Granted: true})
	}
	for _, m := range r.sent(MsgVote) {
		r.step(now+tMax, Message{Kind: MsgVoteResp, From: m.To, To: r.id, Term: m.Term, Granted: true})
	}
	require.Equal(r.t, roleLeader, r.role)
	r.takeMsgs()
	r.takeEvents()
}

// follow makes r a follower of leader at term, heard at now.
func (r *testRaft) follow(now time.Duration, leader string, term uint64) {
	r.step(now, Message{Kind: MsgHeartbeat, From: leader, To: r.id, Term: term, Stamp: int64(now)})
	require.Equal(r.t, leader, r.leader)
	r.takeMsgs()
	r.takeEvents()
}

func TestRaft_ElectionTimeoutIsRandomisedWithinBounds(t *testing.T) {
	// Thesis 3.4: randomised election timeouts.
	r := newTestRaft(t, "a", abc, nil)
	seen := map[time.Duration]bool{}
	for i := range 200 {
		now := time.Duration(i) * time.Second
		r.resetElectionTimer(now)
		d := r.electionDeadline - now
		require.GreaterOrEqual(t, d, tMin)
		require.LessOrEqual(t, d, tMax)
		seen[d] = true
	}
	require.Greater(t, len(seen), 100)
}

func TestRaft_SingleNodeElectsItself(t *testing.T) {
	r := newTestRaft(t, "a", nil, nil)
	r.tick(0)
	require.Equal(t, roleLeader, r.role)
	require.EqualValues(t, 1, r.term)
	require.Greater(t, r.leaseUntil(), time.Duration(0))
	// It stays leader across ticks: its own ticks are its quorum.
	for now := tHB; now < 10*tMax; now += tHB {
		r.tick(now)
	}
	require.Equal(t, roleLeader, r.role)
}

func TestRaft_PreVoteCutOffNodeKeepsItsTerm(t *testing.T) {
	// Thesis 9.6: a node that cannot reach a majority never raises its term.
	r := newTestRaft(t, "a", abc, nil)
	for now := time.Duration(0); now < 20*time.Second; now += 10 * time.Millisecond {
		r.tick(now)
		r.takeMsgs()
	}
	require.Zero(t, r.term)
	require.Greater(t, r.stats.PreVotesStarted, uint64(10))
	require.Zero(t, r.stats.ElectionsStarted)
	require.Equal(t, StateFollower, r.State())
}

func TestRaft_PreVoteKeepsLeader(t *testing.T) {
	// Thesis 9.6 and 4.2.3: a follower that hears from a leader, and the
	// leader itself, refuse a pre-vote; so does a follower whose term is
	// not below the proposed one. Refusals carry the voter's term.
	cases := []struct {
		name  string
		setup func(r *testRaft)
		now   time.Duration
		term  uint64
		grant bool
	}{
		{"follower in lease refuses", func(r *testRaft) { r.follow(0, "b", 1) }, tMin - DefaultSuccessionDelay - 1, 2, false},
		{"follower after lease grants", func(r *testRaft) { r.follow(0, "b", 1) }, tMin, 2, true},
		{"leader refuses", func(r *testRaft) { r.elect(0) }, 2 * tMax, 2, false},
		{"stale proposed term refused", func(r *testRaft) { r.follow(0, "b", 3) }, 10 * tMax, 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newTestRaft(t, "a", abc, nil)
			c.setup(r)
			before := r.term
			r.step(c.now, Message{Kind: MsgPreVote, From: "c", To: "a", Term: c.term})
			resp := r.sent(MsgPreVoteResp)
			require.Len(t, resp, 1)
			require.Equal(t, c.grant, resp[0].Granted)
			require.Equal(t, before, r.term, "a pre-vote never changes the voter's term")
			if !c.grant {
				require.Equal(t, before, resp[0].Term)
			}
		})
	}
}

func TestRaft_CheckQuorumStepDown(t *testing.T) {
	// Thesis 6.2: a leader that hears from no majority within ElectionMin
	// steps down; one that does stays.
	for _, acked := range []bool{false, true} {
		r := newTestRaft(t, "a", abc, nil)
		r.elect(0)
		for now := tMax; now <= tMax+2*tMin; now += tHB {
			r.tick(now)
			for _, m := range r.sent(MsgHeartbeat) {
				if acked && m.To == "b" {
					r.step(now+time.Millisecond, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: m.Term, Stamp: m.Stamp, Granted: true})
				}
			}
		}
		if acked {
			require.Equal(t, roleLeader, r.role)
			require.Zero(t, r.stats.StepDowns)
		} else {
			require.Equal(t, roleFollower, r.role)
			require.EqualValues(t, 1, r.stats.StepDowns)
			require.Zero(t, r.leaseUntil())
		}
	}
}

func TestRaft_LeaseFormula(t *testing.T) {
	// Thesis 6.4.1: lease = ElectionMin·(1-ρ)/(1+ρ) from the send time of
	// the heartbeat a majority acknowledged; none before the first ack.
	for _, drift := range []float64{0.0001, 0.01, 0.2} {
		r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.MaxClockDrift = drift })
		r.elect(0)
		require.Zero(t, r.leaseUntil(), "no lease before a majority acknowledged")
		r.tick(tMax + tHB)
		hb := r.sent(MsgHeartbeat)
		r.tick(tMax + 2*tHB) // a second heartbeat
		hb2 := r.sent(MsgHeartbeat)
		r.step(tMax+2*tHB+time.Millisecond, Message{Kind: MsgHeartbeatResp, From: "c", To: "a", Term: 1, Stamp: hb2[1].Stamp, Granted: true})
		r.step(tMax+2*tHB+time.Millisecond, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: 1, Stamp: hb[0].Stamp, Granted: true})
		want := time.Duration(hb2[1].Stamp) + time.Duration(float64(tMin)*(1-drift)/(1+drift)) - leaseMargin
		require.Equal(t, want, r.leaseUntil(), "drift %g", drift)
		// An echo of a stamp the leader never sent (from the future) is ignored.
		r.step(tMax+2*tHB+2*time.Millisecond, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: 1, Stamp: int64(time.Hour), Granted: true})
		require.Equal(t, want, r.leaseUntil())
	}
}

func TestRaft_LeaseRefusesVotesWithoutAdoptingTheTerm(t *testing.T) {
	// Thesis 4.2.3: within ElectionMin of hearing from a leader a node
	// ignores a vote request, neither granting it nor adopting its term,
	// so a disruptive server cannot depose a live leader. After ElectionMin
	// it adopts the term and grants.
	r := newTestRaft(t, "a", abc, nil)
	r.follow(0, "b", 1)
	r.step(tMin-1, Message{Kind: MsgVote, From: "c", To: "a", Term: 5})
	require.Empty(t, r.takeMsgs(), "no answer within the lease")
	require.EqualValues(t, 1, r.term)
	r.step(tMin, Message{Kind: MsgVote, From: "c", To: "a", Term: 5})
	resp := r.sent(MsgVoteResp)
	require.Len(t, resp, 1)
	require.True(t, resp[0].Granted)
	require.EqualValues(t, 5, r.term)
	hs, _ := r.store.Saved()
	require.Equal(t, HardState{Term: 5, VotedFor: "c"}, hs)
}

func TestRaft_RestartedNodeRefusesVotesForElectionMin(t *testing.T) {
	// Thesis 6.4.1: a node restarted with a term may have acknowledged a
	// leader's heartbeat just before it stopped: it refuses for ElectionMin.
	st := &MemStorage{}
	require.NoError(t, st.Save(HardState{Term: 3}))
	r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Storage = st })
	r.step(tMin-1, Message{Kind: MsgVote, From: "c", To: "a", Term: 4})
	require.Empty(t, r.takeMsgs())
	r.step(tMin, Message{Kind: MsgVote, From: "c", To: "a", Term: 4})
	require.True(t, r.sent(MsgVoteResp)[0].Granted)
}

func TestRaft_DuplicateGrantCountedOnce(t *testing.T) {
	// nats-io/graft counted a duplicated grant twice: votes are counted by
	// distinct voter (thesis 3.4: a majority of servers).
	r := newTestRaft(t, "a", []string{"a", "b", "c", "d", "e"}, func(c *Config, _ *hooks) { c.DisablePreVote = true })
	r.tick(tMax)
	require.Equal(t, roleCandidate, r.role)
	for range 5 {
		r.step(tMax, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1, Granted: true})
	}
	require.Equal(t, roleCandidate, r.role, "one voter plus itself is not a majority of 5")
	r.step(tMax, Message{Kind: MsgVoteResp, From: "c", To: "a", Term: 1, Granted: true})
	require.Equal(t, roleLeader, r.role)
}

func TestRaft_HigherTermAdoptedFromEveryMessageKind(t *testing.T) {
	// Thesis 3.3 (figure 3.1, "Rules for all servers"): any message with a
	// higher term makes the receiver adopt it and follow; only a pre-vote
	// (whose term is a proposal, thesis 9.6) and a vote request ignored in
	// the lease (thesis 4.2.3) do not.
	cases := []struct {
		kind    MsgKind
		granted bool
		adopt   bool
		leader  string
	}{
		{MsgPreVote, false, false, ""},
		{MsgPreVoteResp, false, true, ""},
		{MsgVote, false, true, ""},
		{MsgVoteResp, false, true, ""},
		{MsgVoteResp, true, true, ""},
		{MsgHeartbeat, false, true, "b"},
		{MsgHeartbeatResp, false, true, ""},
		{MsgTimeoutNow, false, true, ""}, // adopts, then campaigns at once
	}
	for _, c := range cases {
		for _, start := range []string{"follower", "candidate", "leader"} {
			t.Run(c.kind.String()+"/"+start, func(t *testing.T) {
				r := newTestRaft(t, "a", abc, nil)
				switch start {
				case "candidate":
					r.tick(tMax)
					for _, m := range r.sent(MsgPreVote) {
						r.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 1, Granted: true})
					}
					require.Equal(t, roleCandidate, r.role)
				case "leader":
					r.elect(0)
				}
				now := 3 * tMax // out of any lease on the followers
				if start == "leader" && c.kind == MsgVote {
					now = 0 // a leader ignores votes anyway: covered below
				}
				r.takeMsgs()
				before := r.term
				r.step(now, Message{Kind: c.kind, From: "b", To: "a", Term: 7, Granted: c.granted})
				if start == "leader" && c.kind == MsgVote {
					require.Equal(t, before, r.term, "a leader holds its lease: vote ignored")
					return
				}
				if !c.adopt {
					require.Equal(t, before, r.term)
					return
				}
				if c.kind == MsgTimeoutNow {
					// b led term 7 and hands over: adopt 7, campaign at 8.
					require.EqualValues(t, 8, r.term)
					require.Equal(t, roleCandidate, r.role)
					return
				}
				require.EqualValues(t, 7, r.term)
				require.Equal(t, roleFollower, r.role)
				require.Equal(t, c.leader, r.leader)
				hs, _ := r.store.Saved()
				require.EqualValues(t, 7, hs.Term, "the term is on disk")
			})
		}
	}
}

func TestRaft_RefusedVoteRequestStillRaisesTerm(t *testing.T) {
	// Thesis 3.3: the term is adopted even when the vote is refused (here
	// by the GrantVote hook); nats-io/graft ignored it.
	r := newTestRaft(t, "a", abc, func(_ *Config, h *hooks) { h.grant = func([]byte) bool { return false } })
	r.step(tMax, Message{Kind: MsgVote, From: "c", To: "a", Term: 4})
	resp := r.sent(MsgVoteResp)
	require.False(t, resp[0].Granted)
	require.EqualValues(t, 4, resp[0].Term)
	require.EqualValues(t, 4, r.term)
	require.Empty(t, r.vote)
}

func TestRaft_CandidateStepsDownOnHigherTermResponse(t *testing.T) {
	// Thesis 3.4: a candidate that learns of a higher term, from a response
	// too, becomes a follower.
	for _, kind := range []MsgKind{MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp} {
		r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.DisablePreVote = true })
		r.tick(tMax)
		require.Equal(t, roleCandidate, r.role)
		r.step(tMax, Message{Kind: kind, From: "b", To: "a", Term: 9})
		require.Equal(t, roleFollower, r.role, kind.String())
		require.EqualValues(t, 9, r.term)
	}
}

func TestRaft_StaleHeartbeatLeaderNotAdopted(t *testing.T) {
	// Thesis 3.3: a message with a stale term is rejected; nats-io/graft
	// followed the leader named by a stale heartbeat. The stale leader is
	// told the newer term.
	r := newTestRaft(t, "a", abc, nil)
	r.follow(0, "b", 5)
	r.step(tHB, Message{Kind: MsgHeartbeat, From: "c", To: "a", Term: 4, Stamp: 77})
	require.Equal(t, "b", r.leader)
	require.EqualValues(t, 5, r.term)
	resp := r.sent(MsgHeartbeatResp)
	require.Len(t, resp, 1)
	require.EqualValues(t, 5, resp[0].Term)
	require.Zero(t, resp[0].Stamp, "a notice of the newer term, not an echo")
	require.False(t, resp[0].Granted, "not an acknowledgement")
	// A stale vote request is refused with the newer term.
	r.step(tHB, Message{Kind: MsgVote, From: "c", To: "a", Term: 4})
	v := r.sent(MsgVoteResp)
	require.False(t, v[0].Granted)
	require.EqualValues(t, 5, v[0].Term)
}

func TestRaft_OneVotePerTermAcrossRestarts(t *testing.T) {
	// Thesis 3.4 and 3.8: at most one vote per term, persisted before the
	// grant leaves, so a restarted node does not vote again.
	st := &MemStorage{}
	r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Storage = st })
	r.step(tMax, Message{Kind: MsgVote, From: "b", To: "a", Term: 2})
	require.True(t, r.sent(MsgVoteResp)[0].Granted)
	r.step(tMax, Message{Kind: MsgVote, From: "c", To: "a", Term: 2})
	require.False(t, r.sent(MsgVoteResp)[0].Granted)
	r.step(tMax, Message{Kind: MsgVote, From: "b", To: "a", Term: 2}) // a retry from b
	require.True(t, r.sent(MsgVoteResp)[0].Granted)

	r2 := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Storage = st })
	later := 2 * tMin // past the restart's refusal window
	r2.step(later, Message{Kind: MsgVote, From: "c", To: "a", Term: 2})
	require.False(t, r2.sent(MsgVoteResp)[0].Granted, "the restarted node voted for b in term 2")
	require.Equal(t, "b", r2.vote)
}

func TestRaft_FailingSaveRefusesVoteAndKeepsTermInMemory(t *testing.T) {
	// Thesis 3.8: term and vote reach stable storage before any message
	// that depends on them; if the save fails the node refuses, reports,
	// and its memory never runs ahead of the disk.
	errDisk := errors.New("disk full")
	cases := []struct {
		name string
		term uint64
	}{{"higher term", 3}, {"same term", 0}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newTestRaft(t, "a", abc, nil)
			r.store.SetFail(errDisk)
			r.step(tMax, Message{Kind: MsgVote, From: "b", To: "a", Term: c.term})
			require.Zero(t, r.term)
			require.Empty(t, r.vote)
			for _, m := range r.takeMsgs() {
				require.False(t, m.Granted)
			}
			var reported error
			for _, e := range r.takeEvents() {
				if e.kind == evError {
					reported = e.err
				}
			}
			if c.term > 0 {
				require.ErrorIs(t, reported, errDisk)
				require.EqualValues(t, 1, r.stats.StorageErrors)
			}
		})
	}
	// A candidate that cannot save its new term does not campaign.
	r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.DisablePreVote = true })
	r.store.SetFail(errDisk)
	r.tick(tMax)
	require.Equal(t, roleFollower, r.role)
	require.Zero(t, r.term)
	require.Empty(t, r.sent(MsgVote))
}

func TestRaft_TransferLeadership(t *testing.T) {
	// Thesis 3.10: the leader stops (its lease ends), tells the most
	// recently heard peer to campaign at once; voters grant that vote even
	// within the lease.
	a := newTestRaft(t, "a", abc, nil)
	require.ErrorIs(t, a.transferLeadership(0), ErrNotLeader)
	a.elect(0)
	require.ErrorIs(t, a.transferLeadership(tMax), ErrNoTransferTarget)
	a.tick(tMax + tHB)
	hb := a.sent(MsgHeartbeat)
	a.step(tMax+tHB, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: 1, Stamp: hb[0].Stamp, Granted: true})
	a.tick(tMax + 2*tHB)
	hb2 := a.sent(MsgHeartbeat)
	a.step(tMax+2*tHB, Message{Kind: MsgHeartbeatResp, From: "c", To: "a", Term: 1, Stamp: hb2[1].Stamp, Granted: true})
	require.NoError(t, a.transferLeadership(tMax+2*tHB))
	require.Equal(t, roleFollower, a.role)
	require.Zero(t, a.leaseUntil())
	tn := a.sent(MsgTimeoutNow)
	require.Len(t, tn, 1)
	require.Equal(t, "c", tn[0].To, "c acknowledged the latest heartbeat")

	c := newTestRaft(t, "c", abc, nil)
	c.follow(tMax, "a", 1)
	b := newTestRaft(t, "b", abc, nil)
	b.follow(tMax, "a", 1)
	c.step(tMax+tHB, Message{Kind: MsgTimeoutNow, From: "a", To: "c", Term: 1})
	require.Equal(t, roleCandidate, c.role)
	vote := c.sent(MsgVote)
	require.True(t, vote[0].Transfer)
	b.step(tMax+tHB, Message{Kind: MsgVote, From: "c", To: "b", Term: 2, Transfer: true})
	resp := b.sent(MsgVoteResp)
	require.True(t, resp[0].Granted, "a transfer vote is granted within the lease")
	c.step(tMax+tHB, resp[0])
	require.Equal(t, roleLeader, c.role)
	// A TimeoutNow from a node that is not the leader is ignored.
	b.step(tMax+tHB, Message{Kind: MsgTimeoutNow, From: "a", To: "b", Term: 2})
	require.Equal(t, roleFollower, b.role)
}

func TestRaft_EventsCarryTheTerm(t *testing.T) {
	// The term is the fencing token: every state and leader change names
	// the term at which it happened. A state change comes before the
	// leader change it caused (the order graft.h promises).
	r := newTestRaft(t, "a", abc, nil)
	r.tick(tMax)
	for _, m := range r.sent(MsgPreVote) {
		r.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 1, Granted: true})
	}
	r.step(tMax, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1, Granted: true})
	var got []event
	for _, e := range r.takeEvents() {
		if e.kind == evState || e.kind == evLeader {
			got = append(got, event{kind: e.kind, from: e.from, to: e.to, term: e.term, leader: e.leader})
		}
	}
	require.Equal(t, []event{
		{kind: evState, from: StateFollower, to: StateCandidate, term: 1},
		{kind: evState, from: StateCandidate, to: StateLeader, term: 1},
		{kind: evLeader, leader: "a", term: 1},
	}, got)

	// Stepping down: leader -> follower, then "no leader".
	hb := r.sent(MsgHeartbeat)[0]
	r.step(tMax, Message{Kind: MsgHeartbeatResp, From: hb.To, To: "a", Term: 1, Stamp: hb.Stamp, Granted: true})
	require.NoError(t, r.transferLeadership(tMax))
	got = nil
	for _, e := range r.takeEvents() {
		if e.kind == evState || e.kind == evLeader {
			got = append(got, event{kind: e.kind, from: e.from, to: e.to, term: e.term, leader: e.leader})
		}
	}
	require.Equal(t, []event{
		{kind: evState, from: StateLeader, to: StateFollower, term: 1},
		{kind: evLeader, leader: "", term: 1},
	}, got)
}

func TestRaft_InvalidMessagesDropped(t *testing.T) {
	r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.OnLog = func(LogLevel, string) {} })
	r.step(0, Message{Kind: MsgKind(99), From: "b", To: "a", Term: 9})
	r.step(0, Message{Kind: MsgHeartbeat, From: "z", To: "a", Term: 9})
	r.step(0, Message{Kind: MsgHeartbeat, From: "b", To: "x", Term: 9})
	r.step(0, Message{Kind: MsgHeartbeat, From: "a", To: "a", Term: 9})
	require.Zero(t, r.term)
	require.EqualValues(t, 3, r.stats.Dropped[MsgHeartbeat])
	require.NotEmpty(t, r.takeEvents(), "log lines")
}

func TestRaft_HooksRefusalAndFailure(t *testing.T) {
	// Graft's state-machine hook: GrantVote can refuse; a CurrentPosition
	// that fails (or times out, see TestNode_HangingHookIsBounded) skips
	// the campaign and reports it.
	var pos []byte
	r := newTestRaft(t, "a", abc, func(_ *Config, h *hooks) {
		h.grant = func(p []byte) bool { pos = p; return string(p) >= "5" }
	})
	r.step(tMax, Message{Kind: MsgPreVote, From: "b", To: "a", Term: 1, Position: []byte("4")})
	require.False(t, r.sent(MsgPreVoteResp)[0].Granted)
	require.Equal(t, "4", string(pos))
	r.step(tMax, Message{Kind: MsgVote, From: "b", To: "a", Term: 1, Position: []byte("6")})
	require.True(t, r.sent(MsgVoteResp)[0].Granted)

	for _, prevote := range []bool{true, false} {
		f := newTestRaft(t, "a", abc, func(c *Config, h *hooks) {
			c.DisablePreVote = !prevote
			h.position = func() ([]byte, error) { return nil, ErrHookTimeout }
		})
		f.tick(tMax)
		require.Equal(t, roleFollower, f.role)
		require.Zero(t, f.term)
		require.Empty(t, f.takeMsgs())
		ev := f.takeEvents()[0]
		require.Equal(t, evError, ev.kind)
		var he *HookError
		require.ErrorAs(t, ev.err, &he, "the application's hook, not the library, failed")
		require.Equal(t, "CurrentPosition", he.Hook)
		require.ErrorIs(t, ev.err, ErrHookTimeout)
	}
}

func TestRaft_LostElectionsAndPreVotes(t *testing.T) {
	r := newTestRaft(t, "a", abc, nil)
	r.tick(tMax)
	for _, p := range []string{"b", "c"} {
		r.step(tMax, Message{Kind: MsgPreVoteResp, From: p, To: "a", Term: 0})
	}
	require.EqualValues(t, 1, r.stats.PreVotesLost)
	require.Equal(t, roleFollower, r.role)
	r.step(tMax, Message{Kind: MsgPreVoteResp, From: "b", To: "a", Term: 0})
	require.EqualValues(t, 1, r.stats.PreVotesLost, "counted once")

	c := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.DisablePreVote = true })
	c.tick(tMax)
	for _, p := range []string{"b", "c"} {
		c.step(tMax, Message{Kind: MsgVoteResp, From: p, To: "a", Term: 1})
	}
	require.Equal(t, roleFollower, c.role)
	require.EqualValues(t, 1, c.term)
}

func TestRaft_TwoLeadersInOneTermReported(t *testing.T) {
	r := newTestRaft(t, "a", abc, nil)
	r.elect(0)
	r.step(tMax, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1})
	require.Equal(t, roleLeader, r.role)
	require.Equal(t, evError, r.takeEvents()[0].kind)
}

func TestRaft_DisabledCheckQuorumLeaseNeverEnds(t *testing.T) {
	r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.DisableCheckQuorum = true })
	r.elect(0)
	r.tick(time.Hour)
	require.Equal(t, roleLeader, r.role, "TEST ONLY: the flaw the simulator must catch")
	require.Greater(t, r.leaseUntil(), time.Hour)
}

func TestRaft_CandidateAsksAgainBeforeANewTerm(t *testing.T) {
	// Thesis 3.4 leaves the retry to the implementation: a candidate that
	// heard no answer at all asks again once at the same term, so votes
	// still on their way (a slow network, a busy host) are not thrown away
	// by a new term; a late grant then still wins the term.
	r := newTestRaft(t, "a", abc, nil)
	r.tick(tMax)
	for _, m := range r.sent(MsgPreVote) {
		r.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 1, Granted: true})
	}
	require.Equal(t, roleCandidate, r.role)
	require.Len(t, r.sent(MsgVote), 2)

	now := r.electionDeadline
	r.tick(now)
	again := r.sent(MsgVote)
	require.Len(t, again, 2, "asked again")
	require.EqualValues(t, 1, again[0].Term, "at the same term")
	require.EqualValues(t, 1, r.term)

	r.step(now, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1, Granted: true})
	require.Equal(t, roleLeader, r.role, "the late vote wins term 1")
}

func TestRaft_CandidateMovesOnAfterAskingAgain(t *testing.T) {
	// Asking again happens once: the next timeout starts a new campaign
	// (pre-vote for the next term).
	r := newTestRaft(t, "a", abc, nil)
	r.tick(tMax)
	for _, m := range r.sent(MsgPreVote) {
		r.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 1, Granted: true})
	}
	r.tick(r.electionDeadline)
	r.takeMsgs()
	r.tick(r.electionDeadline)
	pre := r.sent(MsgPreVote)
	require.Len(t, pre, 2)
	require.EqualValues(t, 2, pre[0].Term)
}

func TestRaft_LostElectionRetriesSoon(t *testing.T) {
	// A candidate refused by a majority (a split: the votes went to
	// others; voters that hear from a leader do not answer) retries after a
	// short pause, not a whole election timeout; a winner's heartbeat or
	// pre-vote's lease check keeps the retry from disrupting.
	r := newTestRaft(t, "a", abc, nil)
	r.tick(tMax)
	for _, m := range r.sent(MsgPreVote) {
		r.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 1, Granted: true})
	}
	r.step(tMax, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1})
	r.step(tMax, Message{Kind: MsgVoteResp, From: "c", To: "a", Term: 1})
	require.Equal(t, roleFollower, r.role)
	require.Less(t, r.electionDeadline-tMax, tMin, "a retry pause, not an election timeout")
}

func TestRaft_LateVotesStillElect(t *testing.T) {
	// Thesis 3.4: a majority of one term's votes elects. A candidate that
	// moved on to a pre-vote without leaving its term still counts late
	// grants for that term (once per voter), and wins it.
	r := newTestRaft(t, "a", []string{"a", "b", "c", "d", "e"}, nil)
	r.tick(tMax)
	for _, m := range r.sent(MsgPreVote) {
		r.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 1, Granted: true})
	}
	require.Equal(t, roleCandidate, r.role)
	r.tick(r.electionDeadline) // asks again
	r.tick(r.electionDeadline) // moves on: a pre-vote for term 2
	require.Equal(t, rolePreCandidate, r.role)
	require.EqualValues(t, 1, r.term)
	now := r.electionDeadline - time.Millisecond
	r.step(now, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1, Granted: true})
	r.step(now, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1, Granted: true})
	require.Equal(t, rolePreCandidate, r.role, "a duplicated grant counts once")
	r.step(now, Message{Kind: MsgVoteResp, From: "c", To: "a", Term: 1, Granted: true})
	require.Equal(t, roleLeader, r.role, "three of five votes of term 1")
	require.EqualValues(t, 1, r.term)
}

func TestRaft_NoReelectionByLateVoteAfterHandover(t *testing.T) {
	// Thesis 3.10 and 6.4.1 (F1 of issue 12): a leader that handed over
	// must never lead its term again. a wins term 1 with c's vote while
	// b's grant is still in flight (a duplicate, or the grant drawn by
	// "ask again"), holds a lease, hands over to c; b's late grant then
	// re-elected a at term 1 while c, told to campaign, won term 2 with a
	// Transfer vote that bypasses the lease refusal: two leases at once.
	a := newTestRaft(t, "a", abc, nil)
	a.tick(tMax)
	for _, m := range a.sent(MsgPreVote) {
		a.step(tMax, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: m.Term, Granted: true})
	}
	require.Equal(t, roleCandidate, a.role)
	a.takeMsgs()
	a.step(tMax, Message{Kind: MsgVoteResp, From: "c", To: "a", Term: 1, Granted: true})
	require.Equal(t, roleLeader, a.role)
	hb := a.sent(MsgHeartbeat)
	for _, m := range hb {
		a.step(tMax+time.Millisecond, Message{Kind: MsgHeartbeatResp, From: m.To, To: "a", Term: 1, Stamp: m.Stamp, Granted: true})
	}
	require.Positive(t, a.leaseUntil())
	require.NoError(t, a.transferLeadership(tMax+2*time.Millisecond))
	require.Len(t, a.sent(MsgTimeoutNow), 1)

	a.step(tMax+3*time.Millisecond, Message{Kind: MsgVoteResp, From: "b", To: "a", Term: 1, Granted: true})
	require.Equal(t, roleFollower, a.role, "a late grant of the candidacy that already won must not elect a again")
	require.Empty(t, a.sent(MsgHeartbeat))
	require.Zero(t, a.leaseUntil())
}

func TestRaft_StaleHeartbeatEchoFromPreviousProcessIsNoAck(t *testing.T) {
	// Thesis 6.4.1 (F2 of issue 12): SystemClock counts from the process
	// start, so a restarted leader reuses the stamp values of its previous
	// life. b, paused with a term-1 heartbeat of a's first process (stamp
	// 1.2 s) in its inbox, votes for a's second process at term 2 and then
	// answers the old heartbeat: that answer must not extend the new
	// leader's lease, since b did not restart its refusal window for it.
	st := &MemStorage{}
	require.NoError(t, st.Save(HardState{Term: 1, VotedFor: "a"}))
	a := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Storage = st }) // the second process, clock from 0
	b := newTestRaft(t, "b", abc, nil)
	b.follow(0, "a", 1)
	oldHB := Message{Kind: MsgHeartbeat, From: "a", To: "b", Term: 1, Stamp: int64(1200 * time.Millisecond)}

	now := 950 * time.Millisecond
	a.tick(now)
	for _, m := range a.sent(MsgPreVote) {
		a.step(now, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: m.Term, Granted: true})
	}
	for _, m := range a.sent(MsgVote) {
		if m.To == "b" {
			b.step(now, m)
			a.step(now, b.sent(MsgVoteResp)[0])
		}
	}
	require.Equal(t, roleLeader, a.role)
	require.EqualValues(t, 2, a.term)
	a.takeMsgs() // its own heartbeats to b are lost

	b.step(1250*time.Millisecond, oldHB)
	resp := b.sent(MsgHeartbeatResp)
	require.Len(t, resp, 1)
	a.step(1300*time.Millisecond, resp[0])
	require.Zero(t, a.leaseUntil(), "an answer to the previous process's heartbeat is no acknowledgement")
}

func TestRaft_AbsurdTermsAreNotAdopted(t *testing.T) {
	// Issue 18: any uint64 term was adopted, so one heartbeat at 2^64-1
	// from an authenticated peer wedged every node (term+1 wraps to 0, a
	// TimeoutNow then saved term 0: the term went back). A term above
	// MaxTerm, or above the node's own by more than TermWindow, is dropped.
	for _, term := range []uint64{1<<64 - 1, MaxTerm + 1, 3 + TermWindow + 1} {
		for _, kind := range []MsgKind{MsgHeartbeat, MsgTimeoutNow, MsgVote, MsgPreVote, MsgPreVoteResp, MsgVoteResp, MsgHeartbeatResp} {
			r := newTestRaft(t, "a", abc, nil)
			r.follow(0, "b", 3)
			r.step(tHB, Message{Kind: kind, From: "b", To: "a", Term: term})
			require.EqualValues(t, 3, r.term, "%s at term %d", kind, term)
			require.Equal(t, uint64(1), r.stats.Dropped[kind], "%s at term %d is counted as dropped", kind, term)
			hs, _ := r.store.Saved()
			require.EqualValues(t, 3, hs.Term)
		}
	}
	// Within the window a term is adopted as before.
	r := newTestRaft(t, "a", abc, nil)
	r.follow(0, "b", 3)
	r.step(tHB, Message{Kind: MsgHeartbeat, From: "c", To: "a", Term: 3 + TermWindow})
	require.Equal(t, 3+TermWindow, r.term)
}

func TestRaft_NoCampaignBeyondMaxTerm(t *testing.T) {
	// A node at MaxTerm (only reachable through 2^31 hostile messages)
	// reports instead of wrapping its term.
	st := &MemStorage{}
	require.NoError(t, st.Save(HardState{Term: MaxTerm}))
	r := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Storage = st })
	r.tick(2 * tMax)
	require.EqualValues(t, MaxTerm, r.term)
	require.Empty(t, r.sent(MsgPreVote))
	require.NoError(t, st.Save(HardState{Term: 1<<64 - 1}))
	_, err := newRaft(r.cfg, st, simHooks, 1, 0)
	require.ErrorContains(t, err, "above MaxTerm")
}

// leaseEvents returns and clears the lease events of r.
func (r *testRaft) leaseEvents() []event {
	var out []event
	for _, e := range r.takeEvents() {
		if e.kind == evLease {
			out = append(out, e)
		}
	}
	return out
}

func TestRaft_LeaseEvents(t *testing.T) {
	// Issue 13: "acquired" when the first heartbeat of a term is
	// acknowledged by a majority, renewals silent, "lost" at the deadline
	// itself (nextDeadline includes it), once per acquisition.
	a := newTestRaft(t, "a", abc, nil)
	a.elect(0)
	require.Empty(t, a.leaseEvents(), "no lease before an acknowledgement")
	a.tick(tMax + tHB)
	hb := a.sent(MsgHeartbeat)
	a.step(tMax+tHB+time.Millisecond, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: 1, Stamp: hb[0].Stamp, Granted: true})
	ev := a.leaseEvents()
	require.Len(t, ev, 1)
	require.True(t, ev[0].held)
	require.EqualValues(t, 1, ev[0].term)
	require.Equal(t, a.leaseUntil(), ev[0].deadline)

	// A renewal moves the deadline without an event.
	a.tick(tMax + 2*tHB)
	hb = a.sent(MsgHeartbeat)
	a.step(tMax+2*tHB+time.Millisecond, Message{Kind: MsgHeartbeatResp, From: "c", To: "a", Term: 1, Stamp: hb[1].Stamp, Granted: true})
	require.Empty(t, a.leaseEvents())
	deadline := a.leaseUntil()
	require.Greater(t, deadline, ev[0].deadline)

	// No more acknowledgements: the lease ends at its deadline, before
	// check-quorum steps the node down, and the timer is due then.
	for a.nextDeadline() < deadline {
		a.tick(a.nextDeadline())
		a.takeMsgs()
	}
	require.Equal(t, deadline, a.nextDeadline(), "a timer at the deadline itself")
	a.tick(deadline)
	ev = a.leaseEvents()
	require.Len(t, ev, 1)
	require.False(t, ev[0].held)
	require.Equal(t, deadline, ev[0].deadline)
	require.Equal(t, roleLeader, a.role, "still leader until check-quorum, but no lease")
	a.tick(a.quorumStamp() + tMin)
	require.Equal(t, roleFollower, a.role)
	require.Empty(t, a.leaseEvents(), "exactly one loss")
}

func TestRaft_LeaseLostBeforeTheStateChange(t *testing.T) {
	// A step-down, a handover or a higher term end the lease first: the
	// application stops leader work before it hears it is a follower.
	for name, end := range map[string]func(a *testRaft, now time.Duration){
		"handover": func(a *testRaft, now time.Duration) { require.NoError(t, a.transferLeadership(now)) },
		"higher term": func(a *testRaft, now time.Duration) {
			a.step(now, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 9})
		},
		"close": func(a *testRaft, now time.Duration) { a.stop() },
	} {
		a := newTestRaft(t, "a", abc, nil)
		a.elect(0)
		a.tick(tMax + tHB)
		hb := a.sent(MsgHeartbeat)
		now := tMax + tHB + time.Millisecond
		a.step(now, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: 1, Stamp: hb[0].Stamp, Granted: true})
		a.takeEvents()
		end(a, now)
		evs := a.takeEvents()
		var kinds []eventKind
		for _, e := range evs {
			kinds = append(kinds, e.kind)
		}
		require.NotEmpty(t, evs, name)
		require.Equal(t, evLease, evs[0].kind, "%s: the loss comes first: %v", name, kinds)
		require.False(t, evs[0].held, name)
		require.EqualValues(t, 1, evs[0].term, name)
		n := 0
		for _, e := range evs {
			if e.kind == evLease {
				n++
			}
		}
		require.Equal(t, 1, n, name)
	}
}

func TestRaft_EventsCarryTheInstantOfTheirStep(t *testing.T) {
	// Issue 13: each event carries the instant of the step, tick or
	// command that produced it (the `now` given to the core), not that of
	// a later step nor the instant the callback queue took it.
	a := newTestRaft(t, "a", abc, nil)
	a.elect(0) // leader at tMax, its events taken
	beat := tMax + tHB
	a.tick(beat)
	hb := a.sent(MsgHeartbeat)
	require.NotEmpty(t, hb)
	acked := beat + 3*time.Millisecond
	a.step(acked, Message{Kind: MsgHeartbeatResp, From: "b", To: "a", Term: 1, Stamp: hb[0].Stamp, Granted: true})
	evs := a.takeEvents()
	require.Len(t, evs, 1)
	require.Equal(t, evLease, evs[0].kind)
	require.True(t, evs[0].held)
	require.Equal(t, acked, evs[0].at, "acquired: the instant of the acknowledgement that won the lease")

	a.tick(acked + time.Millisecond) // no event: the stamp stays that of its step
	require.Empty(t, a.takeEvents())
	handover := acked + 7*time.Millisecond
	require.NoError(t, a.transferLeadership(handover))
	evs = a.takeEvents()
	require.Len(t, evs, 3, "lost, state, leader")
	for _, e := range evs {
		require.Equal(t, handover, e.at, "event %+v", e)
	}
	require.Equal(t, evLease, evs[0].kind)
	require.False(t, evs[0].held)
}
