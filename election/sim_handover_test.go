package election

import "time"

// Handovers aimed at the risky moments of a term: a leader hands over
// (StepDown: transferLeadership) as soon as it can, as soon as it holds a
// lease, or a few heartbeats into its term, while the votes and
// acknowledgements of its election are still in flight. Close on a leader
// is a handover too: the node keeps running until its successor's term
// reaches it or ElectionMin passes (Node.Close waits so), then its
// process stops.

// simHandoverWhen is the moment of a term at which its leader hands over.
type simHandoverWhen uint8

const (
	// handoverASAP tries as soon as the node leads, and at each of its
	// steps after that: transferLeadership has no target before the first
	// acknowledgement, so it happens at the first one.
	handoverASAP simHandoverWhen = iota
	// handoverLease hands over at the first step at which it holds a lease.
	handoverLease
	// handoverLater hands over a random 0-3 heartbeats into the term.
	handoverLater
)

// simHandovers makes leaders hand over at a chosen moment of their terms
// until the heal.
type simHandovers struct {
	when  simHandoverWhen
	each  float64 // chance that a term's leader hands over
	close float64 // chance that the handover is a Close
	// restartIn bounds when a closed node's new process starts (uniform,
	// from the stop).
	restartIn time.Duration
}

// simTermPlan is what a node will do in the term it leads.
type simTermPlan struct {
	term    uint64
	hand    bool          // it will hand over
	due     time.Duration // real instant (handoverLater)
	pending bool          // an attempt is scheduled
}

// handovers starts the driver on s.
func (s *sim) handovers(h simHandovers) {
	plans := make([]simTermPlan, len(s.nodes))
	// closing is, per node, the term it handed over in on its way to a
	// Close; 0 when it is not closing.
	closing := make([]uint64, len(s.nodes))
	s.watch(func(n *simNode) {
		p := &plans[n.idx]
		if s.healed || !n.up {
			return
		}
		if c := &closing[n.idx]; *c != 0 && n.r.term > *c {
			*c = 0
			s.at(s.now, func() { s.closeDone(n, h) })
		}
		if n.r.role != roleLeader {
			return
		}
		if p.term != n.r.term {
			*p = simTermPlan{term: n.r.term, hand: s.rng.Float64() < h.each}
			if h.when == handoverLater {
				p.due = s.now + time.Duration(s.rng.Int64N(int64(3*n.cfg.Heartbeat)+1))
				s.at(p.due, func() { s.handOver(n, p, h, &closing[n.idx]) })
			}
		}
		due := false
		switch h.when {
		case handoverASAP:
			due = true
		case handoverLease:
			due = n.r.leaseUntil() > n.local(s.now)
		case handoverLater:
			due = s.now >= p.due
		}
		if p.hand && due && !p.pending {
			p.pending = true
			s.at(s.now, func() { p.pending = false; s.handOver(n, p, h, &closing[n.idx]) })
		}
	})
}

// handOver has leader n hand over now if it still leads the term of plan
// p; without a target yet it is tried again at n's next step. A Close
// sets *closing to the term until the process stops.
func (s *sim) handOver(n *simNode, p *simTermPlan, h simHandovers, closing *uint64) {
	if s.healed || !p.hand || !n.up || n.paused(s.now) || n.r.role != roleLeader || n.r.term != p.term {
		return
	}
	err := n.r.transferLeadership(n.local(s.now))
	if err != nil {
		return // nothing changed; tried again at its next step
	}
	isClose := s.rng.Float64() < h.close
	s.tracef("%s hands over at term %d (close: %v)", n.id, p.term, isClose)
	p.hand = false
	s.activated(n)
	if !isClose {
		return
	}
	term := p.term
	*closing = term
	s.at(n.realAt(s.now, n.local(s.now)+n.cfg.ElectionMin), func() {
		if *closing == term {
			*closing = 0
			s.closeDone(n, h)
		}
	})
}

// closeDone ends Close: the process of n stops, and a new one starts
// within h.restartIn.
func (s *sim) closeDone(n *simNode, h simHandovers) {
	if s.healed || !n.up {
		return
	}
	s.tracef("%s closed", n.id)
	s.crash(n)
	s.at(s.now+time.Duration(s.rng.Int64N(int64(h.restartIn)+1)), func() { s.restart(n) })
}
