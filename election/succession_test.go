package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Unit tests of ranked succession, priority handover and witnesses (issue
// 16; succession.go). Raft has none of them: each test says the rule.

var abcde = []string{"a", "b", "c", "d", "e"}

const tDelta = DefaultSuccessionDelay

func TestRaft_RankedFollowerCampaignsAtItsSlot(t *testing.T) {
	// A follower of rank r waits ElectionMin + (r-1)·δ after the heartbeat;
	// without a usable rank, a random draw in [ElectionMin, ElectionMax];
	// a witness never.
	cases := []struct {
		name    string
		rank    uint32
		witness bool
		want    time.Duration // -1: random within the bounds
	}{
		{"rank 1 at the floor", 1, false, tMin},
		{"rank 2 one delay later", 2, false, tMin + tDelta},
		{"rank 4 of 4 peers", 4, false, tMin + 3*tDelta},
		{"no rank: random", 0, false, -1},
		{"rank beyond the peers: random", 5, false, -1},
		{"absurd rank: random", MaxRank, false, -1},
		{"witness never", 1, true, never},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newTestRaft(t, "a", abcde, func(cfg *Config, _ *hooks) { cfg.Witness = c.witness })
			now := 10 * time.Second
			r.step(now, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1, Stamp: 1, Rank: c.rank})
			ack := r.sent(MsgHeartbeatResp)
			require.Len(t, ack, 1)
			require.Equal(t, c.witness, ack[0].Witness)
			wait := r.electionDeadline - now
			switch c.want {
			case -1:
				require.Zero(t, r.stats.Rank)
				require.GreaterOrEqual(t, wait, tMin)
				require.LessOrEqual(t, wait, tMax)
			case never:
				require.Equal(t, never, r.electionDeadline)
				require.Equal(t, never, r.nextDeadline())
			default:
				require.Equal(t, c.rank, r.stats.Rank)
				require.Equal(t, c.want, wait)
			}
		})
	}
}

func TestRaft_RankBelongsToTheLeaderOfTheTerm(t *testing.T) {
	// A rank is forgotten with the term it was given in, and with the
	// leader: a new leader's succession starts from nothing.
	cases := []struct {
		name string
		then func(r *testRaft)
	}{
		{"a vote at a higher term", func(r *testRaft) {
			r.step(tMin+tHB, Message{Kind: MsgVote, From: "c", To: "a", Term: 2})
		}},
		{"a heartbeat of a higher term without rank", func(r *testRaft) {
			r.step(tHB, Message{Kind: MsgHeartbeat, From: "c", To: "a", Term: 2, Stamp: 5})
		}},
		{"its own candidacy", func(r *testRaft) {
			r.tick(tMin)
			for _, m := range r.sent(MsgPreVote) {
				r.step(tMin, Message{Kind: MsgPreVoteResp, From: m.To, To: "a", Term: 2, Granted: true})
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newTestRaft(t, "a", abc, nil)
			r.step(0, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1, Stamp: 1, Rank: 1})
			require.EqualValues(t, 1, r.rank)
			r.takeMsgs()
			c.then(r)
			require.Greater(t, r.term, uint64(1))
			require.Zero(t, r.rank)
			require.Zero(t, r.stats.Rank)
		})
	}
}

// leaderOf5 makes a the leader of a, b, c, d, e at tMax with priority
// prio, and returns it with its first heartbeats taken.
func leaderOf5(t *testing.T, prio uint32) *testRaft {
	a := newTestRaft(t, "a", abcde, func(c *Config, _ *hooks) { c.Priority = prio })
	a.elect(0)
	return a
}

