package graft

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/graftlib/graft/election"
)

// Config describes one node: its identity and peers, its state file, its
// TLS files, its timings and the callbacks that tell the program what
// happens. Cluster, ID, Listen, StatePath and the three TLS files are
// required; every other field has a default when left zero. Start validates
// the whole configuration, election and transport settings alike, and
// never modifies it.
type Config struct {
	// Cluster names the cluster; every message carries it and nodes of
	// different clusters never talk to each other.
	Cluster string
	// ID is this node's id, unique in the cluster and named by its
	// certificate. Ids use the characters A-Z a-z 0-9 . _ - (at most 253).
	ID string
	// Listen is the UDP "host:port" to bind, e.g. "0.0.0.0:7400", or
	// "127.0.0.1:0" for any free port (see Node.Addr).
	Listen string
	// Peers maps every other node's id to its UDP "host:port". Membership
	// is static. Empty means a single-node cluster, which elects itself.
	Peers map[string]string
	// StatePath is the file that keeps the term and vote across restarts
	// (created if missing; held locked while the node runs).
	StatePath string
	// CertFile, KeyFile and CAFile are PEM files: this node's certificate
	// and key, and the cluster's CA (see transport.GenerateCerts for
	// development certificates).
	CertFile, KeyFile, CAFile string

	// Heartbeat, ElectionMin and ElectionMax are the election's timings:
	// zero means election.DefaultHeartbeat, DefaultElectionMin and
	// DefaultElectionMax (50, 300 and 450 ms); see election.Config for the
	// rules they must follow. ElectionMin is also the lease's length.
	Heartbeat, ElectionMin, ElectionMax time.Duration
	// MaxClockDrift bounds the rate difference of any node's clock from
	// real time; the lease is shortened by it. Zero means 0.01 (1%).
	MaxClockDrift float64

	// Priority is this node's claim to the leadership; higher is
	// preferred, and zero means 1 (the default). A leader ranks its
	// followers as successors by priority (then by how recently each
	// answered), so that after its death they campaign in that order,
	// and hands the leadership over to a follower of higher priority than
	// its own once that follower has answered every heartbeat for a stable
	// period (5 x ElectionMax), at most once per such period. See
	// election.Config.Priority.
	Priority uint32
	// Witness makes the node vote and acknowledge heartbeats but never
	// campaign: it counts in every majority and never leads (Priority is
	// ignored). Two data sites and a witness at a third survive the loss of
	// any one site. A witness without Peers is an error: a cluster needs a
	// node that can lead.
	Witness bool
	// SuccessionDelay is the step between the ranked successors of a
	// silent leader: the follower of rank r campaigns ElectionMin +
	// (r-1) x SuccessionDelay after the last heartbeat it received. Zero
	// means election.DefaultSuccessionDelay, or less when many peers share
	// the election window; see election.Config.SuccessionDelay for the
	// rule it must follow.
	SuccessionDelay time.Duration

	// OnLease is called when this node starts to hold the lease (held
	// true) and when it stops (the deadline passed without renewal, a
	// step-down, a higher term, Close). This, not OnStateChange, is the
	// signal to start and stop leader work. Optional.
	OnLease func(held bool, lease Lease)
	// OnStateChange is called on every change of state, with the term at
	// which the new state began. Optional.
	OnStateChange func(from, to State, term uint64)
	// OnLeaderChange is called when the known leader changes; leader is ""
	// when none is known. Optional.
	OnLeaderChange func(leader string, term uint64)
	// OnError is called with problems the node cannot fix by itself (a
	// failing state file, a peer whose certificate is refused). Nil sends
	// them to Logger at warning level.
	OnError func(err error)
	// Logger receives the node's log lines: the election's ("node b became
	// leader at term 7") at their own level, the transport's (connections
	// made and lost) at debug level. Nil discards them.
	Logger *slog.Logger

	// CurrentPosition and GrantVote are the vote hooks (see
	// election.Config): a node may refuse its vote to a candidate whose
	// data is behind its own. Optional.
	CurrentPosition func() []byte
	GrantVote       func(position []byte) bool
}

