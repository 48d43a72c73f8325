package election

import (
	"fmt"
	"iter"
	"time"
)

// The safety properties, checked after every step of every node by both
// the simulator (sim_test.go) and the explorer (explore_test.go), through
// the same code (thesis 3.6.3, 4.2.3, 6.4.1):
//
//   - at most one leader per term (election safety);
//   - no two nodes hold a valid lease at the same real instant, where a
//     node holds a lease from the step at which leaseUntil() exceeds its
//     clock until the real instant its clock reaches leaseUntil, cut short
//     when it stops leading or crashes; a paused node still believes it
//     leads, so a pause does not cut its lease;
//   - a node's term never decreases, across restarts too;
//   - a node never votes for two candidates in one term (checked on every
//     Save, so also across restarts);
//   - memory never runs ahead of the disk: after each step the core's term
//     and vote equal the last saved ones;
//   - a node leads a term at most once: once it stopped leading a term (it
//     handed over, stepped down, lost its quorum or crashed) it never leads
//     that term again. A leader that handed over and is elected again by a
//     late vote of its old candidacy (issue 12, F1) breaks it before any
//     lease overlaps;
//   - a witness never campaigns (issue 16): it stays a follower;
//   - succession (issue 16, checked on what a step sent and on the state
//     after it): a follower that its leader ranked never plans to
//     campaign sooner than ElectionMin + (rank-1)·SuccessionDelay after
//     its last heartbeat; a pre-vote is granted only outside the voter's
//     refusal window (a held one too, answered when the window ends); no
//     TimeoutNow goes to a witness; and a priority handover goes to a node
//     of higher priority than the leader's, no sooner than
//     PriorityStablePeriod after its election (on its clock).
//
// Liveness (a leader within a bound after the faults stop) is checked by
// the schedule runner in sim_test.go.

// nodeFacts is what the invariants remember of one node, across its
// restarts.
type nodeFacts struct {
	maxTerm  uint64        // highest term held in memory so far
	leaseEnd time.Duration // real instant its latest lease ends: it holds one while now < leaseEnd
	leading  uint64        // the term it leads now; 0 when it does not lead
	left     uint64        // the latest term it stopped leading; 0 when none
}

// stepView is one node right after it handled something, as the
// invariants see it.
type stepView struct {
	id    string
	r     *raft
	saved HardState     // what its Storage holds
	now   time.Duration // real time
	local time.Duration // the node's clock at now
	// realAt returns the first real instant, not before now, at which the
	// node's clock reads at least d.
	realAt func(d time.Duration) time.Duration
	// sent is what the step sent; handedOver is set when the step was a
	// priority handover (Stats.PriorityTakeovers grew).
	sent       []Message
	handedOver bool
}

// safety judges steps against the properties above. fail reports a
// violation; dual, when set, takes the reports of overlapping leases
// instead (the tests that show the checker can fail count them).
type safety struct {
	leaders map[uint64]string // term -> the node that led it
	fail    func(format string, args ...any)
	dual    func(holder, other string, term uint64, otherEnd time.Duration)
	// leadAgainOK turns off "a node leads a term at most once" (the
	// explorer's -explore.leadonce=false), to see where a re-election goes.
	leadAgainOK bool
	// config returns a node's configuration by id (its priority, whether
	// it is a witness), for the succession rules; nil skips them.
	config func(id string) (Config, bool)
}

// step checks node v after it handled something and updates its facts f.
// others yields the id and lease end (real time) of every other node.
// It returns true when the node holds a lease after the step.
func (c *safety) step(v stepView, f *nodeFacts, others iter.Seq2[string, time.Duration]) bool {
	r := v.r
	if r.term < f.maxTerm {
		c.fail("node %s: term went back from %d to %d", v.id, f.maxTerm, r.term)
	}
	f.maxTerm = max(f.maxTerm, r.term)
	if r.cfg.Witness && r.role != roleFollower {
		c.fail("node %s is a witness but became %s at term %d", v.id, r.role.state(), r.term)
	}
	if v.saved.Term != r.term || v.saved.VotedFor != r.vote {
		c.fail("node %s: memory (term %d, vote %q) differs from disk (term %d, vote %q)", v.id, r.term, r.vote, v.saved.Term, v.saved.VotedFor)
	}
	if r.role == roleLeader {
		switch l, ok := c.leaders[r.term]; {
		case !ok:
			c.leaders[r.term] = v.id
		case l != v.id:
			c.fail("two leaders in term %d: %s and %s", r.term, l, v.id)
		}
	}
	c.leadsOnce(v.id, r, f)
	c.succession(v)
	lu := r.leaseUntil()
	switch {
	case r.role == roleLeader && lu > v.local:
		for o, end := range others {
			if end > v.now {
				c.dualLease(v.id, o, r.term, end)
			}
		}
		f.leaseEnd = v.realAt(lu)
		return true
	case r.role != roleLeader:
		f.leaseEnd = min(f.leaseEnd, v.now)
	}
	return false
}