// round makes leader a send the heartbeat due at now and answers it from
// every peer in acks with that priority (0 for a witness); it returns the
// ranks the heartbeats carried, by peer.
func (r *testRaft) round(now time.Duration, acks map[string]uint32) map[string]uint32 {
	r.t.Helper()
	r.tick(now)
	ranks := map[string]uint32{}
	for _, hb := range r.sent(MsgHeartbeat) {
		ranks[hb.To] = hb.Rank
		if p, ok := acks[hb.To]; ok {
			r.step(now, Message{Kind: MsgHeartbeatResp, From: hb.To, To: r.id, Term: r.term, Stamp: hb.Stamp,
				Granted: true, Priority: p, Witness: p == 0})
		}
	}
	return ranks
}

func TestRaft_LeaderRanksFollowers(t *testing.T) {
	// The leader ranks the followers that answered one of the last two
	// rounds first, then by priority, then by id; witnesses and peers it
	// never heard from get no rank.
	a := leaderOf5(t, 1)
	acks := map[string]uint32{"b": 1, "c": 3, "d": 0}
	now := tMax
	for i := 1; i <= 3; i++ {
		a.round(now+time.Duration(i)*tHB, acks)
	}
	now += 4 * tHB
	ranks := a.round(now, acks)
	require.Equal(t, map[string]uint32{"b": 2, "c": 1, "d": 0, "e": 0}, ranks)
	require.Equal(t, "c", a.stats.Successor)

	// c stops answering: after two silent rounds it falls behind b.
	delete(acks, "c")
	a.round(now+tHB, acks)
	require.Equal(t, map[string]uint32{"b": 2, "c": 1, "d": 0, "e": 0}, a.round(now+2*tHB, acks), "one missed round changes nothing")
	require.Equal(t, map[string]uint32{"b": 1, "c": 2, "d": 0, "e": 0}, a.round(now+3*tHB, acks))
	require.Equal(t, "b", a.stats.Successor)

	// A witness alone is no successor, and StepDown does not pick it.
	w := leaderOf5(t, 1)
	for i := 1; i <= 3; i++ {
		w.round(tMax+time.Duration(i)*tHB, map[string]uint32{"d": 0})
	}
	require.Empty(t, w.stats.Successor)
	require.ErrorIs(t, w.transferLeadership(tMax+3*tHB), ErrNoTransferTarget)
}

func TestRaft_PriorityHandover(t *testing.T) {
	// A follower of strictly higher priority than the leader's that has
	// answered every round for PriorityStablePeriod, the last included,
	// gets leadership by handover (TimeoutNow), counted in
	// PriorityTakeovers; the highest priority first.
	stable := 5 * tMax
	cases := []struct {
		name   string
		leader uint32
		acks   map[string]uint32
		miss   string        // a peer that misses one round...
		missAt time.Duration // ...this long after the election
		want   string        // "" no handover within the period
	}{
		{"higher priority", 1, map[string]uint32{"b": 2, "c": 1}, "", 0, "b"},
		{"highest wins", 1, map[string]uint32{"b": 2, "c": 3, "d": 3}, "", 0, "c"},
		{"equal priority stays", 2, map[string]uint32{"b": 2, "c": 1}, "", 0, ""},
		{"lower priority stays", 3, map[string]uint32{"b": 2, "c": 1}, "", 0, ""},
		{"a witness never", 1, map[string]uint32{"b": 0, "c": 1}, "", 0, ""},
		{"a missed round restarts the period", 1, map[string]uint32{"b": 2, "c": 1}, "b", stable / 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := leaderOf5(t, c.leader)
			elected := tMax
			var tn []Message
			now := elected
			for now < elected+stable+2*tHB && len(tn) == 0 {
				now += tHB
				acks := c.acks
				if c.miss != "" && now == elected+c.missAt.Truncate(tHB) {
					acks = map[string]uint32{}
					for p, v := range c.acks {
						if p != c.miss {
							acks[p] = v
						}
					}
				}
				a.tick(now)
				for _, m := range a.takeMsgs() {
					switch m.Kind {
					case MsgTimeoutNow:
						tn = append(tn, m)
					case MsgHeartbeat:
						if p, ok := acks[m.To]; ok {
							a.step(now, Message{Kind: MsgHeartbeatResp, From: m.To, To: "a", Term: a.term, Stamp: m.Stamp,
								Granted: true, Priority: p, Witness: p == 0})
						}
					}
				}
			}
			if c.want == "" {
				require.Empty(t, tn)
				require.Equal(t, roleLeader, a.role)
				require.Zero(t, a.stats.PriorityTakeovers)
				return
			}
			require.Len(t, tn, 1)
			require.Equal(t, c.want, tn[0].To)
			require.GreaterOrEqual(t, now-elected, stable, "not before the stable period")
			require.Equal(t, roleFollower, a.role)
			require.Zero(t, a.leaseUntil(), "the lease ends before the TimeoutNow leaves")
			require.EqualValues(t, 1, a.stats.PriorityTakeovers)
			require.EqualValues(t, 1, a.stats.Transfers)
		})
	}
}

