package election

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Adversarial review of issue 16 (ranked succession, priority handover,
// witnesses; succession.go): schedules aimed at the new rules, on the real
// core, in the simulator and with the core driven by hand.

// witnessCluster returns the simulator options of a cluster of nodes
// whose nodes at the indexes in witnesses are witnesses.
func witnessCluster(nodes int, witnesses ...int) simOptions {
	return simOptions{nodes: nodes, cfg: DefaultConfig(), drift: DefaultMaxClockDrift, nodeCfg: func(i int, c *Config) {
		for _, w := range witnesses {
			c.Witness = c.Witness || i == w
		}
	}}
}

// advSeeds is how many seeds a test of this file runs: n, a quarter
// under -race (ten times slower).
func advSeeds(n int) int {
	if raceEnabled {
		return max(n/4, 1)
	}
	return n
}

func TestAdversary_WitnessClimbsTowardsAPeerPushedApart(t *testing.T) {
	// Issue 18's attack with a witness among the honest nodes: a hostile
	// peer pushes a data node beyond the term window, then falls silent.
	// The honest nodes reunite because the lower one climbs after a
	// campaign that failed for want of answers (raft.climb); a witness
	// never campaigns, so it never climbed, and a data node and a witness,
	// a majority of 3, never elected again (found by this review: "no
	// lease within 20s: terms n1=4294967298 n3=1", every seed). It now
	// learns the pushed node's height from its pre-votes and climbs after
	// an election timeout without a leader (noteAhead). With a leader at
	// the lower height it stays there: the cluster must not follow the
	// pushed node while it does not need it.
	w := TermWindow
	cases := []struct {
		name      string
		nodes     int
		witnesses []int
		hostile   int
		pushes    []termPush
		// second, if >= 0, is an honest data node at the lower height
		// that leads first and then crashes: the rest needs the pushed
		// node and the witnesses.
		second int
	}{
		{"the data node pushed up, the witness below", 3, []int{2}, 1, []termPush{{0, MsgTimeoutNow, w}}, -1},
		{"the data node pushed up by heartbeats", 3, []int{2}, 1, []termPush{{0, MsgHeartbeat, w}, {0, MsgHeartbeat, w}}, -1},
		{"the witness pushed up", 3, []int{2}, 1, []termPush{{2, MsgHeartbeat, w}}, -1},
		{"5 nodes, 2 witnesses below, the other data node leads then crashes", 5, []int{3, 4}, 2, []termPush{{0, MsgTimeoutNow, w}}, 1},
		{"5 nodes, both witnesses pushed up", 5, []int{3, 4}, 2, []termPush{{3, MsgHeartbeat, w}, {4, MsgTimeoutNow, w}}, -1},
	}
	seeds := advSeeds(30)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var worst time.Duration
			ran := 0
			for seed := range uint64(seeds) {
				s := newSim(seed+1, witnessCluster(tc.nodes, tc.witnesses...))
				require.NoError(t, s.run(2*time.Second))
				require.NotNil(t, s.leader(), "seed %d: no leader before the attack", seed)
				if tc.second >= 0 && s.leader() != s.nodes[tc.second] {
					continue // the schedule needs that node to lead at first
				}
				pushed := pushTerms(s, s.nodes[tc.hostile], tc.pushes)
				s.crash(s.nodes[tc.hostile])
				for id, term := range pushed {
					require.Greater(t, term, TermWindow, "seed %d: %s was not pushed", seed, id)
				}
				if tc.second >= 0 {
					// The witnesses hear the pushed node's pre-votes but
					// keep following the leader below.
					l, term := s.leader(), s.leader().r.term
					_, err := reunion(s, 20*time.Second)
					require.NoError(t, err, "seed %d", seed)
					require.Same(t, l, s.leader(), "seed %d: the leader below lost its lease", seed)
					require.Equal(t, term, l.r.term, "seed %d: the witnesses followed the pushed node", seed)
					s.crash(s.nodes[tc.second])
				}
				took, err := reunion(s, 20*time.Second)
				require.NoError(t, err, "seed %d (pushed: %v)", seed, pushed)
				require.Greater(t, s.leader().r.term, TermWindow, "seed %d", seed)
				worst = max(worst, took)
				ran++
			}
			require.Positive(t, ran, "no seed had the schedule")
			t.Logf("%s: a lasting lease %s after the attack at worst (%d of %d seeds)", tc.name, worst, ran, seeds)
		})
	}
}