// succession checks the rules of issue 16 (succession.go) on node v after
// a step: see the list at the top of this file.
func (c *safety) succession(v stepView) {
	r, cfg := v.r, v.r.cfg
	if r.role == roleFollower && r.rank > 0 && !cfg.Witness {
		earliest := r.leaderContact + cfg.ElectionMin + time.Duration(r.rank-1)*cfg.SuccessionDelay
		if !r.hasContact || r.electionDeadline < earliest {
			c.fail("node %s of rank %d campaigns at %s, before %s (ElectionMin + %d × SuccessionDelay after its last heartbeat at %s)",
				v.id, r.rank, r.electionDeadline, earliest, r.rank-1, r.leaderContact)
		}
	}
	for _, m := range v.sent {
		switch {
		case m.Kind == MsgPreVoteResp && m.Granted && (r.inLease(v.local) || m.Term <= r.term):
			c.fail("node %s granted a pre-vote for term %d to %s at term %d within its refusal window (last heard a leader at %s, now %s)",
				v.id, m.Term, m.To, r.term, r.leaderContact, v.local)
		case m.Kind == MsgTimeoutNow && c.config != nil:
			to, ok := c.config(m.To)
			switch {
			case ok && to.Witness:
				c.fail("node %s handed leadership to the witness %s at term %d", v.id, m.To, m.Term)
			case ok && v.handedOver && to.Priority <= r.priority():
				c.fail("node %s of priority %d handed leadership over for priority to %s of priority %d", v.id, r.priority(), m.To, to.Priority)
			case v.handedOver && v.local-r.electedAt < cfg.PriorityStablePeriod:
				c.fail("node %s handed leadership over for priority %s after its election at term %d, before PriorityStablePeriod (%s)",
					v.id, v.local-r.electedAt, m.Term, cfg.PriorityStablePeriod)
			}
		case cfg.Witness && (m.Kind == MsgPreVote || m.Kind == MsgVote || m.Kind == MsgHeartbeat):
			c.fail("node %s is a witness but sent a %s at term %d", v.id, m.Kind, m.Term)
		}
	}
}

func (c *safety) dualLease(holder, other string, term uint64, otherEnd time.Duration) {
	if c.dual != nil {
		c.dual(holder, other, term, otherEnd)
		return
	}
	c.fail("dual lease: %s (term %d) and %s both hold a lease (%s's ends at %s)", holder, term, other, other, otherEnd)
}

// leadsOnce checks that a node leads each term in one unbroken stretch; r
// is nil when the node has just crashed.
func (c *safety) leadsOnce(id string, r *raft, f *nodeFacts) {
	cur := uint64(0)
	if r != nil && r.role == roleLeader {
		cur = r.term
	}
	if cur == f.leading {
		return
	}
	if f.leading != 0 {
		f.left = f.leading
	}
	if cur != 0 && cur == f.left && !c.leadAgainOK {
		c.fail("node %s leads term %d again after it stopped leading it", id, cur)
	}
	f.leading = cur
}

// crashed updates the facts of a node whose process just stopped at real
// time now: its lease and its leadership end.
func (c *safety) crashed(id string, f *nodeFacts, now time.Duration) {
	f.leaseEnd = min(f.leaseEnd, now)
	c.leadsOnce(id, nil, f)
}

// saveViolation checks one Save of node id: a vote once saved for a term
// (votes, by term) is never replaced or erased, and the saved term never
// decreases. It returns "" when the save is fine.
func saveViolation(id string, prev, next HardState, votes map[uint64]string) string {
	if next.Term < prev.Term {
		return fmt.Sprintf("node %s saved term %d after term %d", id, next.Term, prev.Term)
	}
	if was, ok := votes[next.Term]; ok && was != "" && was != next.VotedFor {
		return fmt.Sprintf("node %s voted for %s and then %q in term %d", id, was, next.VotedFor, next.Term)
	}
	return ""
}