// State is a node's role: StateFollower, StateCandidate, StateLeader or
// StateClosed.
type State = election.State

// The states of a node.
const (
	StateFollower  = election.StateFollower
	StateCandidate = election.StateCandidate
	StateLeader    = election.StateLeader
	StateClosed    = election.StateClosed
)

// Lease is a leadership lease: this node may act as leader, fencing its
// writes with Term, until Deadline (on the monotonic clock: compare it with
// time.Now, never with a wall-clock reading from elsewhere).
type Lease struct {
	// Term is the term of the leadership: the fencing token. It only grows.
	Term uint64
	// Deadline is the instant by which the leader must stop acting unless
	// the lease is renewed (a later Lease, or no OnLease loss).
	Deadline time.Time
}

// Remaining is the time left until the deadline, as seen now; zero or less
// means the lease has run out.
func (l Lease) Remaining() time.Duration { return time.Until(l.Deadline) }

// LeaseChange is one lease event, as sent on Node.LeaseChanges: Held true
// when the lease was acquired, false when it was lost.
type LeaseChange struct {
	Held  bool
	Lease Lease
	// At is the instant the node's core emitted the event (the step or
	// timer of the election that acquired or lost the lease; for the loss
	// at Close, the close), on the monotonic clock like Lease.Deadline:
	// time.Since(At) when it is read is how late the reader learnt of it.
	At time.Time
}

// electionConfig is the election's part of c, with the lease events sent to
// both the callback and the channel.
func (c *Config) electionConfig(changes func(LeaseChange)) election.Config {
	ec := election.DefaultConfig()
	ec.Cluster, ec.ID, ec.StatePath = c.Cluster, c.ID, c.StatePath
	for id := range c.Peers {
		ec.Peers = append(ec.Peers, id)
	}
	if c.Heartbeat != 0 {
		ec.Heartbeat = c.Heartbeat
	}
	if c.ElectionMin != 0 {
		ec.ElectionMin = c.ElectionMin
	}
	if c.ElectionMax != 0 {
		ec.ElectionMax = c.ElectionMax
	}
	ec.MaxClockDrift = c.MaxClockDrift
	ec.Priority, ec.Witness, ec.SuccessionDelay = c.Priority, c.Witness, c.SuccessionDelay
	ec.CurrentPosition, ec.GrantVote = c.CurrentPosition, c.GrantVote
	ec.OnStateChange, ec.OnLeaderChange = c.OnStateChange, c.OnLeaderChange
	onLease := c.OnLease
	ec.OnLease = func(held bool, l election.Lease) {
		lease := leaseOf(l)
		if onLease != nil {
			onLease(held, lease)
		}
		changes(LeaseChange{Held: held, Lease: lease})
	}
	lg := c.Logger
	ec.OnError = c.OnError
	if ec.OnError == nil && lg != nil {
		ec.OnError = func(err error) { lg.Warn(err.Error(), "node", c.ID) }
	}
	if lg != nil {
		ec.LogLevel = lowestEnabled(lg)
		ec.OnLog = func(level election.LogLevel, msg string) {
			lg.Log(context.Background(), slogLevel(level), msg, "node", c.ID)
		}
	}
	return ec
}

// validate checks what neither election.Config.Validate nor transport.New
// can see alone: the settings they share.
func (c *Config) validate() error {
	if _, ok := c.Peers[c.ID]; ok {
		return fmt.Errorf("graft: Peers lists this node's own id %q", c.ID)
	}
	for id, addr := range c.Peers {
		if addr == "" {
			return fmt.Errorf("graft: Peers[%q] is empty: want host:port", id)
		}
	}
	if c.Witness && len(c.Peers) == 0 {
		// The election cannot see the peers' settings; a lone witness is
		// the one cluster without a possible leader a node can see.
		return fmt.Errorf("graft: Witness without Peers: a cluster needs a node that can lead")
	}
	return nil
}

// leaseOf converts the election's lease, whose deadline is a reading of the
// process's monotonic clock, to a time.Time.
func leaseOf(l election.Lease) Lease {
	return Lease{Term: l.Term, Deadline: election.MonotonicAt(l.Deadline)}
}