func TestSafety_SuccessionRulesCanFail(t *testing.T) {
	// The succession invariants (safety.succession) on steps made up to
	// break each rule, and on the same steps within it: each can fail.
	cfgs := map[string]Config{"a": {Priority: 1}, "b": {Priority: 2}, "c": {Witness: true}}
	cases := []struct {
		name  string
		setup func(r *testRaft, v *stepView)
		bad   string // "" when the step keeps every rule
	}{
		{"ranked follower waits its slot", func(r *testRaft, v *stepView) {
			r.follow(0, "b", 1)
			r.setRank(2)
			r.electionDeadline = tMin + tDelta
		}, ""},
		{"ranked follower campaigns a delay early", func(r *testRaft, v *stepView) {
			r.follow(0, "b", 1)
			r.setRank(2)
			r.electionDeadline = tMin + tDelta - 1
		}, "campaigns at"},
		{"pre-vote granted after the window", func(r *testRaft, v *stepView) {
			r.follow(0, "b", 1)
			v.local = tMin
			v.sent = []Message{{Kind: MsgPreVoteResp, To: "c", Term: 2, Granted: true}}
		}, ""},
		{"pre-vote granted inside the window", func(r *testRaft, v *stepView) {
			r.follow(0, "b", 1)
			v.local = tMin - 1
			v.sent = []Message{{Kind: MsgPreVoteResp, To: "c", Term: 2, Granted: true}}
		}, "within its refusal window"},
		{"handover to a witness", func(r *testRaft, v *stepView) {
			v.sent = []Message{{Kind: MsgTimeoutNow, To: "c", Term: 1}}
		}, "to the witness"},
		{"priority handover up, after the stable period", func(r *testRaft, v *stepView) {
			v.local, v.handedOver = r.cfg.PriorityStablePeriod, true
			v.sent = []Message{{Kind: MsgTimeoutNow, To: "b", Term: 1}}
		}, ""},
		{"priority handover too soon", func(r *testRaft, v *stepView) {
			v.local, v.handedOver = r.cfg.PriorityStablePeriod-1, true
			v.sent = []Message{{Kind: MsgTimeoutNow, To: "b", Term: 1}}
		}, "before PriorityStablePeriod"},
		{"priority handover down", func(r *testRaft, v *stepView) {
			r.cfg.Priority = 3
			v.local, v.handedOver = r.cfg.PriorityStablePeriod, true
			v.sent = []Message{{Kind: MsgTimeoutNow, To: "b", Term: 1}}
		}, "of priority 3 handed leadership over for priority to b of priority 2"},
		{"a witness campaigns", func(r *testRaft, v *stepView) {
			r.cfg.Witness = true
			v.sent = []Message{{Kind: MsgPreVote, To: "b", Term: 2}}
		}, "is a witness but sent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestRaft(t, "a", abc, nil)
			v := stepView{id: "a", r: tr.raft}
			tc.setup(tr, &v)
			got := ""
			c := safety{fail: func(format string, args ...any) { got += fmt.Sprintf(format, args...) },
				config: func(id string) (Config, bool) { c, ok := cfgs[id]; return c.withDefaults(), ok }}
			c.succession(v)
			if tc.bad == "" {
				require.Empty(t, got)
			} else {
				require.Contains(t, got, tc.bad)
			}
		})
	}
}

// oddTimings draws the timings the families never vary: Heartbeat 10-100
// ms, ElectionMin 3-6 heartbeats, ElectionMax 1.1-3 ElectionMin, a
// SuccessionDelay from 1 ms to the longest Validate allows (longer than a
// heartbeat, so that a held pre-vote is held again at each heartbeat), and
// a stable period of ElectionMax or the default.
func oddTimings(pick *rand.Rand, nodes int) (Config, string) {
	cfg := DefaultConfig()
	cfg.Heartbeat = oneOf(pick, 10*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond)
	cfg.ElectionMin = cfg.Heartbeat * time.Duration(oneOf(pick, 3, 4, 6))
	cfg.ElectionMax = time.Duration(float64(cfg.ElectionMin) * oneOf(pick, 1.1, 1.5, 3))
	longest := (cfg.ElectionMax - cfg.ElectionMin - 1) / time.Duration(nodes-1)
	cfg.SuccessionDelay = min(longest, oneOf(pick, time.Millisecond, cfg.Heartbeat/2, cfg.Heartbeat, 2*cfg.Heartbeat, longest))
	cfg.PriorityStablePeriod = oneOf(pick, cfg.ElectionMax, 5*cfg.ElectionMax)
	cfg.HookTimeout = cfg.Heartbeat
	return cfg, fmt.Sprintf("heartbeat %s, election %s-%s, succession delay %s, stable %s",
		cfg.Heartbeat, cfg.ElectionMin, cfg.ElectionMax, cfg.SuccessionDelay, cfg.PriorityStablePeriod)
}

