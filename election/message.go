package election

// MsgKind names the kind of a Message. Messages come in request/response
// pairs, as in etcd-io/raft (MsgPreVote/MsgPreVoteResp).
type MsgKind uint8

// The message kinds. The numbering is part of the wire protocol and of the
// statistics arrays; it never changes, new kinds are appended.
const (
	// MsgPreVote asks whether the sender could win an election at Term
	// (its own term plus one) without raising anyone's term (thesis 9.6).
	MsgPreVote MsgKind = iota
	// MsgPreVoteResp answers MsgPreVote.
	MsgPreVoteResp
	// MsgVote asks for a vote for the sender at Term.
	MsgVote
	// MsgVoteResp answers MsgVote.
	MsgVoteResp
	// MsgHeartbeat asserts the sender's leadership at Term; Stamp is the
	// leader's clock when it was sent, echoed by the response.
	MsgHeartbeat
	// MsgHeartbeatResp acknowledges a heartbeat; it extends the leader's lease.
	MsgHeartbeatResp
	// MsgTimeoutNow tells the receiver to start an election at once: the
	// leader of Term is handing leadership over (thesis 3.10).
	MsgTimeoutNow

	// NumMsgKinds is the number of message kinds; arrays indexed by kind
	// (statistics) have this length.
	NumMsgKinds = int(MsgTimeoutNow) + 1
)

// MsgKind.String, generated into msgkind_string.go, returns the name of
// the kind ("MsgPreVote"), or "MsgKind(n)" for a value outside the list.
//
//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=MsgKind -output=msgkind_string.go

// Valid reports whether k is a known kind.
func (k MsgKind) Valid() bool { return int(k) < NumMsgKinds }

// IsResponse reports whether k answers a request.
func (k MsgKind) IsResponse() bool {
	return k == MsgPreVoteResp || k == MsgVoteResp || k == MsgHeartbeatResp
}

// Bounds on the terms a node accepts from a peer. A term is a counter
// that grows by one per election, so a legitimate peer is never near them;
// an authenticated but faulty or hostile peer must not make a node adopt a
// term it cannot leave (at 2^64-1, term+1 wraps to 0 and the term goes
// back). A message whose term exceeds MaxTerm, or the receiver's term by
// more than TermWindow, is dropped and counted, and its term never
// adopted; but a node whose campaign then fails for want of answers within
// the window moves TermWindow up towards such a term (raft.climb), so that
// honest nodes a hostile peer pushed apart meet again when they need each
// other, one window per message heard. So one message raises a node's term
// by at most TermWindow (TermWindow+1 when it is a TimeoutNow, which makes
// the node campaign), and a peer needs about 2^31 messages to push a node
// to MaxTerm. A node at MaxTerm follows but never campaigns: a cluster
// pushed all the way there elects no one again (only an operator who
// removes the state files repairs it).
const (
	// MaxTerm is the highest term a node adopts, saves or campaigns for.
	MaxTerm uint64 = 1 << 63
	// TermWindow is how far above its own term a node adopts a peer's term.
	TermWindow uint64 = 1 << 32
)

// Message is what nodes exchange. The transport carries it; From is set by
// the transport of the receiver from the authenticated peer identity, never
// trusted from the wire.
type Message struct {
	Kind MsgKind
	From string
	To   string
	// Term is the sender's term; for MsgPreVote (and a granting
	// MsgPreVoteResp) it is the proposed term, which receivers never adopt.
	Term uint64
	// Granted is the answer of a vote or pre-vote response. On a
	// MsgHeartbeatResp it marks an acknowledgement (the receiver follows
	// the sender at Term and restarted its refusal window); without it the
	// response only tells a stale leader of the newer Term.
	Granted bool
	// Transfer marks a vote request sent on a leader's MsgTimeoutNow: voters
	// grant it even while they hear from that (now former) leader.
	Transfer bool
	// Stamp is the leader's clock (nanoseconds) when it sent a heartbeat,
	// echoed unchanged by an acknowledging response (zero in a notice of a
	// newer term).
	Stamp int64
	// Position is the candidate's CurrentPosition, for the GrantVote hook.
	Position []byte
	// Rank is, on a MsgHeartbeat, the receiver's place in the leader's
	// succession: 1 campaigns first when the leader goes silent, 0 means
	// none (a witness, a peer whose priority the leader does not know
	// yet). At most MaxRank; a receiver ignores a rank above its number of
	// peers.
	Rank uint32
	// Priority is, on an acknowledging MsgHeartbeatResp, the sender's
	// Config.Priority; 0 means DefaultPriority, as in Config. The leader
	// ranks its successors and chooses priority handovers by it.
	Priority uint32
	// Witness marks, on an acknowledging MsgHeartbeatResp, a sender that
	// never campaigns (Config.Witness): never ranked, never handed over to.
	Witness bool
}

// MaxRank is the highest Rank a message may carry: far above any cluster
// Raft is run with, low enough that ElectionMin + (Rank-1)·SuccessionDelay
// cannot overflow.
const MaxRank = 1 << 16
