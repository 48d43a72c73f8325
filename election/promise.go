package election

import "time"

// A pre-vote grant is a promise (issue 16: contested elections). Without
// it a voter granted every pre-vote it was asked for, so two successors
// whose campaigns overlapped (the second's timer fired while the first was
// saving its new term, or a busy host held both until they fired together)
// both passed their pre-votes, both raised the term and split the real
// votes: a retry pause lost, and a failover well past ElectionMin. Now a
// node gives its pre-vote for a term to one node at a time, as it does its
// vote, but only for promiseSpan and without saving it:
//
//   - it refuses a pre-vote for that term to any other node while the
//     promise binds;
//   - starting its own pre-vote is a promise to itself (campaign), which
//     the first refusal of that pre-vote ends (release); granting another
//     node afterwards takes its pre-vote for itself back (withdraw);
//   - it does not start its own campaign for that term for a while
//     (restraint) after it promised it to another node (tickRole).
//
// Two majorities share a voter, so at most one of two overlapping
// pre-votes can pass; which one is the order in which the voters heard
// them, the ranked one first in a failover. A grant again to the node
// promised does not extend the promise, and a promise ends before the
// shortest retry pause: two pre-candidates that refused each other (a
// 3-node cluster with one node down) find their promises ended when one
// of them tries again, so it passes, as a split vote's retry does; a node
// that keeps asking and losing cannot hold its voters for good. Safety is
// untouched: a promise only adds refusals of pre-votes and puts off
// campaigns, and neither a pre-vote nor the time a campaign starts was
// ever part of the safety argument (doc.go).

// promiseSpan is how long a pre-vote promise binds its voter: twice the
// SuccessionDelay, the time a granted successor needs to turn the grant
// into vote requests (a round trip and the save of its term), but less
// than the shortest retry pause (retryTimeout: Heartbeat/2), so that a
// retry never finds the promise of its own last try binding. Kept short,
// because a voter that promised refuses everyone else meanwhile: a peer
// that can send but not receive, whose pre-votes never pass, holds the
// voters it asks that long each time.
func (r *raft) promiseSpan() time.Duration {
	return min(2*r.cfg.SuccessionDelay, r.cfg.Heartbeat/2-1)
}

// restraint is how long a node that promised its pre-vote to another puts
// off its own campaign: an eighth of ElectionMin (37.5 ms at the
// defaults), at least promiseSpan. Longer than the voters' promise,
// because the granted successor may take that long to save its term on a
// busy disk before it sends its vote requests (the simulator's saves of
// up to 40 ms: TestSim_BusyHostFailover; with the promise's 20 ms, 249-257
// of 1000 such failovers per row were contested); meanwhile every node
// that granted it waits instead of standing itself. Not longer: a peer
// that can send but not receive, whose pre-votes never pass, holds the
// others back this long each time it asks (a quarter of ElectionMin put
// the failover at 1.31 and 2.27 ElectionMin at p99 with 1 of 5 and 2 of 7
// such peers, an eighth at 1.49 and 1.69, with slow saves contested
// alike; before promises, 1.06 and 1.09: TestSim_DeafSuccessors). It
// holds back only this node's own campaign, never a peer's, and ends as
// soon as the successor's vote request arrives (the node then votes, at
// the new term). A successor that died after its pre-vote costs the
// others at most this much. A ranked follower waits (rank-1)·
// SuccessionDelay more, as its slot does after the first's: the
// successors restrained by one grant whose slots passed meanwhile then
// campaign in their ranks' order, not all at its end, where they refused
// each other's pre-votes; a peer that could send but not receive, asking
// again, brought them together at every retry
// (TestPromise_RestrainedSuccessorsKeepTheirOrder).
func (r *raft) restraint() time.Duration {
	d := max(r.cfg.ElectionMin/8, r.promiseSpan())
	if r.rank > 1 {
		d += time.Duration(r.rank-1) * r.cfg.SuccessionDelay
	}
	return d
}

// promiseBinds reports whether a pre-vote promise for term binds at now.
func (r *raft) promiseBinds(now time.Duration, term uint64) bool {
	return r.promisedTo != "" && term == r.promisedTerm && term > r.term && now < r.promisedAt+r.promiseSpan()
}

// promisedElsewhere reports whether this node must refuse the pre-vote
// request m because it promised its pre-vote for m's term to another
// node, itself included.
func (r *raft) promisedElsewhere(now time.Duration, m Message) bool {
	return r.promiseBinds(now, m.Term) && r.promisedTo != m.From
}

