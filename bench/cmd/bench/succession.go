package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/graftlib/graft/bench/internal/cluster"
	"github.com/graftlib/graft/bench/internal/testbed"
)

// Issue 16's ranked succession as the harness sees it: graftnode started
// with -rank-poll-ms prints "RANK t=.. id=.. term=.. rank=.. successor=.."
// whenever its rank (as a follower) or its successor (as the leader)
// changes, and the pair-kill trials read these lines to kill a leader
// together with the follower it ranks first.

// rankWait bounds the wait for the followers' RANK lines after a leader is
// stable: ranks come with the leader's heartbeats (every 50 ms at the
// defaults), from the second round of a term on.
const rankWait = 2 * time.Second

// rankOf returns the rank node id last printed for term, if it printed one
// (0, a follower without a rank, counts as none).
func rankOf(b *testbed.Bed, id string, term uint64) (int, bool) {
	l, ok := lastOfTerm(b.Cluster, id, "RANK", term)
	if !ok {
		return 0, false
	}
	r, err := strconv.Atoi(l["rank"])
	return r, err == nil && r > 0
}

// victims returns the k nodes a failover trial kills: leader, then the
// followers of rank 1 .. k-1 in its term, by their RANK lines, waiting up
// to rankWait for them to be printed.
func victims(b *testbed.Bed, leader string, k int) ([]string, error) {
	if k <= 1 {
		return []string{leader}, nil
	}
	term := b.Node(leader).Term
	end := time.Now().Add(rankWait)
	for {
		vs := []string{leader}
		for r := 1; r < k; r++ {
			for _, id := range b.IDs() {
				if got, ok := rankOf(b, id, term); ok && got == r && id != leader {
					vs = append(vs, id)
					break
				}
			}
		}
		if len(vs) == k {
			return vs, nil
		}
		if time.Now().After(end) {
			return nil, fmt.Errorf("the followers of %s printed ranks 1..%d for term %d within %s only for %v (is graftnode run with -rank-poll-ms?)", leader, k-1, term, rankWait, vs[1:])
		}
		time.Sleep(5 * time.Millisecond) // polling period, as waitLines
	}
}

// waitLeaderNotIn waits for a node outside dead to report that it became
// leader at or after t (CLOCK_MONOTONIC ms).
func waitLeaderNotIn(b *testbed.Bed, t float64, dead []string, timeout time.Duration) (cluster.Event, error) {
	end := time.Now().Add(timeout)
	for {
		e, err := b.WaitLeader(t, dead[0], time.Until(end))
		if err != nil || !slices.Contains(dead, e.ID) {
			return e, err
		}
		t = e.T + 1e-6 // a victim's report from before its kill took effect: look past it
	}
}