// invariants is the simulator's checker: safety over the simulated
// cluster, the facts kept on each simNode (and by id for leadership).
type invariants struct {
	s      *sim
	err    error
	safety safety
	lead   map[string]*nodeFacts // leading and left, by node id

	// dualLeases counts overlaps instead of failing when countOnly is set
	// (the tests that show the checker can fail).
	countOnly  bool
	dualLeases int
	firstDual  string
}

func (v *invariants) init(s *sim) {
	v.s = s
	v.lead = map[string]*nodeFacts{}
	v.safety = safety{leaders: map[uint64]string{}, fail: v.fail, dual: v.dual, config: func(id string) (Config, bool) {
		i, ok := s.byID[id]
		if !ok {
			return Config{}, false
		}
		return s.nodes[i].cfg.withDefaults(), true
	}}
}

func (v *invariants) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("at %s: %s", v.s.now, fmt.Sprintf(format, args...))
		v.s.tracef("VIOLATION: %v", v.err)
	}
}

func (v *invariants) dual(holder, other string, term uint64, otherEnd time.Duration) {
	if !v.countOnly {
		v.fail("dual lease: %s (term %d) and %s both hold a lease (%s's ends at %s)", holder, term, other, other, otherEnd)
	} else if v.dualLeases++; v.firstDual == "" {
		v.firstDual = fmt.Sprintf("at %s: %s and %s", v.s.now, holder, other)
	}
}

// facts returns the facts of n: its own lease end and highest term, and
// the leadership the invariants keep for it.
func (v *invariants) facts(n *simNode) *nodeFacts {
	f := v.lead[n.id]
	if f == nil {
		f = &nodeFacts{}
		v.lead[n.id] = f
	}
	f.maxTerm, f.leaseEnd = n.maxTerm, n.leaseEnd
	return f
}

// check runs after node n handled something and sent msgs.
func (v *invariants) check(n *simNode, msgs []Message) {
	now := v.s.now
	hs, _ := n.store.Saved()
	view := stepView{
		id: n.id, r: n.r, saved: hs, now: now, local: n.local(now),
		realAt: func(d time.Duration) time.Duration { return n.realAt(now, d) },
		sent:   msgs, handedOver: n.r.stats.PriorityTakeovers > n.takeovers,
	}
	n.takeovers = n.r.stats.PriorityTakeovers
	f := v.facts(n)
	held := n.leaseEnd > now
	others := func(yield func(string, time.Duration) bool) {
		for _, o := range v.s.nodes {
			if o != n && !yield(o.id, o.leaseEnd) {
				return
			}
		}
	}
	if v.safety.step(view, f, others) && !held {
		v.s.tracef("%s holds a lease at term %d", n.id, n.r.term)
	}
	n.maxTerm, n.leaseEnd = f.maxTerm, f.leaseEnd
}

// lost cuts the lease and the leadership of a node that crashed.
func (v *invariants) lost(n *simNode) {
	f := v.facts(n)
	v.safety.crashed(n.id, f, v.s.now)
	n.leaseEnd = f.leaseEnd
}

// storageViolation returns the check run on each Save of node n.
func (v *invariants) storageViolation(n *simNode) func(prev, next HardState, votes map[uint64]string) {
	return func(prev, next HardState, votes map[uint64]string) {
		if msg := saveViolation(n.id, prev, next, votes); msg != "" {
			v.fail("%s", msg)
		}
	}
}

// simStorage is MemStorage that reports each save to the invariants and
// remembers every vote ever saved, by term.
type simStorage struct {
	MemStorage
	votes map[uint64]string
	fail  func(prev, next HardState, votes map[uint64]string)
	saves int // successful saves, for the simulator's save time
}

func (s *simStorage) Save(hs HardState) error {
	prev, _ := s.Saved()
	if err := s.MemStorage.Save(hs); err != nil {
		return err
	}
	s.saves++
	s.fail(prev, hs, s.votes)
	if hs.VotedFor != "" {
		s.votes[hs.Term] = hs.VotedFor
	}
	return nil
}
