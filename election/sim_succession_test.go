package election

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Families aimed at ranked succession, priority and witnesses (issue 16):
// the nodes get mixed priorities and, in some schedules, witnesses, and
// the faults hit the successors: the leader's first successor crashed with
// the leader, partitioned, paused, or behind (its leader's heartbeats cut
// or every heartbeat held back, so it keeps an old rank and contact). The priority family also shortens
// PriorityStablePeriod to ElectionMax, so that priority handovers happen
// in the middle of the faults, on top of StepDown handovers. The
// invariants add that a witness never campaigns (safety.step), and the
// liveness check accepts a priority handover by the leader it watches
// only to a node of higher priority (simLiveness).

// successionConfig returns a per-node configuration for a cluster of
// nodes: priorities 1-3 or all equal, and with chance witness up to a
// minority-1 of witnesses (at least one node can lead, and a majority
// without the witnesses would still need one of them).
func successionConfig(pick *rand.Rand, nodes int, witness float64) (func(i int, c *Config), string) {
	prios := make([]uint32, nodes)
	equal := pick.IntN(4) == 0
	for i := range prios {
		prios[i] = 1
		if !equal {
			prios[i] = uint32(1 + pick.IntN(3))
		}
	}
	witnesses := map[int]bool{}
	if pick.Float64() < witness {
		for k := 1 + pick.IntN((nodes-1)/2); len(witnesses) < k; {
			witnesses[pick.IntN(nodes)] = true
		}
	}
	desc := fmt.Sprintf("priorities %v, witnesses %d", prios, len(witnesses))
	return func(i int, c *Config) {
		c.Priority, c.Witness = prios[i], witnesses[i]
	}, desc
}

// successor returns the running first successor of the current leader, or
// nil.
func (s *sim) successor() *simNode {
	l := s.leader()
	if l == nil || l.r == nil || l.r.stats.Successor == "" {
		return nil
	}
	n := s.nodes[s.byID[l.r.stats.Successor]]
	if !n.up {
		return nil
	}
	return n
}

// armSuccession: faults aimed at the leader's first successor, every
// 300-1200 ms: crashed together with the leader (both restart within a
// second), cut off both ways or outgoing only, paused around the lease,
// cut off from the leader only, or, with every other node, fed heartbeats
// late (held back 50-400 ms, so that it campaigns on an old contact with
// an old rank).
func armSuccession(s *sim, pick *rand.Rand, end time.Duration) string {
	cfg := s.nodes[0].cfg
	s.every(300*time.Millisecond, 1200*time.Millisecond, end, func() {
		n := s.successor()
		if n == nil {
			return
		}
		switch s.rng.IntN(6) {
		case 0:
			l := s.leader()
			s.tracef("%s crashes with its successor %s", l.id, n.id)
			s.crash(n)
			s.crash(l)
			for _, x := range []*simNode{n, l} {
				s.at(s.now+between(s.rng, 0, time.Second), func() { s.restart(x) })
			}
		case 1:
			s.isolate(n)
			s.at(s.now+between(s.rng, cfg.ElectionMin/2, 2*cfg.ElectionMax), func() {
				for _, o := range s.nodes {
					delete(s.cut, [2]int{n.idx, o.idx})
					delete(s.cut, [2]int{o.idx, n.idx})
				}
			})
		case 2:
			s.cutOutbound(n, between(s.rng, cfg.ElectionMin/2, 2*cfg.ElectionMax))
		case 3:
			s.pause(n, between(s.rng, cfg.ElectionMin*8/10, cfg.ElectionMax*2))
		case 4:
			// Behind: it no longer hears the leader, the others do.
			link := [2]int{s.leader().idx, n.idx}
			s.cut[link] = true
			s.at(s.now+between(s.rng, cfg.ElectionMin/2, 2*cfg.ElectionMax), func() { delete(s.cut, link) })
		default:
			s.late, s.holdBack = 0.5, 0.8
			s.lateMin, s.lateMax = 50*time.Millisecond, 400*time.Millisecond
			s.lateKinds = []MsgKind{MsgHeartbeat}
			s.at(s.now+between(s.rng, 200*time.Millisecond, time.Second), func() { s.late = 0 })
		}
	})
	leaderToo := oneOf(pick, 0.0, 0.5)
	if leaderToo > 0 {
		s.every(500*time.Millisecond, 1500*time.Millisecond, end, func() {
			if l := s.leader(); l != nil && s.rng.Float64() < leaderToo {
				s.crash(l)
				s.at(s.now+between(s.rng, 0, 500*time.Millisecond), func() { s.restart(l) })
			}
		})
	}
	return fmt.Sprintf("successor faults, leader crashes %g, %s", leaderToo, backgroundHandovers(s, pick))
}

// armPriority: the stable period shortened to ElectionMax, so that leaders
// of low priority hand over within the faults, with StepDown handovers,
// pauses and the leader's crashes on top.
func armPriority(s *sim, pick *rand.Rand, end time.Duration) string {
	s.dup = oneOf(pick, 0, 0.1)
	s.every(400*time.Millisecond, 1500*time.Millisecond, end, func() {
		n := s.target()
		if s.rng.IntN(2) == 0 {
			s.pause(n, between(s.rng, n.cfg.ElectionMin/2, 2*n.cfg.ElectionMax))
			return
		}
		s.crash(n)
		s.at(s.now+between(s.rng, 0, 500*time.Millisecond), func() { s.restart(n) })
	})
	return fmt.Sprintf("dup %g, %s", s.dup, backgroundHandovers(s, pick))
}

// successionSetup gives a family's cluster its priorities and witnesses;
// with short, PriorityStablePeriod is ElectionMax (the least allowed).
func successionSetup(short bool) func(pick *rand.Rand, o *simOptions) string {
	return func(pick *rand.Rand, o *simOptions) string {
		per, desc := successionConfig(pick, o.nodes, 0.5)
		if short {
			o.cfg.PriorityStablePeriod = o.cfg.ElectionMax
			desc += ", stable period ElectionMax"
		}
		o.nodeCfg = per
		return desc
	}
}