// runOddTimings runs schedule seed: the succession or priority family's
// faults at odd timings, with priorities and witnesses, drift up to 20%,
// random faults on top half the time, then the heal and liveness.
func runOddTimings(seed uint64, trace bool) (*sim, simResult, error) {
	pick := simPick(seed, famSalt("odd-timings"))
	res := simResult{
		nodes:     oneOf(pick, 3, 5, 7),
		drift:     oneOf(pick, 0, 0.01, 0.05, 0.2),
		faults:    between(pick, 2*time.Second, 6*time.Second),
		recovered: -1,
	}
	cfg, timings := oddTimings(pick, res.nodes)
	cfg.Seed = seed
	o := simOptions{nodes: res.nodes, cfg: cfg, drift: res.drift, trace: trace, freshStart: pick.IntN(2) == 0}
	per, desc := successionConfig(pick, res.nodes, 0.5)
	o.nodeCfg = per
	s := newSim(seed, o)
	if c := s.nodes[0].cfg; true {
		c.Storage = s.nodes[0].store
		if err := c.Validate(); err != nil {
			return s, res, err // the draw must stay within what Validate allows
		}
	}
	s.delayMin, s.delayMax = 200*time.Microsecond, max(cfg.Heartbeat/oneOf(pick, time.Duration(10), 2), time.Millisecond)
	s.freshClock = oneOf(pick, 0, 0.5)
	arm := oneOf(pick, armSuccession, armPriority)
	res.desc = fmt.Sprintf("%s, %s, delays up to %s, %s", timings, desc, s.delayMax, arm(s, pick, res.faults))
	if pick.IntN(2) == 0 {
		s.randomFaults(0, res.faults, 1300*time.Millisecond)
		res.desc += ", random faults"
	}
	s.at(res.faults, s.healAll)
	var err error
	res.recovered, err = settle(s, res.faults)
	res.steps = s.steps
	if err != nil {
		err = fmt.Errorf("%s: %w", res.desc, err)
	}
	return s, res, err
}

func TestAdversary_SuccessionAtOddTimings(t *testing.T) {
	// The succession and priority families' faults (the first successor
	// crashed with the leader, cut off, paused, behind; priority handovers
	// within the faults) at timings the families never try, drift up to
	// 20%: the invariants after every step (safety.succession included),
	// liveness after the heal.
	if *simSeed != 0 {
		replayOne(t, "odd-timings", *simSeed, oddHint, func(trace bool) (*sim, simResult, error) { return runOddTimings(*simSeed, trace) })
		return
	}
	count := advSeeds(600)
	if *simSchedules > 0 {
		count = *simSchedules
	}
	b := runBatch(*simFirst, count, func(seed uint64) (simResult, error) {
		_, res, err := runOddTimings(seed, false)
		return res, err
	})
	b.report(t, "odd-timings", oddHint)
}

func oddHint(seed uint64) string {
	return fmt.Sprintf("replay: go test ./election/ -run 'TestAdversary_SuccessionAtOddTimings$' -sim.seed=%d -v", seed)
}

// setRate makes n's clock run at rate from now on, reading on from where
// it is.
func (s *sim) setRate(n *simNode, rate float64) {
	at := n.local(s.now)
	n.rate = rate
	n.offset = at - time.Duration(float64(s.now)*rate)
}

