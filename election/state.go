package election

// State is the role a node plays in the election.
type State uint8

// The states a node moves through. The numbering is part of the C ABI
// (graft_state) and never changes.
const (
	// StateFollower is the initial state: the node follows a leader, or
	// waits for one, and votes.
	StateFollower State = iota // follower
	// StateCandidate is a node that has raised its term and asks for votes.
	StateCandidate // candidate
	// StateLeader is a node elected for its term. It acts as leader only
	// while IsLeader reports true (the lease holds).
	StateLeader // leader
	// StateClosed is final: the node was closed and takes no part any more.
	StateClosed // closed
)

// State.String, generated into state_string.go from the line comments
// above, returns the lower-case name of the state ("leader"), or
// "State(n)" for a value outside the list.
//
//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=State -linecomment -output=state_string.go
