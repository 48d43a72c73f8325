package election

import "time"

// A priority handover (succession.go: preferred) goes to a follower the
// leader sees as connected and responsive; it cannot see whether the
// voters will elect it. When they refuse it, for good (their GrantVote
// hooks: its data is behind), every leader handed over to it again each
// PriorityStablePeriod, and each handover cost an election: a node of
// priority 2 that the others' hooks refused, 3 nodes, left the cluster
// without a leader 13% of the time at the default stable period (23
// handovers a minute) and 44% at ElectionMax (found by the review of
// issue 16). So a node whose election on a handover a majority refused
// says it has no preference (priority 1 in its acknowledgements, so no
// handover is due to it) for PriorityStablePeriod, twice as long after
// each such loss, up to maxBackoff times; winning an election, or a new
// process, starts again from none.

// maxBackoff bounds the pause, in PriorityStablePeriods: 64, 2.4 minutes at
// the default timings, after which a node that caught up is handed
// leadership again.
const maxBackoff = 64

// backOff starts or doubles the pause after a handover's election that a
// majority refused.
func (r *raft) backOff(now time.Duration) {
	r.backoff = min(max(2*r.backoff, r.cfg.PriorityStablePeriod), maxBackoff*r.cfg.PriorityStablePeriod)
	r.backoffUntil = now + r.backoff
	r.logf(LogInfo, "node %s lost the election of a handover at term %d: no priority handover to it for %s", r.id, r.term, r.backoff)
}

// ackedPriority is the priority this node puts in an acknowledgement at
// now: 1 (none preferred) during a pause, its own otherwise.
func (r *raft) ackedPriority(now time.Duration) uint32 {
	if now < r.backoffUntil {
		return min(r.cfg.Priority, DefaultPriority)
	}
	return r.cfg.Priority
}
