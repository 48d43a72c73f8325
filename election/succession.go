package election

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Ranked succession, priority handover and witnesses (issue 16). The
// package doc ("Succession and priority") says what they do and why the
// lease stays safe; this file holds the rules.

// never is the election deadline of a witness: it never campaigns.
const never = time.Duration(math.MaxInt64)

// priority is this node's priority as its leader sees it: 0 for a witness.
func (r *raft) priority() uint32 {
	if r.cfg.Witness {
		return 0
	}
	return r.cfg.Priority
}

// setRank records this follower's rank in the succession (0: none known)
// and shows it in the statistics.
func (r *raft) setRank(rank uint32) {
	r.rank = rank
	r.stats.Rank = rank
}

// electionTimeout is how long a follower waits from now (its last contact
// with a leader, or the start of a wait) before it campaigns: never for a
// witness, unless a peer beyond the term window is known (then it waits to
// climb: noteAhead); ElectionMin + (rank-1)·SuccessionDelay for a follower
// its leader ranked; otherwise a random draw in [ElectionMin,
// ElectionMax]. Validate keeps the ranked waits below ElectionMax, so
// every wait lies in the interval the random draw covers.
func (r *raft) electionTimeout() time.Duration {
	switch {
	case r.cfg.Witness && r.ahead <= r.term:
		return never
	case r.cfg.Witness:
		return r.randomBetween(r.cfg.ElectionMin, r.cfg.ElectionMax)
	case r.rank > 0:
		return r.cfg.ElectionMin + time.Duration(r.rank-1)*r.cfg.SuccessionDelay
	}
	return r.randomBetween(r.cfg.ElectionMin, r.cfg.ElectionMax)
}

// acceptRank takes the rank a heartbeat of this node's leader carries. A
// rank beyond the number of peers cannot be meant (a faulty leader): it
// counts as none, so the random timeout applies.
func (r *raft) acceptRank(rank uint32) {
	if int(rank) > len(r.peers) {
		rank = 0
	}
	r.setRank(rank)
}

// fresh reports whether the leader's peer p acknowledged one of the
// heartbeats sent within the last 2 × Heartbeat before now: heartbeats
// leave at least Heartbeat apart, so such a peer answered one of the last
// two rounds.
func (r *raft) fresh(now time.Duration, p string) bool {
	s, ok := r.acked[p]
	return ok && now-s <= 2*r.cfg.Heartbeat
}

// succession returns, on a leader, its followers in the order they should
// take over: those that acknowledged one of the last two rounds first,
// then by priority (highest first), then by id. Witnesses, and peers whose
// priority the leader has not learnt yet (no acknowledgement this term), are
// left out. The order moves only when a peer's freshness does, so a
// heartbeat lost on its way rarely leaves two followers with the same rank
// (that costs a split vote, never safety).
func (r *raft) succession(now time.Duration) []string {
	var out []string
	for _, p := range r.peers {
		if r.prio[p] > 0 {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		fa, fb := r.fresh(now, a), r.fresh(now, b)
		if fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(r.prio[b], r.prio[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return out
}

// ackPriority is the priority an acknowledgement m says its sender has:
// 0 for a witness, DefaultPriority for a priority of 0.
func ackPriority(m Message) uint32 {
	switch {
	case m.Witness:
		return 0
	case m.Priority == 0:
		return DefaultPriority
	}
	return m.Priority
}

// noteAck records, on a leader, an acknowledgement from p of the heartbeat
// stamped s (newer than any before from p) with p's priority (ackPriority:
// 0 for a witness). streak[p] is
// the stamp that began p's unbroken run of acknowledged rounds: the run
// goes on when the previous acknowledgement was of the heartbeat just
// before (less than 2 × Heartbeat earlier: heartbeats leave at least
// Heartbeat apart, so a gap that long skipped one).
func (r *raft) noteAck(p string, s time.Duration, priority uint32) {
	prev, ok := r.acked[p]
	if !ok || s-prev >= 2*r.cfg.Heartbeat {
		r.streak[p] = s
	}
	r.acked[p] = s
	r.prio[p] = priority
}

// preferred returns, on a leader about to send a heartbeat at now, the
// follower it should hand leadership to for its priority, or "": one of
// strictly higher priority than the leader's, that acknowledged every
// round for at least PriorityStablePeriod, the last round included. The
// highest priority wins, then the lowest id. Since acknowledgements count
// only within the leader's term, a leader hands over no sooner than the
// stable period after its election, and priorities only rise from one
// handover to the next: never back and forth.
func (r *raft) preferred(now time.Duration) string {
	best := ""
	for _, p := range r.peers {
		pr := r.prio[p]
		if s, ok := r.acked[p]; pr <= r.priority() || !ok || s < r.heartbeatDue-r.cfg.Heartbeat {
			continue // not preferred, or missed the last round
		}
		if now-r.streak[p] < r.cfg.PriorityStablePeriod {
			continue
		}
		if best == "" || pr > r.prio[best] || pr == r.prio[best] && p < best {
			best = p
		}
	}
	return best
}

// deferPreVote holds a pre-vote request that this node would refuse only
// because it heard from a leader less than ElectionMin ago, when that
// refusal window ends within SuccessionDelay: it is answered then
// (answerDeferred), as if it had arrived then. A successor of rank 1
// campaigns ElectionMin after its own last heartbeat; the voters' windows
// end a little later or earlier (their heartbeat arrived later, their
// clock runs slower): a refusal would cost the candidate a retry pause,
// a short wait costs nothing. It reports whether m was held.
func (r *raft) deferPreVote(now time.Duration, m Message) bool {
	if r.cfg.DisableCheckQuorum || r.role == roleLeader || !r.hasContact || m.Term <= r.term {
		return false
	}
	end := r.leaderContact + r.cfg.ElectionMin
	if now >= end || end-now > r.cfg.SuccessionDelay {
		return false
	}
	r.deferred = slices.DeleteFunc(r.deferred, func(d Message) bool { return d.From == m.From })
	if len(r.deferred) == 0 || end < r.deferUntil {
		r.deferUntil = end
	}
	r.deferred = append(r.deferred, m)
	return true
}

// deferredDue is when the held pre-votes are answered: the end of the
// refusal window as it was when they came (never when none is held).
func (r *raft) deferredDue() time.Duration {
	if len(r.deferred) == 0 {
		return never
	}
	return r.deferUntil
}

// answerDeferred answers the held pre-votes once their time has come,
// each exactly as if it arrived now: refused if a heartbeat restarted the
// window meanwhile (the leader lives), unless that window too ends within
// SuccessionDelay.
func (r *raft) answerDeferred(now time.Duration) {
	if now < r.deferredDue() {
		return
	}
	held := r.deferred
	r.deferred = nil
	for _, m := range held {
		r.handlePreVote(now, m)
	}
}