func TestAdversary_SuccessorCutFromItsLeaderNeverDeposesIt(t *testing.T) {
	// Thesis 9.6 with ranks: a healthy leader (a majority hears it) whose
	// first successor, and in 5-node clusters one more follower, stop
	// hearing its heartbeats (the link cut one way; now and then an old
	// heartbeat of the leader's, rank 1, arrives seconds late) while they
	// still reach everyone else. The
	// successor campaigns at ElectionMin after its last heartbeat, with the
	// fastest clock the drift bound allows (the others at the slowest), and
	// the voters hold its pre-votes near their window's end instead of
	// refusing them (with a SuccessionDelay longer than a heartbeat, every
	// one of them, again at each heartbeat). The leader must keep its term
	// and its lease throughout.
	seeds := advSeeds(200)
	modes := []string{"cut", "stale heartbeats"}
	deposed := 0
	for seed := range uint64(seeds) {
		pick := simPick(seed, famSalt("successor-cut"))
		nodes := oneOf(pick, 3, 5)
		cfg, timings := oddTimings(pick, nodes)
		drift := oneOf(pick, 0.01, 0.05)
		s := newSim(seed+1, simOptions{nodes: nodes, cfg: cfg, drift: drift})
		s.delayMin, s.delayMax = 200*time.Microsecond, time.Millisecond
		require.NoError(t, s.run(20*cfg.ElectionMax))
		l := s.leader()
		require.NotNil(t, l, "seed %d: no leader", seed)
		succ := s.successor()
		require.NotNil(t, succ, "seed %d: no successor", seed)
		mode := modes[pick.IntN(len(modes))]
		deaf := []*simNode{succ}
		if nodes == 5 {
			for _, n := range s.nodes {
				if n != l && n != succ {
					deaf = append(deaf, n)
					break
				}
			}
		}
		for _, n := range s.nodes {
			s.setRate(n, 1-drift)
		}
		s.setRate(succ, 1+drift)
		term := l.r.term
		var lost string
		s.watch(func(n *simNode) {
			if lost == "" && (n.r.role == roleLeader && n != l || n == l && (n.r.role != roleLeader || n.r.term != term)) {
				lost = fmt.Sprintf("at %s %s is %s at term %d", s.now, n.id, n.r.role.state(), n.r.term)
			}
		})
		for _, n := range deaf {
			s.cut[[2]int{l.idx, n.idx}] = true
		}
		away := between(s.rng, 2*cfg.ElectionMax, 10*cfg.ElectionMax)
		if mode == "stale heartbeats" {
			// Now and then one of the leader's heartbeats, with its old
			// stamp and rank, seconds late (the deaf campaign between).
			var old []Message
			s.watch(func(n *simNode) {
				if n == l && len(old) < 64 && l.r.role == roleLeader {
					for _, d := range deaf {
						old = append(old, Message{Kind: MsgHeartbeat, From: l.id, To: d.id, Term: l.r.term, Stamp: int64(l.local(s.now)), Rank: 1})
					}
				}
			})
			s.every(cfg.ElectionMin/2, 2*cfg.ElectionMin, s.now+away, func() {
				if len(old) > 0 {
					m := old[s.rng.IntN(len(old))]
					s.push(&simEvent{at: s.now, kind: simDeliver, node: s.byID[m.To], msg: m})
				}
			})
		}
		require.NoError(t, s.run(s.now+away), "seed %d", seed)
		clear(s.cut)
		require.NoError(t, s.run(s.now+5*cfg.ElectionMax), "seed %d", seed)
		if lost != "" {
			deposed++
			t.Errorf("seed %d (%d nodes, %s, drift %g, %s): the healthy leader %s of term %d was deposed: %s", seed, nodes, timings, drift, mode, l.id, term, lost)
		}
	}
	t.Logf("%d schedules: the healthy leader deposed %d times", seeds, deposed)
}

