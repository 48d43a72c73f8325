package election

import (
	"fmt"
	"time"
)

// Liveness, as the simulator checks it after a schedule's faults stop.
// The heal (sim.healAll) restarts every node, ends every fault and drops
// the messages the network held back for seconds; the messages in
// ordinary flight arrive within 200 ms, by s.quiet. From then on the
// network delivers within a millisecond, and within simLiveBoundTimeouts
// × ElectionMax of the heal a leader must hold a lease that rests on a
// heartbeat sent after s.quiet, at a term no node is beyond, while every
// other node is a plain follower, and keep it for simStableFor: no other
// node leads, no node moves to a newer term, and the leader renews its
// lease before it runs out, every time. (A lease from before s.quiet may
// rest on a heartbeat that no node got since, so it may run out, or
// check-quorum may end it, before the next heartbeat is answered; a node
// that raised its term during the faults deposes a leader of an older
// term as soon as they talk; a pre-vote that a paused node started as it
// resumed at the heal, granted by voters that had not heard from a leader
// yet, may still win against a leader elected at the same moment: no
// fault of the healed cluster.) A cluster that elects a leader and then loses
// it again (a stale candidate deposing it, a lease that lapses between
// heartbeats, a leader that flaps) fails, where a check of one instant
// would pass.

// simLiveBoundTimeouts is the liveness bound: once every fault has
// stopped, some node holds a lease within this many ElectionMax.
const simLiveBoundTimeouts = 10

// simStableFor is how long the first leader after the heal must keep its
// lease: 10 ElectionMin at the default timings, enough for the election
// timeout of a node that did not hear from it to expire several times.
const simStableFor = 3 * time.Second

// simLiveness watches a run from its quiet instant on: when the first
// lease came, and the first sign that it did not last.
type simLiveness struct {
	s      *sim
	healed time.Duration
	// leader is the first node whose lease rests on a heartbeat sent
	// after s.quiet, at a term no node is beyond, while the others all
	// follow; term is that term and
	// at when it was first seen holding that lease; until is the real
	// instant that lease, as last seen, ends.
	leader *simNode
	term   uint64
	at     time.Duration
	until  time.Duration
	err    error
	// takeovers is the leader's PriorityTakeovers when it was first seen;
	// handovers counts the priority handovers by watched leaders (each to
	// a node of higher priority, so at most one fewer than the nodes),
	// after which the watch starts again with the next lease.
	takeovers uint64
	handovers int
	// floor is the priority of the leader that last handed over for
	// priority: the next leader's must be higher.
	floor uint32
}

// step runs after every activation of node n.
func (l *simLiveness) step(n *simNode) {
	s := l.s
	if !s.healed || s.now < s.quiet || l.err != nil {
		return
	}
	if l.leader == nil {
		if n.leaseEnd > s.now && n.r.quorumStamp() >= n.local(s.quiet) && s.settled(n) {
			l.leader, l.term, l.at, l.until = n, n.r.term, s.now, n.leaseEnd
			l.takeovers = n.r.stats.PriorityTakeovers
			if l.handovers > 0 && n.r.priority() <= l.floor {
				l.fail("it took over from a leader of priority %d with its own %d", l.floor, n.r.priority())
			}
		}
		return
	}
	switch {
	case n == l.leader && n.r.role != roleLeader && n.r.stats.PriorityTakeovers > l.takeovers:
		// A handover to a node of higher priority: watch the next lease.
		l.handovers++
		l.floor = n.r.priority()
		l.leader = nil
		if l.handovers >= len(s.nodes) {
			l.fail("%d priority handovers since the heal", l.handovers)
		}
	case n != l.leader && n.r.role == roleLeader:
		l.fail("node %s leads term %d", n.id, n.r.term)
	case n.r.term > l.term:
		l.fail("node %s moved to term %d (%s)", n.id, n.r.term, n.r.role.state())
	case n == l.leader && n.r.role != roleLeader:
		l.fail("the leader is %s now", n.r.role.state())
	case n == l.leader && n.leaseEnd > l.until:
		if l.until <= s.now {
			l.fail("its lease ran out at %s and came back only now", l.until)
		}
		l.until = n.leaseEnd
	}
}

func (l *simLiveness) fail(format string, args ...any) {
	l.err = fmt.Errorf("liveness: %s held the lease at term %d at %s (heal at %s, quiet from %s), but at %s %s",
		l.leader.id, l.term, l.at, l.healed, l.s.quiet, l.s.now, fmt.Sprintf(format, args...))
}

// settle runs s through its heal at healed (scheduled by the caller) and
// checks liveness. It returns the time from the heal to the lease it
// checked, the first that rests on a heartbeat sent after the quiet
// instant, at a term no node is beyond, the others following.
func settle(s *sim, healed time.Duration) (time.Duration, error) {
	l := &simLiveness{s: s, healed: healed}
	s.watch(l.step)
	first := time.Duration(-1)
	from := healed
	for {
		bound := from + simLiveBoundTimeouts*s.nodes[0].cfg.ElectionMax
		for l.leader == nil && s.now < bound && l.err == nil {
			if err := s.run(min(max(s.now+100*time.Millisecond, healed), bound)); err != nil {
				return -1, err
			}
		}
		if l.err != nil {
			return -1, l.err
		}
		if l.leader == nil {
			return -1, fmt.Errorf("liveness: no node held a lease on a heartbeat sent after %s at the highest term, the others following, within %d × ElectionMax (%s) of the heal at %s (or of a priority handover at %s)",
				s.quiet, simLiveBoundTimeouts, bound-from, healed, from)
		}
		if first < 0 {
			first = l.at
		}
		handovers := l.handovers
		if err := s.run(l.at + simStableFor); err != nil {
			return -1, err
		}
		if l.handovers == handovers || l.err != nil {
			break
		}
		from = s.now // a priority handover: the next leader's watch
	}
	if l.err == nil && l.until <= s.now {
		l.fail("its lease had run out at %s", l.until)
	}
	return first - healed, l.err
}

// settled reports whether every other running node is a follower (not a
// pre-candidate) at a term not beyond the leader's.
func (s *sim) settled(leader *simNode) bool {
	for _, n := range s.nodes {
		if n != leader && n.up && (n.r.role != roleFollower || n.r.term > leader.r.term) {
			return false
		}
	}
	return true
}
