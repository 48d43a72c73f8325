package election

import "fmt"

// invariants are the safety properties the simulator checks after every
// step of every node (thesis 3.6.3, 4.2.3, 6.4.1):
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
//     and vote equal the last saved ones.
//
// Liveness (a leader within a bound after the faults stop) is checked by
// the schedule runner in sim_test.go.
type invariants struct {
	s       *sim
	err     error
	leaders map[uint64]string // term -> the node that led it

	// dualLeases counts overlaps instead of failing when countOnly is set
	// (the tests that show the checker can fail).
	countOnly  bool
	dualLeases int
	firstDual  string
}

func (v *invariants) init(s *sim) {
	v.s = s
	v.leaders = map[uint64]string{}
}

func (v *invariants) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("at %s: %s", v.s.now, fmt.Sprintf(format, args...))
		v.s.tracef("VIOLATION: %v", v.err)
	}
}

// check runs after node n handled something.
func (v *invariants) check(n *simNode) {
	r, now := n.r, v.s.now
	if r.term < n.maxTerm {
		v.fail("node %s: term went back from %d to %d", n.id, n.maxTerm, r.term)
	}
	n.maxTerm = max(n.maxTerm, r.term)
	if hs, _ := n.store.Saved(); hs.Term != r.term || hs.VotedFor != r.vote {
		v.fail("node %s: memory (term %d, vote %q) differs from disk (term %d, vote %q)", n.id, r.term, r.vote, hs.Term, hs.VotedFor)
	}
	if r.role == roleLeader {
		if l, ok := v.leaders[r.term]; ok && l != n.id {
			v.fail("two leaders in term %d: %s and %s", r.term, l, n.id)
		}
		v.leaders[r.term] = n.id
	}
	lu, ln := r.leaseUntil(), n.local(now)
	switch {
	case r.role == roleLeader && lu > ln:
		for _, o := range v.s.nodes {
			if o != n && o.leaseEnd > now {
				if !v.countOnly {
					v.fail("dual lease: %s (term %d) and %s both hold a lease (%s's ends at %s)", n.id, r.term, o.id, o.id, o.leaseEnd)
				} else if v.dualLeases++; v.firstDual == "" {
					v.firstDual = fmt.Sprintf("at %s: %s and %s", now, n.id, o.id)
				}
			}
		}
		if n.leaseEnd <= now {
			v.s.tracef("%s holds a lease at term %d", n.id, r.term)
		}
		n.leaseEnd = n.realAt(now, lu)
	case r.role != roleLeader:
		n.leaseEnd = min(n.leaseEnd, now)
	}
}

// lost cuts the lease of a node that crashed.
func (v *invariants) lost(n *simNode) {
	n.leaseEnd = min(n.leaseEnd, v.s.now)
}

// storageViolation returns the check run on each Save of node n: a vote
// once saved for a term is never replaced or erased, and the saved term
// never decreases.
func (v *invariants) storageViolation(n *simNode) func(prev, next HardState, votes map[uint64]string) {
	return func(prev, next HardState, votes map[uint64]string) {
		if next.Term < prev.Term {
			v.fail("node %s saved term %d after term %d", n.id, next.Term, prev.Term)
		}
		if was, ok := votes[next.Term]; ok && was != "" && was != next.VotedFor {
			v.fail("node %s voted for %s and then %q in term %d", n.id, was, next.VotedFor, next.Term)
		}
	}
}

// simStorage is MemStorage that reports each save to the invariants and
// remembers every vote ever saved, by term.
type simStorage struct {
	MemStorage
	votes map[uint64]string
	fail  func(prev, next HardState, votes map[uint64]string)
}

func (s *simStorage) Save(hs HardState) error {
	prev, _ := s.Saved()
	if err := s.MemStorage.Save(hs); err != nil {
		return err
	}
	s.fail(prev, hs, s.votes)
	if hs.VotedFor != "" {
		s.votes[hs.Term] = hs.VotedFor
	}
	return nil
}
