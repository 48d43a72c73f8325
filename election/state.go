package election

// State is the role a node plays in the election.
type State uint8

// The states a node moves through. The numbering is part of the C ABI
// (graft_state) and never changes.
const (
	// StateFollower is the initial state: the node follows a leader, or
	// waits for one, and votes.
	StateFollower State = iota
	// StateCandidate is a node that has raised its term and asks for votes.
	StateCandidate
	// StateLeader is a node elected for its term. It acts as leader only
	// while IsLeader reports true (the lease holds).
	StateLeader
	// StateClosed is final: the node was closed and takes no part any more.
	StateClosed
)

var stateNames = [...]string{"follower", "candidate", "leader", "closed"}

// String returns the lower-case name of the state ("leader").
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}