// promise records that this node gives its pre-vote for term to node,
// unless a promise for that term already binds (then to the same node:
// it is not extended). A grant again to the peer it last promised that
// term, once that promise ended, binds again (promiseSpan) but does not
// restart the restraint: a peer that can send but not receive, whose
// pre-votes never pass, asks again at every retry; each ask restarted the
// restraint of every node that granted it, and held the failover at
// 1.8-2.9 ElectionMin at p99 (TestPromise_AGrantAgainDoesNotRestart).
// Binding nobody, the grant again let another pre-candidate whose retry
// overlapped pass on the same voters, and both raised the term
// (TestPromise_OverlappingRetriesOneCandidate). Its own pre-vote, at
// each new try, is a new promise to itself.
func (r *raft) promise(now time.Duration, node string, term uint64) {
	switch {
	case r.promiseBinds(now, term):
	case r.promisedAgain(node, term):
		r.promisedAt = now
	default:
		r.promisedTo, r.promisedTerm, r.promisedAt, r.restrainedAt = node, term, now, now
	}
}

// promisedAgain reports whether a grant of this node's pre-vote for term
// to node repeats the last promise it made to a peer, for a term above
// its own: it is remembered (the explorer encodes it) until the term is
// reached or another promise replaces it, and a grant again restarts the
// promise but not the restraint.
func (r *raft) promisedAgain(node string, term uint64) bool {
	return r.promisedPeer() && r.promisedTo == node && r.promisedTerm == term && term > r.term
}

// promisedPeer reports whether this node's last promise went to a peer,
// not to itself: only such a promise restrains it.
func (r *raft) promisedPeer() bool { return r.promisedTo != "" && r.promisedTo != r.id }

// boundUntil is when this node may campaign again for the next term: the
// end of its restraint if it promised that term's pre-vote to another
// node, and not before that promise ends (a grant again binds anew, the
// restraint runs from the first grant): standing while bound, it would
// count its own pre-vote as well as the one it gave. 0 (no wait) if it
// promised nobody else.
func (r *raft) boundUntil() time.Duration {
	if !r.promisedPeer() || r.promisedTerm != r.term+1 {
		return 0
	}
	return max(r.restrainedAt+r.restraint(), r.promisedAt+r.promiseSpan())
}

// bound reports whether this node's own campaign must wait at now: it
// promised its pre-vote for the next term to another node
// (boundUntil).
func (r *raft) bound(now time.Duration) bool { return now < r.boundUntil() }

// promiseMatters reports whether the promise can still change what this
// node does from now on: it binds, or its restraint has not ended, for a
// term above the node's own. Not only for the next term (bound): a grant
// for a term further up restrains the node once its term rises to the one
// below, without a new timeout (a TimeoutNow makes it a candidate there),
// and dropped, it merged states whose candidates retry at different
// instants (TestPromise_AnEndedGrantStillMattersWhileItMayRestrain). Once
// it does not matter, it never again changes what the node does: terms
// and clocks only grow and a new grant overwrites it; a heartbeat that
// raises the node's rank lengthens restraint() and can make it bound
// again, but that heartbeat also resets its election timer past any
// restraint, and TimeoutNow skips bound (found by a review at stop 25).
// So the explorer encodes it only while it matters.
func (r *raft) promiseMatters(now time.Duration) bool {
	restrains := r.promisedPeer() && r.promisedTerm > r.term && now < r.restrainedAt+r.restraint()
	return r.promiseBinds(now, r.promisedTerm) || restrains
}

// release ends this node's promise of its pre-vote to itself: a peer
// refused that pre-vote. The node cannot tell why (the peer stands too,
// heard from a leader, or its GrantVote refuses this node), and in the
// last case this node's pre-vote never passes: kept, its promise refused
// the one peer that could win the pre-vote this node's grant was needed
// for (3 nodes, one down, this one behind), at the failover when it was
// ranked first and, once both retry pauses had grown to ElectionMax, at
// every retry for good (TestAdversary_BehindNodeDoesNotHoldItsOwnPreVote).
// Two pre-candidates that start within a network delay of each other
// still refuse each other: each one's request arrives before the other's
// refusal.
func (r *raft) release() {
	if r.promisedTo == r.id {
		r.promisedTo = ""
	}
}

// withdraw takes back this node's pre-vote for itself when it grants its
// pre-vote for term to another node while it stands for that term (its
// promise to itself ended or was released): a node gives its pre-vote to
// one node, so that two majorities of pre-votes still share a voter. Its
// own pre-vote can then pass only on the grants of others.
func (r *raft) withdraw(term uint64) {
	if r.role == rolePreCandidate && term == r.term+1 {
		delete(r.granted, r.id)
	}
}

// answered counts the nodes that answered this node's campaign at its
// height, itself always included: what climb is decided on (campaign). A
// pre-candidate that withdrew its pre-vote for itself still stands at its
// height; counted out, its retry climbed after a peer beyond the term
// window although it and the peer it granted were a majority of 3 there
// (TestPromise_WithdrawingDoesNotClimb).
func (r *raft) answered() int {
	n := len(r.granted) + len(r.rejected)
	if !r.granted[r.id] {
		n++
	}
	return n
}
