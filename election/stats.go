package election

import "time"

// Stats are a node's counters, for monitoring. Counters only grow.
type Stats struct {
	State  State
	Term   uint64
	Leader string // "" when unknown

	PreVotesStarted  uint64 // pre-vote rounds begun
	PreVotesLost     uint64 // pre-vote rounds a majority refused
	ElectionsStarted uint64 // real elections begun (the term raised)
	ElectionsWon     uint64
	LeaderChanges    uint64 // times a new (leader, term) became known
	StepDowns        uint64 // leaderships ended by check-quorum
	Transfers        uint64 // leaderships handed over (StepDown, Close, priority)
	StorageErrors    uint64 // failed saves of the term and vote
	CallbacksQueued  uint64 // callbacks waiting to run (a gauge, at most 256)
	// CallbacksDropped counts callbacks never run: coalesced away when the
	// queue was full (a slow consumer gets the latest state and leader, not
	// every step), or still queued when Close stopped the node.
	CallbacksDropped uint64

	// Rank is this follower's place in the succession as its leader last
	// told it (1 campaigns first when the leader goes silent); 0 when no
	// rank is known (no leader, a leader of an older term, a witness).
	Rank uint32
	// Successor is, on a leader, the follower it ranks first ("" when
	// none can lead, and on other nodes).
	Successor string
	// PriorityTakeovers counts the handovers this node made, as leader,
	// to a follower of higher priority.
	PriorityTakeovers uint64

	// Messages by kind (index with a MsgKind): handed to the transport,
	// received and accepted by the core, and dropped (refused by the
	// transport, inbox full, or invalid for the core).
	Sent     [NumMsgKinds]uint64
	Received [NumMsgKinds]uint64
	Dropped  [NumMsgKinds]uint64

	// SinceLeaderContact is the time since this node last heard from a
	// leader; zero on the leader itself, -1 if it never has.
	SinceLeaderContact time.Duration

	// CallbackDelayLast is how late the callback running now (or, between
	// callbacks, the last one run) started: the time from the moment it was
	// queued, right after the event, to the moment the callback goroutine
	// began it, by the node's Clock. A callback that reads Stats sees its
	// own delay. A slow callback delays the ones after it: this is where it
	// shows. Zero before the first callback.
	CallbackDelayLast time.Duration
	// CallbackDelayMax is the largest CallbackDelayLast so far (it only
	// grows).
	CallbackDelayMax time.Duration
}