func TestRaft_HeldPreVoteIsAnsweredAsAtTheWindowEnd(t *testing.T) {
	// A pre-vote held to the end of the voter's refusal window
	// (deferPreVote) is answered then exactly as if it arrived then: by
	// what the voter knows at that instant, not when it came. a follows b
	// at term 1 (heard at 0); c asks for term 2 a little before a's window
	// ends at tMin; then something happens before tMin; then the window
	// ends.
	cases := []struct {
		name    string
		between func(r *testRaft)
		grant   bool
		term    uint64 // the voter's term afterwards
	}{
		{"nothing: granted", func(r *testRaft) {}, true, 1},
		{"a stale heartbeat of b (sent before 0) restarts the window: refused", func(r *testRaft) {
			r.step(tMin-tDelta/2, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 1, Stamp: -int64(tHB), Rank: 1})
		}, false, 1},
		{"a handover: a new leader at term 2 was heard: refused at term 2", func(r *testRaft) {
			r.step(tMin-tDelta/2, Message{Kind: MsgHeartbeat, From: "b", To: "a", Term: 2, Stamp: 7})
		}, false, 2},
		{"a transfer vote for b at term 2 was granted: refused at term 2", func(r *testRaft) {
			r.step(tMin-tDelta/2, Message{Kind: MsgVote, From: "b", To: "a", Term: 2, Transfer: true})
		}, false, 2},
		{"a TimeoutNow from b: a campaigns at term 2 itself: refused", func(r *testRaft) {
			r.step(tMin-tDelta/2, Message{Kind: MsgTimeoutNow, From: "b", To: "a", Term: 1})
		}, false, 2},
		{"c asks again: one answer, granted", func(r *testRaft) {
			r.step(tMin-tDelta/4, Message{Kind: MsgPreVote, From: "c", To: "a", Term: 2})
		}, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRaft(t, "a", abc, nil)
			r.follow(0, "b", 1)
			r.step(tMin-tDelta, Message{Kind: MsgPreVote, From: "c", To: "a", Term: 2})
			require.Empty(t, r.sent(MsgPreVoteResp), "held")
			tc.between(r)
			r.takeMsgs()
			for now := tMin; now <= tMin+tDelta; now += tDelta / 4 {
				if r.nextDeadline() <= now {
					r.tick(now)
				}
			}
			var answers []Message
			for _, m := range r.sent(MsgPreVoteResp) {
				if m.To == "c" {
					answers = append(answers, m)
				}
			}
			require.Len(t, answers, 1, "one answer to c")
			require.Equal(t, tc.grant, answers[0].Granted)
			require.Equal(t, tc.term, r.term)
			if !tc.grant {
				require.Equal(t, r.term, answers[0].Term, "a refusal carries the voter's term")
			}
		})
	}
}

func TestAdversary_WitnessMajorityFailover(t *testing.T) {
	// The two-site pattern and its 5-node form: the leader (with its first
	// successor, where the rest is still a majority) crashes, and the data
	// node left takes over with the witnesses' votes, at its slot: within
	// ElectionMin + (rank-1)·SuccessionDelay of the crash (on the slowest
	// clock the drift allows) plus round trips, in one election. Witnesses first by id, so that a
	// witness ranked by mistake would take the first slot.
	cases := []struct {
		name      string
		nodes     int
		witnesses []int
		successor bool // crash the first successor too
	}{
		{"2 data nodes and a witness", 3, []int{0}, false},
		{"3 data nodes and 2 witnesses, the successor crashed too", 5, []int{0, 1}, true},
		{"3 data nodes and 2 witnesses", 5, []int{0, 1}, false},
	}
	cfg := DefaultConfig()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var worst time.Duration
			for seed := range uint64(advSeeds(100)) {
				s := newSim(seed+1, witnessCluster(tc.nodes, tc.witnesses...))
				require.NoError(t, s.run(2*time.Second+between(s.rng, 0, time.Second)))
				l := s.leader()
				require.NotNil(t, l, "seed %d", seed)
				require.False(t, l.cfg.Witness, "seed %d: a witness leads", seed)
				succ := s.successor()
				require.NotNil(t, succ, "seed %d", seed)
				require.False(t, succ.cfg.Witness, "seed %d: a witness is the first successor", seed)
				slot := cfg.ElectionMin
				if tc.successor {
					s.crash(succ)
					slot += l.r.cfg.SuccessionDelay
				}
				crashed := s.now
				s.crash(l)
				elections := uint64(0)
				for _, n := range s.nodes {
					if n.up {
						elections += n.r.stats.ElectionsStarted
					}
				}
				var next *simNode
				for next == nil && s.now < crashed+10*cfg.ElectionMax {
					require.NoError(t, s.run(s.now+time.Millisecond), "seed %d", seed)
					next = s.leader()
				}
				require.NotNil(t, next, "seed %d: no leader after the crash", seed)
				require.False(t, next.cfg.Witness, "seed %d", seed)
				took := s.now - crashed
				worst = max(worst, took)
				// The slot on the slowest clock the drift allows, plus
				// three round trips (pre-vote, vote, the first
				// heartbeat) of at most 2 ms and the 1 ms step.
				bound := time.Duration(float64(slot)/(1-DefaultMaxClockDrift)) + 7*time.Millisecond
				require.LessOrEqual(t, took, bound, "seed %d: %s took over after %s", seed, next.id, took)
				for _, n := range s.nodes {
					if n.up {
						elections -= n.r.stats.ElectionsStarted
					}
				}
				require.Equal(t, uint64(1), -elections, "seed %d: one election", seed)
			}
			t.Logf("%s: a new leader within %s of the crash at worst", tc.name, worst)
		})
	}
}