func TestRaft_WitnessNeverLeads(t *testing.T) {
	// A witness votes and acknowledges, but never campaigns, not even on a
	// TimeoutNow, not even alone.
	w := newTestRaft(t, "a", abc, func(c *Config, _ *hooks) { c.Witness = true })
	for now := time.Duration(0); now < 20*time.Second; now += 10 * time.Millisecond {
		w.tick(now)
	}
	require.Empty(t, w.sent(MsgPreVote))
	require.Zero(t, w.stats.PreVotesStarted)

	w.step(20*time.Second, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1, Stamp: 7, Rank: 1})
	ack := w.sent(MsgHeartbeatResp)
	require.True(t, ack[0].Granted)
	require.True(t, ack[0].Witness)
	w.step(20*time.Second, Message{Kind: MsgTimeoutNow, From: "b", To: "a", Term: 1})
	require.Equal(t, roleFollower, w.role)
	require.Empty(t, w.sent(MsgVote))
	require.EqualValues(t, 1, w.term)

	w.step(21*time.Second, Message{Kind: MsgVote, From: "c", To: "a", Term: 2})
	resp := w.sent(MsgVoteResp)
	require.True(t, resp[0].Granted, "a witness votes")

	alone := newTestRaft(t, "a", nil, func(c *Config, _ *hooks) { c.Witness = true })
	alone.tick(time.Hour)
	require.Equal(t, roleFollower, alone.role)
	require.Zero(t, alone.term)
}

func TestRaft_PreVoteNearTheWindowEndIsAnsweredAtIt(t *testing.T) {
	// A pre-vote refused only because the refusal window ends within
	// SuccessionDelay is answered when it ends, as if it arrived then: the
	// first successor's clock or heartbeat may be a little ahead.
	cases := []struct {
		name      string
		at        time.Duration
		heartbeat bool // the leader is heard again meanwhile
		deferred  bool
		grant     bool
	}{
		{"within the delay: granted at the end", tMin - tDelta, false, true, true},
		{"just before the end: granted at the end", tMin - 1, false, true, true},
		{"earlier: refused at once", tMin - tDelta - 1, false, false, false},
		{"after the end: granted at once", tMin, false, false, true},
		{"the leader came back: refused at the end", tMin - tDelta/2, true, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newTestRaft(t, "a", abc, nil)
			r.follow(0, "b", 1)
			r.step(c.at, Message{Kind: MsgPreVote, From: "c", To: "a", Term: 2})
			resp := r.sent(MsgPreVoteResp)
			if !c.deferred {
				require.Len(t, resp, 1)
				require.Equal(t, c.grant, resp[0].Granted)
				return
			}
			require.Empty(t, resp)
			require.Equal(t, tMin, r.nextDeadline())
			if c.heartbeat {
				r.step(c.at+1, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1, Stamp: 9})
				r.takeMsgs()
			}
			r.tick(tMin)
			resp = r.sent(MsgPreVoteResp)
			require.Len(t, resp, 1)
			require.Equal(t, c.grant, resp[0].Granted)
			require.EqualValues(t, 1, r.term, "a pre-vote never changes the voter's term")
		})
	}
}
