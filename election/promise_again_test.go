package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPromise_OverlappingRetriesOneCandidate: two successors whose
// campaigns overlap must not both pass their pre-votes (doc.go: two
// majorities share a voter), also when they are retries of a lost
// pre-vote for the same term. Seven nodes, the leader a dead. b and c
// (and d) stood together and lost: e and f granted b, g granted c, each
// too few. Their retries overlap: b's requests reach e, f and d first,
// c's reaches g first. The voters e and f, asked by b again, must bind
// themselves to b as they did at b's first try (the grant again may leave
// the restraint alone, not the promise): a grant that binds nobody lets c
// pass on the same voters, and both raise the term and split the votes
// (found by the final review of the promise: promisedAgain).
func TestPromise_OverlappingRetriesOneCandidate(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	voters := map[string]*testRaft{}
	for _, id := range []string{"d", "e", "f", "g"} {
		voters[id] = newTestRaft(t, id, ids, nil)
		voters[id].follow(0, "a", 1)
	}
	first := tMin + time.Millisecond // the refusal windows have ended
	for id, to := range map[string]string{"e": "b", "f": "b", "g": "c"} {
		require.True(t, voters[id].preVote(first, to, 2))
	}
	retry := first + tMax                     // both lost and waited an election timeout
	granted := map[string]int{"b": 1, "c": 1} // each its own pre-vote
	ask := func(now time.Duration, voter, from string) {
		if voters[voter].preVote(now, from, 2) {
			granted[from]++
		}
	}
	for _, v := range []string{"e", "f", "d"} {
		ask(retry, v, "b")
		ask(retry+time.Millisecond, v, "c")
	}
	ask(retry, "g", "c")
	ask(retry+time.Millisecond, "g", "b")
	quorum := len(ids)/2 + 1
	require.False(t, granted["b"] >= quorum && granted["c"] >= quorum,
		"both overlapping retries passed their pre-votes: %v", granted)
}