// behindCluster is a cluster of nodes where node 1 has priority 2 and the
// others 1, and every node's GrantVote refuses a candidate whose position
// is below its own: node 1's is "0" while behind is set, the others' "1".
func behindCluster(nodes int, cfg Config, behind *atomic.Bool) simOptions {
	pos := func(i int) string {
		if i == 1 && behind.Load() {
			return "0"
		}
		return "1"
	}
	return simOptions{nodes: nodes, cfg: cfg, drift: DefaultMaxClockDrift,
		nodeCfg: func(i int, c *Config) {
			if i == 1 {
				c.Priority = 2
			}
		},
		nodeHooks: func(i int) hooks {
			return hooks{
				position: func() ([]byte, error) { return []byte(pos(i)), nil },
				grant:    func(p []byte) bool { return string(p) >= pos(i) },
			}
		}}
}

func TestAdversary_PreferredNodeTheVotersRefuse(t *testing.T) {
	// The node of highest priority is behind: the others' GrantVote hooks
	// refuse it. A priority handover to it costs an election it loses.
	// Before, every leader handed over to it each PriorityStablePeriod,
	// for good (3 nodes, 60 s: 23 handovers and a leader 86.7% of the time
	// at the default stable period; 77 and 55.9% at ElectionMax). Now it
	// says it has no preference for a stable period after such a loss,
	// twice as long after each (backoff.go): few handovers, a leader
	// nearly all the time. Once it has caught up, it leads again within
	// the longest pause.
	cases := []struct {
		nodes  int
		stable time.Duration
	}{{3, 0}, {3, DefaultElectionMax}, {5, DefaultElectionMax}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d nodes, stable period %s", tc.nodes, tc.stable), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.PriorityStablePeriod = tc.stable
			stable := cfg.withDefaults().PriorityStablePeriod
			const watch = 60 * time.Second
			worstLed, most := 1.0, uint64(0)
			var slowest time.Duration
			for seed := range uint64(advSeeds(8)) {
				var behind atomic.Bool
				behind.Store(true)
				s := newSim(seed+1, behindCluster(tc.nodes, cfg, &behind))
				require.NoError(t, s.run(2*time.Second))
				start, led := s.now, time.Duration(0)
				for s.now < start+watch {
					require.NoError(t, s.run(s.now+time.Millisecond), "seed %d", seed)
					if s.leader() != nil {
						led += time.Millisecond
					}
				}
				var handovers uint64
				for _, n := range s.nodes {
					handovers += n.r.stats.PriorityTakeovers
				}
				// Pauses of 1, 2, 4 ... stable periods after the first
				// handover: about log2(watch/stable) handovers.
				limit := uint64(math.Log2(float64(watch)/float64(stable))) + 2
				require.LessOrEqual(t, handovers, limit, "seed %d: priority handovers in %s", seed, watch)
				frac := float64(led) / float64(watch)
				require.Greater(t, frac, 0.95, "seed %d: led %.1f%% of the time", seed, 100*frac)
				worstLed, most = min(worstLed, frac), max(most, handovers)

				behind.Store(false) // it caught up
				caught := s.now
				bound := caught + (maxBackoff+2)*stable + 10*cfg.ElectionMax
				for s.leader() != s.nodes[1] && s.now < bound {
					require.NoError(t, s.run(s.now+10*time.Millisecond), "seed %d", seed)
				}
				require.Same(t, s.nodes[1], s.leader(), "seed %d: the preferred node does not lead %s after it caught up", seed, s.now-caught)
				slowest = max(slowest, s.now-caught)
			}
			t.Logf("behind: at most %d priority handovers in %s, a leader %.1f%% of the time at worst; caught up: it leads within %s", most, watch, 100*worstLed, slowest)
		})
	}
}
